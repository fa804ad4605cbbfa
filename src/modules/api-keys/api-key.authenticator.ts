import type { FastifyRequest } from 'fastify';
import type { Authenticator } from '../../http/principal.js';
import type { Clock } from '../../platform/clock.js';
import type { BlindIndex } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import type { AccessService } from '../auth/access.service.js';
import { auditContextOf } from '../audit/audit.http.js';
import type { AuditRecorder } from '../audit/audit.recorder.js';
import type { ApiKeysRepo } from './api-keys.repo.js';
import { API_KEY_PATTERN, API_KEY_PREFIX, hashesOf, matchesHash } from './api-keys.service.js';

/** Last use is written at most this often per key, not on every request. */
export const LAST_USED_INTERVAL_MS = 60_000;

/** One answer for an unknown, malformed, revoked or expired key, and for an owner who may no longer use it. */
const invalidApiKey = () => new AppError(401, 'invalid_api_key', { detail: 'The API key is not valid.' });

/**
 * `X-API-Key: vutf_…`. The key is found by its clear lookup prefix and checked against the keyed hash
 * in constant time; what it may do is its scopes intersected with its owner's CURRENT permissions in
 * the key's organisation, so demoting, removing or disabling the owner shrinks or kills the key on
 * the next request.
 */
export function createApiKeyAuthenticator(deps: {
  db: Db;
  apiKeysRepo: Pick<ApiKeysRepo, 'findForAuthentication' | 'recordUse' | 'reindexSecret'>;
  blindIndex: BlindIndex;
  access: Pick<AccessService, 'resolve'>;
  clock: Clock;
  audit: Pick<AuditRecorder, 'recordNow'>;
}): Authenticator {
  /**
   * A refused key is an authentication event of its own (besides the request's `access.denied`),
   * named by its clear lookup prefix only, never by anything secret. Durable before the 401 leaves.
   */
  async function reject(request: FastifyRequest, lookupPrefix: string | null, reason: 'malformed' | 'unknown-or-revoked' | 'expired' | 'owner-inactive'): Promise<never> {
    await deps.audit.recordNow(auditContextOf(request), { action: 'auth.api-key.rejected', outcome: 'denied', resourceId: lookupPrefix, detail: { reason } });
    throw invalidApiKey();
  }

  return async (request) => {
    const header = request.headers['x-api-key'];
    // Like the bearer authenticator with other Authorization schemes, a value that is not one of our
    // keys is not claimed (another authenticator may own the header; with none, the answer is 401).
    // Anything that looks like ours and does not verify is refused.
    if (typeof header !== 'string' || !header.startsWith(API_KEY_PREFIX)) return undefined;
    const match = API_KEY_PATTERN.exec(header);
    if (!match?.[1]) return reject(request, null, 'malformed');
    const hashes = hashesOf(deps.blindIndex, header);
    const candidates = await deps.apiKeysRepo.findForAuthentication(deps.db, match[1]);
    const key = candidates.find((candidate) => matchesHash(candidate.secretHash, hashes));
    const now = deps.clock.now();
    if (!key) return reject(request, match[1], 'unknown-or-revoked');
    if (key.expiresAt && key.expiresAt.getTime() <= now.getTime()) return reject(request, match[1], 'expired');

    const access = await deps.access.resolve(key.userId, { tokenOrgId: key.orgId });
    // The owner left the organisation (or cannot sign in): the key acts for no one.
    if (!access || access.orgId !== key.orgId) return reject(request, match[1], 'owner-inactive');
    const held: ReadonlySet<string> = access.permissions;
    const permissions = access.mustChangePassword ? new Set<string>() : new Set(key.scopes.filter((scope) => held.has(scope)));

    // Indexed under an older BLIND_INDEX_KEY version (hashes[0] is the current one): re-index now (key rotation).
    if (!Buffer.from(key.secretHash).equals(hashes[0]!)) await deps.apiKeysRepo.reindexSecret(key.id, Buffer.from(key.secretHash), hashes[0]!);
    if (!key.lastUsedAt || now.getTime() - key.lastUsedAt.getTime() >= LAST_USED_INTERVAL_MS) {
      await deps.apiKeysRepo.recordUse(key.id, request.ip, now, LAST_USED_INTERVAL_MS);
    }
    return {
      type: 'api-key',
      id: key.id,
      userId: key.userId,
      orgId: key.orgId,
      permissions,
      ...(access.mustChangePassword ? { passwordChangeRequired: true } : {}),
    };
  };
}
