import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createTestUser, asPrincipal, type TestApp } from '../setup/test-app.js';

/**
 * Organisations exercise the base every module builds on: optimistic locking (412/428/409),
 * soft delete, live-only uniqueness, cursor pagination, Idempotency-Key and tenant 404s.
 */
let t: TestApp;
const json = { 'content-type': 'application/json' };
const ALL = ['orgs:create', 'orgs:read', 'orgs:update', 'orgs:delete'];
let aliceId: string;
let alice: Record<string, string>;
let bob: Record<string, string>;
let carol: Record<string, string>;

const create = async (who: Record<string, string>, name: string, slug: string, extra: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...json, ...who, ...extra }, payload: { name, slug } });

beforeAll(async () => {
  t = await createTestApp();
  aliceId = await createTestUser(t, 'alice@example.test');
  alice = asPrincipal(aliceId, ALL);
  bob = asPrincipal(await createTestUser(t, 'bob@example.test'), ALL);
  carol = asPrincipal(await createTestUser(t, 'carol@example.test'), ALL);
});
afterAll(async () => {
  await t?.close();
});

describe('create and read', () => {
  it('creates with 201, Location and ETag, normalising the name (NFKC)', async () => {
    const response = await create(alice, '  Ｒｅｄ Team  ', 'red-team');
    expect(response.statusCode).toBe(201);
    const org = response.json() as { id: string; name: string; version: number };
    expect(org.name).toBe('Red Team');
    expect(org.version).toBe(1);
    expect(response.headers.location).toBe(`/api/v1/orgs/${org.id}`);
    expect(response.headers.etag).toBe('"v1"');
    const read = await t.app.inject({ method: 'GET', url: `/api/v1/orgs/${org.id}`, headers: alice });
    expect(read.statusCode).toBe(200);
    expect(read.headers.etag).toBe('"v1"');
  });

  it("[ASVS 8.2.2] answers 404, never 403, for another organisation's resource", async () => {
    const org = (await create(alice, 'Private', 'private-a')).json() as { id: string };
    for (const request of [
      { method: 'GET' as const, url: `/api/v1/orgs/${org.id}`, headers: bob },
      { method: 'PATCH' as const, url: `/api/v1/orgs/${org.id}`, headers: { ...bob, ...json, 'if-match': '"v1"' }, payload: { name: 'Mine now' } },
    ]) {
      const response = await t.app.inject(request);
      expect(response.statusCode).toBe(404);
    }
  });

  it('refuses a duplicate slug among live organisations with 409', async () => {
    expect((await create(alice, 'One', 'dupe')).statusCode).toBe(201);
    const second = await create(bob, 'Two', 'dupe');
    expect(second.statusCode).toBe(409);
    expect((second.json() as { code: string }).code).toBe('slug_taken');
  });
});

describe('optimistic locking', () => {
  it('428 without If-Match or version, 412 for a stale If-Match, 409 for a stale body version', async () => {
    const org = (await create(alice, 'Locked', 'locked')).json() as { id: string };
    const url = `/api/v1/orgs/${org.id}`;
    const none = await t.app.inject({ method: 'PATCH', url, headers: { ...alice, ...json }, payload: { name: 'A' } });
    expect(none.statusCode).toBe(428);
    const fresh = await t.app.inject({ method: 'PATCH', url, headers: { ...alice, ...json, 'if-match': '"v1"' }, payload: { name: 'B' } });
    expect(fresh.statusCode).toBe(200);
    expect(fresh.headers.etag).toBe('"v2"');
    const staleHeader = await t.app.inject({ method: 'PATCH', url, headers: { ...alice, ...json, 'if-match': '"v1"' }, payload: { name: 'C' } });
    expect(staleHeader.statusCode).toBe(412);
    const staleBody = await t.app.inject({ method: 'PATCH', url, headers: { ...alice, ...json }, payload: { name: 'C', version: 1 } });
    expect(staleBody.statusCode).toBe(409);
    expect((staleBody.json() as { code: string }).code).toBe('version_conflict');
    const current = await t.app.inject({ method: 'GET', url, headers: alice });
    expect((current.json() as { name: string; version: number })).toMatchObject({ name: 'B', version: 2 });
  });

  it('two concurrent updates of one version: exactly one wins, the other is told, nothing is lost silently', async () => {
    const org = (await create(alice, 'Race', 'race')).json() as { id: string };
    const url = `/api/v1/orgs/${org.id}`;
    const results = await Promise.all(
      ['First', 'Second', 'Third', 'Fourth'].map((name) =>
        t.app.inject({ method: 'PATCH', url, headers: { ...alice, ...json, 'if-match': '"v1"' }, payload: { name } }),
      ),
    );
    const statuses = results.map((response) => response.statusCode).sort();
    expect(statuses).toEqual([200, 412, 412, 412]);
    const winner = results.find((response) => response.statusCode === 200)!.json() as { name: string };
    const current = (await t.app.inject({ method: 'GET', url, headers: alice })).json() as { name: string; version: number };
    expect(current).toMatchObject({ name: winner.name, version: 2 });
  });
});

describe('soft delete', () => {
  it('hides a deleted organisation from reads and lists and frees its slug', async () => {
    const org = (await create(alice, 'Doomed', 'doomed')).json() as { id: string };
    const url = `/api/v1/orgs/${org.id}`;
    const gone = await t.app.inject({ method: 'DELETE', url, headers: { ...alice, 'if-match': '"v1"' } });
    expect(gone.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url, headers: alice })).statusCode).toBe(404);
    const again = await t.app.inject({ method: 'DELETE', url, headers: { ...alice, 'if-match': '"v2"' } });
    expect(again.statusCode).toBe(404);
    const list = (await t.app.inject({ method: 'GET', url: '/api/v1/orgs?limit=100', headers: alice })).json() as { items: Array<{ id: string }> };
    expect(list.items.map((item) => item.id)).not.toContain(org.id);
    expect((await create(alice, 'Reborn', 'doomed')).statusCode).toBe(201);
    // The row is still there for audit and retention: soft, not hard, delete.
    const row = await t.container.db.selectFrom('organisations').select(['deletedAt', 'deletedBy']).where('id', '=', org.id).executeTakeFirstOrThrow();
    expect(row.deletedAt).toBeInstanceOf(Date);
    expect(row.deletedBy).toBe(aliceId);
  });
});

describe('cursor pagination', () => {
  it('walks every organisation exactly once, in order, with opaque cursors', async () => {
    const created: string[] = [];
    for (let index = 0; index < 7; index++) created.push(((await create(carol, `Page ${index}`, `page-${index}`)).json() as { id: string }).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/v1/orgs?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await t.app.inject({ method: 'GET', url, headers: carol })).json() as { items: Array<{ id: string }>; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(created);
  });
});

describe('Idempotency-Key', () => {
  it('replays the stored response for the same key and body, without a second write', async () => {
    const key = { 'idempotency-key': 'create-replay-1' };
    const first = await create(alice, 'Once', 'once', key);
    const second = await create(alice, 'Once', 'once', key);
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.json()).toEqual(first.json());
    expect(second.headers.location).toBe(first.headers.location);
    const count = await t.container.db.selectFrom('organisations').select((eb) => eb.fn.countAll<number>().as('n')).where('slug', '=', 'once').executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(1);
  });

  it('answers 422 for the same key with another body', async () => {
    const key = { 'idempotency-key': 'create-reuse-1' };
    expect((await create(alice, 'First body', 'first-body', key)).statusCode).toBe(201);
    const reused = await create(alice, 'Other body', 'other-body', key);
    expect(reused.statusCode).toBe(422);
    expect((reused.json() as { code: string }).code).toBe('idempotency_key_reused');
  });

  it('scopes keys to the principal: another caller with the same key is a new request', async () => {
    const key = { 'idempotency-key': 'shared-key' };
    expect((await create(alice, 'Alice org', 'alice-scoped', key)).statusCode).toBe(201);
    const other = await create(bob, 'Alice org', 'alice-scoped', key);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(other.statusCode).toBe(409); // slug taken: it really ran
  });

  it('concurrent duplicates write once: the rest replay or get 409', async () => {
    const key = { 'idempotency-key': 'create-concurrent-1' };
    const results = await Promise.all(Array.from({ length: 4 }, () => create(alice, 'Concurrent', 'concurrent', key)));
    const fresh = results.filter((response) => response.statusCode === 201 && !response.headers['idempotent-replayed']);
    expect(fresh).toHaveLength(1);
    for (const response of results) expect([201, 409]).toContain(response.statusCode);
    const count = await t.container.db.selectFrom('organisations').select((eb) => eb.fn.countAll<number>().as('n')).where('slug', '=', 'concurrent').executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(1);
  });

  it('stores the replayable response encrypted, and nothing when the write fails', async () => {
    const key = { 'idempotency-key': 'create-failing-1' };
    expect((await create(alice, 'Taken', 'dupe', key)).statusCode).toBe(409);
    const failed = await t.container.db.selectFrom('idempotencyRecords').select('id').where('key', '=', 'create-failing-1').execute();
    expect(failed).toHaveLength(0);
    const stored = await t.container.db.selectFrom('idempotencyRecords').select('responseBody').where('key', '=', 'create-replay-1').executeTakeFirstOrThrow();
    expect(stored.responseBody!.toString('latin1')).not.toContain('Once');
  });

  it('refuses a malformed key with 400', async () => {
    const response = await create(alice, 'Bad key', 'bad-key', { 'idempotency-key': 'x'.repeat(300) });
    expect(response.statusCode).toBe(400);
  });
});
