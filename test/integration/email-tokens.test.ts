import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { createTestApp, createTestUser, type TestApp } from '../setup/test-app.js';

/**
 * Single-use mailed tokens (invitations, resets, registration confirmations) on the real database:
 * stored as digests, used at most once even under concurrency, dead after expiry or revocation.
 */

const clock = createManualClock(new Date());
let t: TestApp;
let userId: string;

const tokens = () => t.container.services.emailTokens;
const issue = (email: string, ttlSeconds = 900) =>
  t.container.db.transaction().execute((tx) => tokens().issue(tx, { purpose: 'password-reset', email, userId, ttlSeconds }));
const consume = (token: string, purpose: 'password-reset' | 'invitation' = 'password-reset') =>
  t.container.db.transaction().execute((tx) => tokens().consume(tx, purpose, token, userId));

beforeAll(async () => {
  t = await createTestApp({ overrides: { clock } });
  userId = await createTestUser(t, 'tokens@example.test');
});

afterAll(async () => {
  await t?.close();
});

describe('email tokens', () => {
  it('[ASVS 6.4.1] issues 256-bit tokens and stores only their digest and an encrypted recipient', async () => {
    const issued = await issue('Tokens@Example.test');
    expect(issued.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = await t.container.db.selectFrom('emailTokens').selectAll().where('id', '=', issued.id).executeTakeFirstOrThrow();
    const stored = Buffer.concat([row.tokenHash, row.email, row.emailIndex]);
    expect(stored.includes(Buffer.from(issued.token))).toBe(false);
    expect(stored.includes(Buffer.from('example.test'))).toBe(false);
    expect(row.tokenHash).toHaveLength(32);
  });

  it('[ASVS 6.4.1] a token works once, for its own purpose only', async () => {
    const { token } = await issue('tokens@example.test');
    expect(await consume(token, 'invitation')).toBeUndefined();
    const used = await consume(token);
    expect(used).toMatchObject({ purpose: 'password-reset', email: 'tokens@example.test', userId, usedBy: userId });
    expect(await consume(token)).toBeUndefined();
    expect(await tokens().peek('password-reset', token)).toBeUndefined();
  });

  it('[ASVS 6.4.1] of concurrent uses of one token exactly one succeeds', async () => {
    const { token } = await issue('tokens@example.test');
    const results = await Promise.all(Array.from({ length: 6 }, () => consume(token)));
    expect(results.filter((result) => result !== undefined)).toHaveLength(1);
  });

  it('[ASVS 6.4.1] refuses an expired token and a malformed one', async () => {
    const { token } = await issue('tokens@example.test', 900);
    clock.advance(900_000);
    expect(await tokens().peek('password-reset', token)).toBeUndefined();
    expect(await consume(token)).toBeUndefined();
    expect(await consume('short')).toBeUndefined();
    expect(await consume(`${'A'.repeat(42)}=`)).toBeUndefined();
  });

  it('revokes every open token of a purpose sent to an email, whatever its case', async () => {
    const first = await issue('revoke-me@example.test');
    const second = await issue('revoke-me@example.test');
    const other = await issue('someone-else@example.test');
    const revoked = await t.container.db
      .transaction()
      .execute((tx) => tokens().revoke(tx, 'password-reset', { email: 'REVOKE-ME@example.TEST' }, null));
    expect(revoked).toBe(2);
    expect(await consume(first.token)).toBeUndefined();
    expect(await consume(second.token)).toBeUndefined();
    expect(await consume(other.token)).toBeDefined();
  });
});
