import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEgressClient, type EgressClient, type EgressPolicy, type Resolver } from './egress-client.js';
import { isEgressError } from './egress-error.js';

let server: Server;
let port: number;
let connections = 0;

beforeAll(async () => {
  server = createServer((request, response) => {
    const delayMs = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
    setTimeout(() => response.end('ok'), delayMs);
  });
  server.keepAliveTimeout = 10_000;
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

// A name, not an IP literal: only names go through the connection's lookup, where the check runs.
const resolver: Resolver = () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
const policyOf = (allowPrivateNetworks: string[]): EgressPolicy => ({ allowPrivateNetworks, responseLimitBytes: 1024, timeoutMs: 5_000 });

function clientWith(policy: { current: EgressPolicy }, idleSocketMs?: number): EgressClient {
  return createEgressClient({ mode: 'server', policy: () => policy.current, resolve: resolver, ...(idleSocketMs ? { idleSocketMs } : {}) });
}

const get = (client: EgressClient, query = '') => client.request({ method: 'GET', url: `http://target.test:${port}/${query}` });

describe('egress connection pooling', () => {
  it('[ASVS 13.2.4] reuses one checked connection for consecutive exchanges under the same policy', async () => {
    const client = clientWith({ current: policyOf(['127.0.0.0/8']) });
    const before = connections;
    for (let index = 0; index < 5; index += 1) expect((await get(client)).status).toBe(200);
    expect(connections - before).toBe(1);
    client.close();
  });

  it('[ASVS 13.2.4] never reuses a pooled socket after the policy narrowed: the next exchange is checked and refused', async () => {
    const policy = { current: policyOf(['127.0.0.0/8']) };
    const client = clientWith(policy);
    expect((await get(client)).status).toBe(200);
    policy.current = policyOf([]);
    const refused = await get(client).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isEgressError(refused) && refused.code).toBe('egress_denied_address');
    // Widened again: a new connection under the new policy, checked in its lookup.
    const before = connections;
    policy.current = policyOf(['127.0.0.1/32']);
    expect((await get(client)).status).toBe(200);
    expect(connections - before).toBe(1);
    client.close();
  });

  it('closes an idle socket after idleSocketMs, but never times out a slow answer on a reused socket', async () => {
    const client = clientWith({ current: policyOf(['127.0.0.0/8']) }, 100);
    const before = connections;
    expect((await get(client)).status).toBe(200);
    // Reused at once, and the answer takes longer than the idle limit.
    expect((await get(client, '?delay=300')).status).toBe(200);
    expect(connections - before).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await get(client)).status).toBe(200);
    expect(connections - before).toBe(2);
    client.close();
  });
});
