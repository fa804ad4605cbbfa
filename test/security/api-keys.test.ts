import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.js';
import type { ApiKeyView, NewApiKeyView } from '../../src/modules/api-keys/api-keys.service.js';
import { BOOTSTRAP_ADMIN, createTestApp, createTestUser, type TestApp } from '../setup/test-app.js';

/**
 * API keys end to end (issue 3 item 6) through app.inject on the built app: shown once, stored
 * hashed, scoped to the creator's current permissions, revocable, rotatable, expiring, tenant-bound,
 * and never replayed through Idempotency-Key. Runs on embedded PGlite, and on PostgreSQL + Redis
 * when DATABASE_URL/REDIS_URL are set.
 */

type Response = Awaited<ReturnType<TestApp['app']['inject']>>;
type NewKey = NewApiKeyView;
type KeyView = ApiKeyView;

const { email: ROOT_EMAIL, password: ROOT_PASSWORD } = BOOTSTRAP_ADMIN;
const MEMBER_EMAIL = 'member@example.test';
const MEMBER_PASSWORD = 'another long and unusual passphrase 97';
const json = { 'content-type': 'application/json' };

let t: TestApp;
let rootToken: string;
let memberToken: string;
let memberId: string;
let defaultOrgId: string;

const login = async (email: string, password: string) => {
  const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email, password } });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ accessToken: string }>().accessToken;
};

const bearer = (token: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...extra });
const withKey = (key: string) => ({ 'x-api-key': key });

const createKey = (token: string, payload: Record<string, unknown>, extra: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { ...json, ...bearer(token, extra) }, payload });

const newKey = async (token: string, payload: Record<string, unknown>) => {
  const response = await createKey(token, payload);
  expect(response.statusCode, response.body).toBe(201);
  return response.json<NewKey>();
};

const listOrgs = (headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
  t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers, remoteAddress });

const listKeys = (headers: Record<string, string>) => t.app.inject({ method: 'GET', url: '/api/v1/api-keys?limit=100', headers });

const expectInvalidKey = (response: Response) => {
  expect(response.statusCode, response.body).toBe(401);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.json<{ code: string }>().code).toBe('invalid_api_key');
};

beforeAll(async () => {
  t = await createTestApp();
  const org = await sql<{ id: string }>`select id from organisations where slug = 'default'`.execute(t.container.db);
  defaultOrgId = org.rows[0]!.id;
  // A red-teamer of the default organisation with a password, to test a creator with fewer permissions.
  memberId = await createTestUser(t, MEMBER_EMAIL);
  const passwordHash = await t.container.passwordHasher.hash(MEMBER_PASSWORD);
  await sql`update users set password_hash = ${passwordHash} where id = ${memberId}`.execute(t.container.db);
  await sql`insert into memberships (id, org_id, user_id, role) values (${newId()}, ${defaultOrgId}, ${memberId}, 'red-teamer')`.execute(t.container.db);
  rootToken = await login(ROOT_EMAIL, ROOT_PASSWORD);
  memberToken = await login(MEMBER_EMAIL, MEMBER_PASSWORD);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('creating an API key', () => {
  it('V11.5.1 V7.2.3 the key is vutf_ + at least 43 base64url characters from a CSPRNG, and every key differs', async () => {
    const a = await newKey(rootToken, { name: 'ci', scopes: ['orgs:read'] });
    const b = await newKey(rootToken, { name: 'ci', scopes: ['orgs:read'] });
    expect(a.key).toMatch(/^vutf_[A-Za-z0-9_-]{43,}$/);
    expect(a.key.length - 'vutf_'.length).toBeGreaterThanOrEqual(43);
    expect(a.key).not.toBe(b.key);
    expect(a.key.startsWith(a.prefix)).toBe(true);
    expect(a.scopes).toEqual(['orgs:read']);
    expect(a.expiresAt).toBeNull();
  });

  it('V13.3.1 V14.2.4 the key is shown once: never in the list, and not in plaintext in the database', async () => {
    const created = await newKey(rootToken, { name: '  Deploy bot  ', scopes: ['orgs:read', 'api-keys:read'] });
    expect(created.name).toBe('Deploy bot');
    const secretPart = created.key.slice(created.prefix.length);

    const list = await listKeys(bearer(rootToken));
    expect(list.statusCode, list.body).toBe(200);
    expect(list.body).not.toContain(created.key);
    expect(list.body).not.toContain(secretPart);
    const listed = list.json<{ items: KeyView[] }>().items.find((item) => item.id === created.id);
    expect(listed).toMatchObject({ name: 'Deploy bot', prefix: created.prefix, scopes: ['api-keys:read', 'orgs:read'], revokedAt: null });
    expect(listed).not.toHaveProperty('key');

    // Use it once, so last_used_ip is filled too, then read the raw row.
    expect((await listOrgs(withKey(created.key), '203.0.113.7')).statusCode).toBe(200);
    const raw = await sql<Record<string, unknown>>`select * from api_keys where id = ${created.id}`.execute(t.container.db);
    const row = raw.rows[0]!;
    const dump = JSON.stringify(row, (_key, value: unknown) =>
      value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' ? Buffer.from((value as { data: number[] }).data).toString('latin1') : value,
    );
    expect(dump).not.toContain(created.key);
    expect(dump).not.toContain(secretPart);
    expect(dump).not.toContain('203.0.113.7');
    expect(Buffer.isBuffer(row.secret_hash ?? row.secretHash)).toBe(true);
  });

  it('V8.2.1 V8.3.1 scopes outside the creator’s current permissions, or self:*, are refused with 422 naming the scope', async () => {
    // The red-teamer holds api-keys:create but not audit:read; nobody holds raw-content:read by role.
    for (const [token, scope] of [
      [memberToken, 'audit:read'],
      [memberToken, 'platform:users:manage'],
      [rootToken, 'raw-content:read'],
      [rootToken, 'self:password'],
      [rootToken, 'no-such:permission'],
    ] as const) {
      const response = await createKey(token, { name: 'too much', scopes: ['orgs:read', scope] });
      expect(response.statusCode, `${scope}: ${response.body}`).toBe(422);
      expect(response.body).toContain(scope);
    }
    // The super-admin creator holds platform permissions, so may give them.
    expect((await createKey(rootToken, { name: 'platform', scopes: ['platform:users:manage'] })).statusCode).toBe(201);
    // An empty scope list and a past expiry are refused too.
    expect((await createKey(rootToken, { name: 'none', scopes: [] })).statusCode).toBe(422);
    expect((await createKey(rootToken, { name: 'past', scopes: ['orgs:read'], expiresAt: new Date(Date.now() - 60_000).toISOString() })).statusCode).toBe(422);
  });

  it('V14.2.1 V16.5.1 an Idempotency-Key replay of POST /api-keys never returns the key again (409)', async () => {
    const headers = { 'idempotency-key': `api-key-${newId()}` };
    const first = await createKey(rootToken, { name: 'idempotent', scopes: ['orgs:read'] }, headers);
    expect(first.statusCode, first.body).toBe(201);
    const { key } = first.json<NewKey>();
    const replay = await createKey(rootToken, { name: 'idempotent', scopes: ['orgs:read'] }, headers);
    expect(replay.statusCode, replay.body).toBe(409);
    expect(replay.json<{ code: string }>().code).toBe('idempotency_conflict');
    expect(replay.body).not.toContain(key);
    const stored = await t.container.db.selectFrom('idempotencyRecords').select('responseBody').where('key', '=', headers['idempotency-key']).execute();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.responseBody).toBeNull();
  });

  it('V8.2.1 an API key cannot mint further keys (no lifetime laundering)', async () => {
    const created = await newKey(rootToken, { name: 'minting', scopes: ['api-keys:create', 'orgs:read'] });
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { ...json, ...withKey(created.key) }, payload: { name: 'child', scopes: ['orgs:read'] } });
    expect(response.statusCode, response.body).toBe(403);
  });
});

describe('authenticating with X-API-Key', () => {
  it('V7.2.1 a key authenticates GET /api/v1/orgs and records last use (time and IP) at most once a minute', async () => {
    const created = await newKey(rootToken, { name: 'reader', scopes: ['orgs:read'] });
    const response = await listOrgs(withKey(created.key), '198.51.100.20');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<{ items: Array<{ id: string }> }>().items.map((org) => org.id)).toContain(defaultOrgId);

    const first = (await listKeys(bearer(rootToken))).json<{ items: KeyView[] }>().items.find((item) => item.id === created.id)!;
    expect(first.lastUsedAt).not.toBeNull();
    expect(first.lastUsedIp).toBe('198.51.100.20');
    // A second use within the minute writes nothing.
    expect((await listOrgs(withKey(created.key), '198.51.100.21')).statusCode).toBe(200);
    const second = (await listKeys(bearer(rootToken))).json<{ items: KeyView[] }>().items.find((item) => item.id === created.id)!;
    expect(second.lastUsedAt).toBe(first.lastUsedAt);
    expect(second.lastUsedIp).toBe('198.51.100.20');
  });

  it('V8.2.1 scopes limit what the key can do: 403 outside them', async () => {
    const created = await newKey(rootToken, { name: 'narrow', scopes: ['orgs:read'] });
    expect((await listOrgs(withKey(created.key))).statusCode).toBe(200);
    const outside = await listKeys(withKey(created.key));
    expect(outside.statusCode, outside.body).toBe(403);
    // Not even the owner's own account: self:* is never part of a key.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: withKey(created.key) })).statusCode).toBe(403);
  });

  it('V8.2.1 V7.4.2 the key never does more than its creator may now: demoting the creator shrinks it, removing them kills it', async () => {
    const created = await newKey(memberToken, { name: 'member key', scopes: ['orgs:read', 'api-keys:read'] });
    expect((await listKeys(withKey(created.key))).statusCode).toBe(200);

    await sql`update memberships set role = 'viewer' where user_id = ${memberId} and org_id = ${defaultOrgId}`.execute(t.container.db);
    await t.container.services.access.invalidate(memberId);
    expect((await listKeys(withKey(created.key))).statusCode).toBe(403);
    expect((await listOrgs(withKey(created.key))).statusCode).toBe(200);

    await sql`update memberships set deleted_at = now() where user_id = ${memberId} and org_id = ${defaultOrgId}`.execute(t.container.db);
    await t.container.services.access.invalidate(memberId);
    expectInvalidKey(await listOrgs(withKey(created.key)));

    await sql`update memberships set deleted_at = null, role = 'red-teamer' where user_id = ${memberId} and org_id = ${defaultOrgId}`.execute(t.container.db);
    await t.container.services.access.invalidate(memberId);
    expect((await listKeys(withKey(created.key))).statusCode).toBe(200);
  });

  it('V7.2.1 V16.5.1 unknown, malformed and tampered keys all get the same 401 invalid_api_key', async () => {
    const created = await newKey(rootToken, { name: 'tamper', scopes: ['orgs:read'] });
    const last = created.key.at(-1) === 'A' ? 'B' : 'A';
    const responses = [
      await listOrgs(withKey(`${created.key.slice(0, -1)}${last}`)),
      await listOrgs(withKey(`vutf_${'A'.repeat(55)}`)),
      await listOrgs(withKey('vutf_short')),
      await listOrgs(withKey(`${created.key}x`)),
    ];
    for (const response of responses) expectInvalidKey(response);
    // A value that is not a vutf_ key is not claimed; with no other credential the request is still 401.
    expect((await listOrgs(withKey('not-a-key'))).statusCode).toBe(401);
    const bodies = responses.map((response) => {
      const { detail, code, status, title } = response.json<{ detail: string; code: string; status: number; title: string }>();
      return { detail, code, status, title };
    });
    expect(new Set(bodies.map((body) => JSON.stringify(body))).size).toBe(1);
  });
});

describe('revoking, expiring and rotating', () => {
  it('V7.4.1 V6.5.6 a revoked key fails with 401 on the next request', async () => {
    const created = await newKey(rootToken, { name: 'to revoke', scopes: ['orgs:read'] });
    expect((await listOrgs(withKey(created.key))).statusCode).toBe(200);
    const revoked = await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${created.id}`, headers: bearer(rootToken) });
    expect(revoked.statusCode, revoked.body).toBe(204);
    expectInvalidKey(await listOrgs(withKey(created.key)));
    const listed = (await listKeys(bearer(rootToken))).json<{ items: KeyView[] }>().items.find((item) => item.id === created.id)!;
    expect(listed.revokedAt).not.toBeNull();
    // Revoking again is a no-op.
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${created.id}`, headers: bearer(rootToken) })).statusCode).toBe(204);
  });

  it('V7.4.1 V13.3.4 an expired key fails with 401 on the next request', async () => {
    const created = await newKey(rootToken, { name: 'short-lived', scopes: ['orgs:read'], expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    expect(created.expiresAt).not.toBeNull();
    expect((await listOrgs(withKey(created.key))).statusCode).toBe(200);
    await sql`update api_keys set expires_at = now() - interval '1 second' where id = ${created.id}`.execute(t.container.db);
    expectInvalidKey(await listOrgs(withKey(created.key)));
  });

  it('V13.3.4 V7.4.1 rotate: the old key fails with 401, the new one works with the same name, scopes and expiry', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const created = await newKey(rootToken, { name: 'rotating', scopes: ['orgs:read', 'api-keys:read'], expiresAt });
    const rotated = await t.app.inject({ method: 'POST', url: `/api/v1/api-keys/${created.id}/rotate`, headers: bearer(rootToken) });
    expect(rotated.statusCode, rotated.body).toBe(201);
    const next = rotated.json<NewKey>();
    expect(next.id).not.toBe(created.id);
    expect(next.key).not.toBe(created.key);
    expect(next.key).toMatch(/^vutf_[A-Za-z0-9_-]{43,}$/);
    expect({ name: next.name, scopes: next.scopes, expiresAt: next.expiresAt }).toEqual({ name: created.name, scopes: created.scopes, expiresAt: created.expiresAt });

    expectInvalidKey(await listOrgs(withKey(created.key)));
    expect((await listOrgs(withKey(next.key))).statusCode).toBe(200);
    expect((await listKeys(withKey(next.key))).statusCode).toBe(200);
    // The old key cannot be rotated again.
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/api-keys/${created.id}/rotate`, headers: bearer(rootToken) })).statusCode).toBe(409);
  });

  it('V8.4.1 V8.2.2 another organisation’s key id answers 404 on DELETE and rotate, and is absent from the list', async () => {
    const org = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...json, ...bearer(rootToken) }, payload: { name: 'Other', slug: `other-${Date.now()}` } });
    expect(org.statusCode, org.body).toBe(201);
    const otherOrgId = org.json<{ id: string }>().id;
    // The creator's new membership applies at once (the route clears their cached grants).
    const foreign = await createKey(rootToken, { name: 'foreign', scopes: ['orgs:read'] }, { 'x-organization-id': otherOrgId });
    expect(foreign.statusCode, foreign.body).toBe(201);
    const { id, key } = foreign.json<NewKey>();

    // The member (api-keys:revoke and api-keys:create in the default organisation) cannot touch it.
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${id}`, headers: bearer(memberToken) })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/api-keys/${id}/rotate`, headers: bearer(memberToken) })).statusCode).toBe(404);
    expect((await listKeys(bearer(memberToken))).json<{ items: KeyView[] }>().items.map((item) => item.id)).not.toContain(id);
    // Nor can the root acting in the default organisation; the key still works.
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${id}`, headers: bearer(rootToken) })).statusCode).toBe(404);
    expect((await listOrgs(withKey(key))).statusCode).toBe(200);
    // An unknown id is the same 404.
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${newId()}`, headers: bearer(rootToken) })).statusCode).toBe(404);
  });
});
