import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/platform/logger.js';
import { asPrincipal, createTestApp, type TestApp } from '../setup/test-app.js';

/** Per-IP throttling before the body is read, and logs that never carry a secret. */
const lines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  },
});
const policyDir = mkdtempSync(path.join(tmpdir(), 'vutf-policy-'));
const LIMIT = 20;
let t: TestApp;

beforeAll(async () => {
  const policyFile = path.join(policyDir, 'policy.yaml');
  writeFileSync(policyFile, `rateLimits:\n  perIp:\n    limit: ${LIMIT}\n    windowSeconds: 60\n`);
  t = await createTestApp({ env: { POLICY_FILE: policyFile }, overrides: { logger: createLogger('info', sink) } });
});
afterAll(async () => {
  await t?.close();
  rmSync(policyDir, { recursive: true, force: true });
});

describe('per-IP rate limit', () => {
  it('[ASVS 2.4.1] accepts between L and 1.05·L requests in one window, then 429 with Retry-After and RateLimit-* headers', async () => {
    const ip = '203.0.113.7';
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof t.app.inject>> | undefined;
    for (let index = 0; index < LIMIT * 2; index++) {
      const response = await t.app.inject({ method: 'GET', url: '/api/v1/orgs', remoteAddress: ip });
      statuses.push(response.statusCode);
      if (response.statusCode === 429) refused ??= response;
    }
    const accepted = statuses.filter((status) => status !== 429).length;
    expect(accepted).toBeGreaterThanOrEqual(LIMIT);
    expect(accepted).toBeLessThanOrEqual(Math.floor(LIMIT * 1.05));
    expect(refused!.headers['retry-after']).toMatch(/^\d+$/);
    expect(refused!.headers['ratelimit-limit']).toBe(String(LIMIT));
    expect(refused!.headers['ratelimit-remaining']).toBe('0');
    expect((refused!.json() as { code: string }).code).toBe('rate_limited');
    // Another address is unaffected.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/orgs', remoteAddress: '203.0.113.8' })).statusCode).toBe(401);
  });

  it('refuses before reading the body: an oversized body from a throttled address gets 429, not 413', async () => {
    const ip = '203.0.113.9';
    for (let index = 0; index < LIMIT * 2; index++) await t.app.inject({ method: 'GET', url: '/health/details', remoteAddress: ip });
    const response = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', remoteAddress: ip, headers: { 'content-type': 'application/json' }, payload: 'x'.repeat(2_000_000) });
    expect(response.statusCode).toBe(429);
  });
});

describe('logging', () => {
  it('[ASVS 16.2.5] access lines carry request id and actor id, never authorization, cookies, keys or body secrets', async () => {
    const secret = 'Sup3r-Secret-Token-Value-9f8e7d';
    const userId = '01900000-0000-7000-8000-00000000beef';
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/orgs',
      remoteAddress: '198.51.100.1',
      headers: {
        ...asPrincipal(userId, ['orgs:create']),
        authorization: `Basic ${secret}`, // a scheme no authenticator claims, so the principal header decides
        cookie: `__Host-session=${secret}`,
        'x-api-key': secret,
        'content-type': 'application/json',
        'x-request-id': 'log-test-request-0001',
      },
      payload: { name: 'x', slug: 'x', password: secret },
    });
    const text = lines.join('\n');
    expect(text).not.toContain(secret);
    const access = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.reqId === 'log-test-request-0001' && entry.msg === 'request completed');
    expect(access).toMatchObject({ method: 'POST', path: '/api/v1/orgs', status: 422, actor: { type: 'user', id: userId } });
  });

  it('does not log successful liveness/readiness probes, but logs every other request', async () => {
    await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'probe-line-0000001' } });
    await t.app.inject({ method: 'GET', url: '/health/details', headers: { 'x-request-id': 'details-line-00001' } });
    const ids = lines.map((line) => (JSON.parse(line) as { reqId?: string }).reqId);
    expect(ids).not.toContain('probe-line-0000001');
    expect(ids).toContain('details-line-00001');
  });

  it('redacts secret fields in any logged object', () => {
    const captured: string[] = [];
    const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _e, done) => (captured.push(chunk.toString()), done()) }));
    logger.info({ password: 'p1', user: { refreshToken: 'r1', apiKey: 'k1' }, req: { headers: { authorization: 'Bearer a1', cookie: 'c1' } } }, 'x');
    const line = captured.join('');
    for (const value of ['p1', 'r1', 'k1', 'a1', 'c1']) expect(line).not.toContain(`"${value}`);
    expect(line).toContain('[redacted]');
  });
});
