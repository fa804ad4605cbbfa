import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/platform/logger.js';
import { startHttpMock, type HttpMockServer } from '../fakes/http-mock.js';
import { readAudit } from '../setup/audit-trail.js';
import { addMember, bearer, createUserWithPassword, json, login, orgIdBySlug } from '../setup/identity-factory.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Target credentials (issue 5 §1, DESIGN §5): encrypted at rest, never in a response, a log line or an
 * audit event; their metadata readable only with its own permission, and every read of it audited. Runs
 * with the built-in policy (no egress allowlist), so in server mode the loopback mock is refused.
 */

const SECRET = 'hdr-secret-5f0c9e1b7a2d4c6e8f00';
const ROTATED = 'hdr-secret-rotated-99aa77bb55cc';
const PASSWORD = 'another long passphrase for secret tests 58';

let t: TestApp;
let mock: HttpMockServer;
let root: string;
let redTeamer: string;
let redTeamerId: string;
const logLines: string[] = [];

const call = (method: 'GET' | 'POST' | 'PATCH', url: string, token: string, payload?: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: { ...(payload === undefined ? {} : json), ...bearer(token, headers) }, ...(payload === undefined ? {} : { payload: payload as object }) });

const httpTarget = (name: string) => ({
  name,
  kind: 'http',
  config: { method: 'POST', url: `${mock.url}${mock.path}?mode=test`, headers: { 'x-client': 'violentutf' }, bodyTemplate: { q: '{{prompt}}' }, responsePath: '$.output.text' },
  limits: { maxRetries: 0 },
  credentials: { headers: { 'X-Api-Key': SECRET } },
});

beforeAll(async () => {
  mock = await startHttpMock({ expectedHeaders: { 'x-api-key': SECRET } });
  const logger = createLogger('trace', { write: (line: string) => void logLines.push(line) });
  t = await createTestApp({ overrides: { logger } });
  const orgId = await orgIdBySlug(t, 'default');
  redTeamerId = await createUserWithPassword(t, 'red@secrets.test', PASSWORD);
  await addMember(t, orgId, redTeamerId, 'red-teamer');
  root = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  redTeamer = (await login(t, 'red@secrets.test', PASSWORD)).accessToken;
}, 120_000);

afterAll(async () => {
  await t?.close();
  await mock?.close();
});

describe('target credentials', () => {
  it('[ASVS 14.2.6] a secret header is never in a response, a log line or an audit event, whatever the route', async () => {
    const created = await call('POST', '/targets', root, httpTarget('secret api'));
    expect(created.statusCode, created.body).toBe(201);
    const target = created.json<{ id: string; hasCredential: boolean; credentialHeaders: string[]; config: { headers: Record<string, string> } }>();
    expect(target).toMatchObject({ hasCredential: true, credentialHeaders: ['x-api-key'], config: { headers: { 'x-client': 'violentutf' } } });
    const responses = [
      created,
      await call('GET', `/targets/${target.id}`, root),
      await call('GET', '/targets', root),
      await call('GET', `/targets/${target.id}/versions`, root),
      await call('GET', `/targets/${target.id}/credentials`, root),
      await call('POST', `/targets/${target.id}/test`, root),
      await call('PATCH', `/targets/${target.id}`, root, { version: 1, credentials: { headers: { 'X-Api-Key': ROTATED } } }),
      await call('GET', `/targets/${target.id}/credentials`, redTeamer),
    ];
    for (const response of responses) {
      expect(response.body).not.toContain(SECRET);
      expect(response.body).not.toContain(ROTATED);
    }
    const audit = JSON.stringify(await readAudit(t));
    const logs = logLines.join('\n');
    expect(logLines.length).toBeGreaterThan(0);
    for (const secret of [SECRET, ROTATED]) {
      expect(audit).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
  });

  it('[ASVS 13.3.1] credentials and configuration are AES-GCM envelopes in the database, bound to their row', async () => {
    const created = (await call('POST', '/targets', root, httpTarget('at rest'))).json<{ id: string; versionId: string }>();
    const rows = await sql<{ id: string; config: Buffer; credentials: Buffer }>`select id, config, credentials from target_versions where target_id = ${created.id}`.execute(t.container.db);
    const row = rows.rows[0]!;
    for (const column of [row.config, row.credentials]) {
      expect(column.includes(Buffer.from(SECRET))).toBe(false);
      expect(column.includes(Buffer.from(mock.path))).toBe(false);
    }
    // Moved under another row's id, the envelope no longer opens: the send path fails rather than using it.
    const other = (await call('POST', '/targets', root, { name: 'donor', kind: 'http', config: httpTarget('x').config })).json<{ versionId: string }>();
    const orgId = await orgIdBySlug(t, 'default');
    await sql`alter table target_versions disable trigger target_versions_immutable`.execute(t.container.db);
    await sql`update target_versions set credentials = ${row.credentials} where id = ${other.versionId}`.execute(t.container.db);
    await sql`alter table target_versions enable trigger target_versions_immutable`.execute(t.container.db);
    await expect(t.container.targets.service.sendable(orgId, (await sql<{ target_id: string }>`select target_id from target_versions where id = ${other.versionId}`.execute(t.container.db)).rows[0]!.target_id)).rejects.toThrow();
  });

  it('[ASVS 13.3.2] credential metadata needs its own permission; a red-teamer who manages targets cannot read it', async () => {
    const target = (await call('POST', '/targets', redTeamer, httpTarget('red owned'))).json<{ id: string }>();
    const denied = await call('GET', `/targets/${target.id}/credentials`, redTeamer);
    expect(denied.statusCode).toBe(403);
    expect(await readAudit(t, { actorId: redTeamerId, outcome: 'denied' })).not.toHaveLength(0);
  });

  it('[ASVS 16.3.2] every read of credential metadata is an audit event naming the reader and the target', async () => {
    const target = (await call('POST', '/targets', root, httpTarget('audited'))).json<{ id: string }>();
    for (let read = 0; read < 2; read += 1) expect((await call('GET', `/targets/${target.id}/credentials`, root)).statusCode).toBe(200);
    const events = await readAudit(t, { action: 'target.credentials.read', resourceId: target.id });
    expect(events).toHaveLength(2);
    expect(events.every((event) => event.outcome === 'success' && event.actorType === 'user')).toBe(true);
  });

  it('[ASVS 11.4.1] the fingerprint is a keyed HMAC prefix: equal values match, it is not a plain hash of the secret', async () => {
    const a = (await call('POST', '/targets', root, httpTarget('fp a'))).json<{ id: string }>();
    const b = (await call('POST', '/targets', root, httpTarget('fp b'))).json<{ id: string }>();
    const fingerprint = async (id: string) => (await call('GET', `/targets/${id}/credentials`, root)).json<{ credentials: Array<{ fingerprint: string }> }>().credentials[0]!.fingerprint;
    const [fa, fb] = [await fingerprint(a.id), await fingerprint(b.id)];
    expect(fa).toMatch(/^[0-9a-f]{12}$/);
    expect(fa).toBe(fb);
    expect(createHash('sha256').update(SECRET).digest('hex')).not.toContain(fa);
    await call('PATCH', `/targets/${b.id}`, root, { version: 1, credentials: { headers: { 'X-Api-Key': ROTATED } } });
    expect(await fingerprint(b.id)).not.toBe(fa);
  });

  it('[ASVS 13.2.4] with the built-in policy, server mode refuses a loopback target; embedded mode reaches it', async () => {
    const target = (await call('POST', '/targets', root, httpTarget('loopback'))).json<{ id: string }>();
    mock.reset();
    const report = (await call('POST', `/targets/${target.id}/test`, root)).json<{ ok: boolean; error?: { code: string } }>();
    if (t.config.mode === 'server') {
      expect(report).toMatchObject({ ok: false, error: { code: 'target_egress_refused' } });
      expect(mock.stats.total).toBe(0);
    } else {
      expect(report).toMatchObject({ ok: true });
      expect(mock.lastRequest?.headers['x-api-key']).toBe(SECRET);
      expect(mock.lastRequest?.path).toBe(`${mock.path}?mode=test`);
    }
  });
});
