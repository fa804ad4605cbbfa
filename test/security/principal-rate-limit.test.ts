import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asPrincipal, createTestApp, createTestUser, type TestApp } from '../setup/test-app.js';

/** Per-user and per-key budgets (GCRA): reads and writes counted apart, one client never spends another's. */
const READS = 20;
const WRITES = 4;
const policyDir = mkdtempSync(path.join(tmpdir(), 'vutf-policy-'));
let t: TestApp;
let alice: Record<string, string>;
let bob: Record<string, string>;

beforeAll(async () => {
  const policyFile = path.join(policyDir, 'policy.yaml');
  writeFileSync(policyFile, `rateLimits:\n  perIp: { limit: 100000, windowSeconds: 60 }\n  read: { limit: ${READS}, windowSeconds: 60 }\n  write: { limit: ${WRITES}, windowSeconds: 60 }\n`);
  t = await createTestApp({ env: { POLICY_FILE: policyFile } });
  alice = asPrincipal(await createTestUser(t, 'alice.rl@example.test'), ['orgs:read', 'orgs:create']);
  bob = asPrincipal(await createTestUser(t, 'bob.rl@example.test'), ['orgs:read', 'orgs:create']);
});
afterAll(async () => {
  await t?.close();
  rmSync(policyDir, { recursive: true, force: true });
});

describe('per-principal rate limits', () => {
  it('[ASVS 2.4.1] accepts between L and 1.05·L reads in one window, then 429 with Retry-After; another user is unaffected', async () => {
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof t.app.inject>> | undefined;
    for (let index = 0; index < READS * 2; index++) {
      const response = await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: alice });
      statuses.push(response.statusCode);
      if (response.statusCode === 429) refused ??= response;
    }
    const accepted = statuses.filter((status) => status === 200).length;
    expect(accepted).toBeGreaterThanOrEqual(READS);
    expect(accepted).toBeLessThanOrEqual(Math.floor(READS * 1.05));
    expect(refused!.headers['retry-after']).toMatch(/^\d+$/);
    expect(refused!.headers['ratelimit-limit']).toBe(String(READS));
    expect((refused!.json() as { code: string }).code).toBe('rate_limited');
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: bob })).statusCode).toBe(200);
  });

  it('[ASVS 2.4.1] counts writes in their own budget', async () => {
    const carol = asPrincipal(await createTestUser(t, 'carol.rl@example.test'), ['orgs:read', 'orgs:create']);
    const statuses: number[] = [];
    for (let index = 0; index < WRITES + 3; index++) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/orgs',
        headers: { ...carol, 'content-type': 'application/json' },
        payload: { name: `Carol ${index}`, slug: `carol-rl-${index}` },
      });
      statuses.push(response.statusCode);
    }
    expect(statuses.filter((status) => status === 201)).toHaveLength(WRITES);
    expect(statuses.slice(WRITES).every((status) => status === 429)).toBe(true);
    // Her reads are a separate budget.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: carol })).statusCode).toBe(200);
  });
});
