import { createHash, timingSafeEqual } from 'node:crypto';
import type { Authenticator, Principal } from '../../http/principal.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The monitoring credential: reads health details and metrics, nothing else. */
export function createMetricsTokenAuthenticator(token: string | undefined): Authenticator {
  if (!token) return () => Promise.resolve(undefined);
  const expected = digest(token);
  const principal: Principal = { type: 'metrics', id: 'metrics', permissions: new Set(['metrics:read', 'health:details']) };
  return (request) => {
    const header = request.headers.authorization;
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return Promise.resolve(undefined);
    // Compare digests so the comparison is constant-time whatever the presented length.
    return Promise.resolve(timingSafeEqual(digest(header.slice(7)), expected) ? principal : undefined);
  };
}
