import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { sql } from 'kysely';
import { AttackText } from '../../src/http/schemas.js';
import { createTestApp, asPrincipal, type TestApp } from '../setup/test-app.js';

/** The whole HTTP contract of DESIGN §6 and the bad-input rules, through the fully built app. */
let t: TestApp;
const admin = asPrincipal('01900000-0000-7000-8000-000000000001', ['orgs:create', 'orgs:read', 'orgs:update']);
const json = { 'content-type': 'application/json' };

beforeAll(async () => {
  t = await createTestApp({
    env: { CORS_ORIGINS: 'https://console.example.test' },
    // Routes this test adds to the built app (never in src/): an echo of attack content through
    // encryption and a bytea round trip in the database, and a crash with a revealing message.
    beforeReady: (app, container) => {
      app.post(
        '/test/echo',
        {
          config: { access: { public: true } },
          schema: {
            body: Type.Object({ text: AttackText(2_000_000) }, { additionalProperties: false }),
            response: { 200: Type.Object({ text: Type.String() }, { additionalProperties: false }) },
          },
        },
        async (request) => {
          const context = { table: 'echo', column: 'text', rowId: 'r1' };
          const sealed = container.cipher.encrypt((request.body as { text: string }).text, context);
          const { rows } = await sql<{ stored: Buffer }>`select ${sealed}::bytea as stored`.execute(container.db);
          return { text: container.cipher.decrypt(rows[0]!.stored, context).toString('utf8') };
        },
      );
      app.get('/test/crash', { config: { access: { public: true } } }, () => {
        throw new Error('relation "users" does not exist: SELECT password_hash FROM users');
      });
    },
  });
});

afterAll(async () => {
  await t?.close();
});

const problemOf = (response: { headers: Record<string, unknown>; json: () => unknown }) => {
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  return response.json() as { type: string; title: string; status: number; code: string; detail?: string; requestId: string; instance: string; errors?: Array<{ in: string; pointer: string; detail: string }> };
};

describe('request ids', () => {
  it('[ASVS 16.2.1] every response carries X-Request-ID, echoed in problems', async () => {
    const ok = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(ok.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const missing = await t.app.inject({ method: 'GET', url: '/nope' });
    expect(problemOf(missing).requestId).toBe(missing.headers['x-request-id']);
  });

  it('keeps a well-formed incoming X-Request-ID and replaces a malformed one', async () => {
    const kept = await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'trace-abc-12345' } });
    expect(kept.headers['x-request-id']).toBe('trace-abc-12345');
    const replaced = await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'bad id\u0000' } });
    // A fresh UUID (which may well contain the hex letters "bad": compare shapes, not substrings).
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('problem+json for every error', () => {
  it('400 for malformed JSON', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...json, ...admin }, payload: '{"name": ' });
    expect(response.statusCode).toBe(400);
    expect(problemOf(response)).toMatchObject({ status: 400, code: 'malformed_json', title: 'Bad Request', instance: '/api/v1/orgs' });
  });

  it('415 for a body that is not JSON', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { 'content-type': 'text/plain', ...admin }, payload: 'name=x' });
    expect(response.statusCode).toBe(415);
    expect(problemOf(response).code).toBe('unsupported_media_type');
  });

  it('413 for an oversized body, before it is parsed', async () => {
    const payload = JSON.stringify({ name: 'x'.repeat(1_100_000), slug: 'big' });
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...json, ...admin }, payload });
    expect(response.statusCode).toBe(413);
    expect(problemOf(response).code).toBe('payload_too_large');
  });

  it('400 for JSON nested deeper than the limit', async () => {
    const payload = `{"name":${'['.repeat(40)}${']'.repeat(40)},"slug":"deep"}`;
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...json, ...admin }, payload });
    expect(response.statusCode).toBe(400);
    expect(problemOf(response).code).toBe('json_too_deep');
  });

  it('[ASVS 1.5.2] refuses prototype-pollution keys instead of dropping them', async () => {
    for (const payload of ['{"name":"a","slug":"a","__proto__":{"admin":true}}', '{"name":"a","slug":"a","constructor":{"prototype":{"x":1}}}']) {
      const response = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...json, ...admin }, payload });
      expect(response.statusCode).toBe(400);
      expect(problemOf(response).code).toBe('forbidden_key');
    }
  });

  it('[ASVS 2.2.1] 422 lists every error with JSON pointers: unknown fields, wrong types, over-long strings', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/orgs',
      headers: { ...json, ...admin },
      payload: { name: 123, slug: 'Not A Slug', isAdmin: true, extra: 1 },
    });
    expect(response.statusCode).toBe(422);
    const problem = problemOf(response);
    expect(problem.code).toBe('validation_failed');
    const pointers = problem.errors!.map((error) => error.pointer).sort();
    expect(pointers).toEqual(expect.arrayContaining(['/extra', '/isAdmin', '/name', '/slug']));
    expect(problem.errors!.every((error) => error.in === 'body')).toBe(true);

    const long = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...json, ...admin }, payload: { name: 'n'.repeat(201), slug: 'ok' } });
    expect(problemOf(long).errors).toEqual([{ in: 'body', pointer: '/name', detail: expect.stringContaining('200') }]);
  });

  it('never coerces body types ({"name": 123} is not "123")', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...json, ...admin }, payload: { name: 123, slug: 'coerce' } });
    expect(response.statusCode).toBe(422);
  });

  it('refuses control and bidi characters in names', async () => {
    for (const name of ['evil\u0007name', 'admin\u202Egnp.exe', 'zero\u200Bwidth']) {
      const response = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...json, ...admin }, payload: { name, slug: 'ctl' } });
      expect(response.statusCode, name).toBe(422);
    }
  });

  it('422 for an invalid UUID in the path and for unknown query parameters', async () => {
    const badId = await t.app.inject({ method: 'GET', url: '/api/v1/orgs/not-a-uuid', headers: admin });
    expect(badId.statusCode).toBe(422);
    expect(problemOf(badId).errors![0]).toMatchObject({ in: 'params', pointer: '/id' });
    const unknownQuery = await t.app.inject({ method: 'GET', url: '/api/v1/orgs?limit=5&admin=true', headers: admin });
    expect(unknownQuery.statusCode).toBe(422);
    expect(problemOf(unknownQuery).errors![0]).toMatchObject({ in: 'querystring', pointer: '/admin' });
    const overLimit = await t.app.inject({ method: 'GET', url: '/api/v1/orgs?limit=101', headers: admin });
    expect(overLimit.statusCode).toBe(422);
    const health = await t.app.inject({ method: 'GET', url: '/health/live?x=1' });
    expect(health.statusCode).toBe(422);
  });

  it('400 for a cursor the API did not issue', async () => {
    const response = await t.app.inject({ method: 'GET', url: `/api/v1/orgs?cursor=${Buffer.from('{"a":1}').toString('base64url')}`, headers: admin });
    expect(response.statusCode).toBe(400);
    expect(problemOf(response).code).toBe('invalid_cursor');
  });

  it('404 for an unknown path and 405 with Allow for a known path', async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/api/v1/nothing-here' });
    expect(missing.statusCode).toBe(404);
    expect(problemOf(missing).code).toBe('not_found');
    const wrongMethod = await t.app.inject({ method: 'DELETE', url: '/health/live' });
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toBe('GET, HEAD');
    const collection = await t.app.inject({ method: 'PUT', url: '/api/v1/orgs' });
    expect(collection.headers.allow).toBe('GET, HEAD, POST');
  });

  it('401 without credentials and 403 without the permission', async () => {
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/v1/orgs' });
    expect(anonymous.statusCode).toBe(401);
    const weak = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...json, ...asPrincipal('01900000-0000-7000-8000-00000000000f', ['orgs:read']) }, payload: { name: 'x', slug: 'x' } });
    expect(weak.statusCode).toBe(403);
  });
});

describe('security headers and CORS', () => {
  it('[ASVS 3.4.1] sets strict CSP, HSTS, nosniff, frame-ancestors none, referrer policy, no X-Powered-By', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(response.headers['strict-transport-security']).toMatch(/max-age=\d{8}/);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['x-powered-by']).toBeUndefined();
  });

  it('[ASVS 3.4.2] answers CORS only for allowlisted origins', async () => {
    const allowed = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/orgs', headers: { origin: 'https://console.example.test', 'access-control-request-method': 'POST' } });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://console.example.test');
    const denied = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/orgs', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('bodies the API must never alter', () => {
  it('keeps attack content byte-exact through parsing, validation, serialisation and encrypted bytea storage', async () => {
    const text =
      '<script>alert(1)</script><img src=x onerror=alert(1)>"\'&' +
      '\u0000\u0001\u001b[31m\u007f' + // control characters, including NUL and an ANSI escape
      '\u202Eevil\u202C\u2066iso\u2069' + // bidi overrides and isolates
      '\u{E0041}\u{E0042}\u{E007F}' + // Unicode tag characters (ASCII smuggling)
      '\u200B\u200D\uFEFF' + // zero-width characters
      'ＡＢＣ ﬁ \u0065\u0301'; // full-width, ligature, decomposed accent (NFKC would change them)
    const response = await t.app.inject({ method: 'POST', url: '/test/echo', headers: json, payload: JSON.stringify({ text }) });
    expect(response.statusCode).toBe(200);
    expect((response.json() as { text: string }).text).toBe(text);
  });

  it('500 reveals no stack, SQL or library text', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/test/crash' });
    expect(response.statusCode).toBe(500);
    const problem = problemOf(response);
    expect(problem).toMatchObject({ code: 'internal_error', detail: 'An unexpected error occurred.' });
    expect(response.body).not.toMatch(/SELECT|password_hash|relation|at .*\.ts/);
  });
});
