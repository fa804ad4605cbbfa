import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../setup/test-app.js';

const METRICS_TOKEN = 'metrics-token-for-tests-0123456789abcdef';
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { METRICS_TOKEN } });
});
afterAll(async () => {
  await t?.close();
});

describe('health', () => {
  it('live and ready answer 200 without credentials', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).json()).toEqual({ status: 'ok' });
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).json()).toEqual({ status: 'ready' });
  });

  it('[ASVS 13.4.5] details and metrics need the metrics token (or an admin), compared in constant time', async () => {
    for (const url of ['/health/details', '/metrics']) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${METRICS_TOKEN}x` } })).statusCode).toBe(401);
    }
    const details = await t.app.inject({ method: 'GET', url: '/health/details', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(details.statusCode).toBe(200);
    const body = details.json() as { status: string; mode: string; components: Record<string, { status: string; latencyMs: number }>; policy: { sequence: number } };
    expect(body.status).toBe('ready');
    expect(body.mode).toBe(t.config.mode);
    expect(Object.keys(body.components).sort()).toEqual(['database', 'queue', 'store']);
    for (const component of Object.values(body.components)) expect(component).toMatchObject({ status: 'up', latencyMs: expect.any(Number) });
    expect(body.policy.sequence).toBeGreaterThanOrEqual(1);
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toContain('process_cpu_user_seconds_total');
  });

  it('the metrics token grants nothing else', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(response.statusCode).toBe(403);
  });
});

describe('JWKS', () => {
  it('[ASVS 9.1.3] publishes the public signing keys of every configured version, and nothing private', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=300');
    const { keys } = response.json() as { keys: Array<Record<string, string>> };
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: expect.stringMatching(/^v\d+-/) });
      expect(key.d).toBeUndefined();
    }
  });
});
