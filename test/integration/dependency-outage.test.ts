import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverUrls } from '../setup/environment.js';
import { startTcpProxy, type TcpProxy } from '../setup/tcp-proxy.js';
import { waitFor } from '../setup/wait.js';
import { asPrincipal, createTestApp, createTestUser, type TestApp } from '../setup/test-app.js';

/**
 * Real PostgreSQL and Redis behind TCP proxies the test closes and reopens (never a stop of
 * the shared servers): requests that need the database answer 503 problem+json with
 * Retry-After within 1 s, readiness goes 503, and the service recovers by itself.
 */
const server = serverUrls();

const timed = async <T>(fn: () => Promise<T>) => {
  const started = performance.now();
  const result = await fn();
  return { result, ms: performance.now() - started };
};


describe.runIf(server)('dependency outages on real servers', () => {
  let pgProxy: TcpProxy;
  let redisProxy: TcpProxy;
  let t: TestApp;
  let headers: Record<string, string>;

  beforeAll(async () => {
    const pgUrl = new URL(server!.databaseUrl);
    const redis = new URL(server!.redisUrl);
    pgProxy = await startTcpProxy({ targetHost: pgUrl.hostname, targetPort: Number(pgUrl.port || 5432) });
    redisProxy = await startTcpProxy({ targetHost: redis.hostname, targetPort: Number(redis.port || 6379) });
    t = await createTestApp({
      mapEnv: (env) => {
        const database = new URL(env.DATABASE_URL!);
        database.host = `127.0.0.1:${pgProxy.port}`;
        const store = new URL(env.REDIS_URL!);
        store.host = `127.0.0.1:${redisProxy.port}`;
        return { ...env, DATABASE_URL: database.toString(), REDIS_URL: store.toString() };
      },
    });
    headers = asPrincipal(await createTestUser(t, 'outage@example.test'), ['orgs:read', 'orgs:create']);
  });

  afterAll(async () => {
    await pgProxy?.open().catch(() => undefined);
    await redisProxy?.open().catch(() => undefined);
    await t?.close();
    await pgProxy?.stop();
    await redisProxy?.stop();
  });

  it('[ASVS 16.5.2] database down: 503 problem+json with Retry-After within 1 s, readiness 503, then recovery', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers })).statusCode).toBe(200);
    await pgProxy.close();

    for (let attempt = 0; attempt < 5; attempt++) {
      const { result: response, ms } = await timed(() => t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers }));
      expect(response.statusCode).toBe(503);
      expect(ms).toBeLessThan(1000);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // The random request id may contain "5432" by chance: search the rest of the problem.
      const { requestId: _requestId, ...problem } = response.json<Record<string, unknown>>();
      expect(JSON.stringify(problem)).not.toMatch(/ECONNREFUSED|Connection terminated|pg|5432/);
    }
    const ready = await timed(() => t.app.inject({ method: 'GET', url: '/health/ready' }));
    expect(ready.result.statusCode).toBe(503);
    expect(ready.ms).toBeLessThan(1500);
    expect((ready.result.json() as { detail: string }).detail).toContain('database');

    await pgProxy.open();
    await waitFor(async () => (await t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers })).statusCode === 200, 15_000, 200);
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });

  it('Redis down: reads stay open, writes fail closed with 503, readiness 503, then recovery', async () => {
    await redisProxy.close();
    const read = await timed(() => t.app.inject({ method: 'GET', url: '/api/v1/orgs', headers }));
    expect(read.result.statusCode).toBe(200);
    expect(read.ms).toBeLessThan(1000);
    const write = await timed(() =>
      t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...headers, 'content-type': 'application/json' }, payload: { name: 'During outage', slug: 'outage' } }),
    );
    expect(write.result.statusCode).toBe(503);
    expect(write.ms).toBeLessThan(1000);
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(503);

    await redisProxy.open();
    await waitFor(async () => (await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200, 15_000, 200);
    const retried = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...headers, 'content-type': 'application/json' }, payload: { name: 'After outage', slug: 'outage' } });
    expect(retried.statusCode).toBe(201);
  });
});
