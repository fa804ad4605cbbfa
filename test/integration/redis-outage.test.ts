import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/platform/errors.js';
import { createRedisStore } from '../../src/platform/stores/redis-store.js';
import type { Store } from '../../src/platform/stores/store.js';
import { redisUrl, uniqueName } from '../setup/environment.js';
import { startTcpProxy, type TcpProxy } from '../setup/tcp-proxy.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs an operation that must fail; returns the error and how long failing took. */
async function timedFailure(operation: () => Promise<unknown>): Promise<{ error: unknown; elapsedMs: number }> {
  const started = performance.now();
  try {
    await operation();
  } catch (error) {
    return { error, elapsedMs: performance.now() - started };
  }
  throw new Error('expected the operation to fail while Redis is unreachable');
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await condition()) return performance.now() - started;
    await sleep(100);
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

describe.runIf(Boolean(redisUrl()))('Redis store during an outage (through a TCP proxy)', () => {
  const warnings: string[] = [];
  let proxy: TcpProxy;
  let store: Store;

  beforeAll(async () => {
    const target = new URL(redisUrl()!);
    proxy = await startTcpProxy({ targetHost: target.hostname, targetPort: Number(target.port || 6379) });
    const viaProxy = new URL(target);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    store = await createRedisStore({
      url: viaProxy.toString(),
      prefix: uniqueName('t'),
      commandTimeoutMs: 300,
      connectTimeoutMs: 500,
      reconnectMaxDelayMs: 500,
      breakerResetTimeoutMs: 500,
      logger: { warn: (_obj, msg) => warnings.push(msg) },
    });
  });

  afterAll(async () => {
    await store?.close();
    await proxy?.stop();
  });

  it('works through the proxy', async () => {
    await store.ping();
    await store.set('before', 'outage', 60);
    expect(await store.get('before')).toBe('outage');
  });

  it('answers AppError 503 in under 1 s per operation while Redis is unreachable', async () => {
    await proxy.close();
    const operations: Array<() => Promise<unknown>> = [
      () => store.get('before'),
      () => store.set('during', 'x', 60),
      () => store.increment('counter', 60),
      () => store.consumeRate('rate', { limit: 10, windowSeconds: 60 }),
      () => store.acquireLock('lock', 1_000),
      () => store.ping(),
    ];
    // Three rounds: the first failures reach ioredis, later ones meet the open breaker.
    for (let round = 0; round < 3; round += 1) {
      for (const operation of operations) {
        const { error, elapsedMs } = await timedFailure(operation);
        expect(elapsedMs).toBeLessThan(1_000);
        expect(isAppError(error)).toBe(true);
        if (!isAppError(error)) continue;
        expect(error.status).toBe(503);
        expect(Number(error.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
    }
    // The client's 'error' events (refused reconnects) are logged, not thrown: the process lives on.
    await waitFor(() => Promise.resolve(warnings.includes('redis store connection error')), 3_000);
  });

  it('recovers by itself once Redis is reachable again, with the same store instance', async () => {
    await proxy.open();
    const recoveredAfterMs = await waitFor(
      () =>
        store.ping().then(
          () => true,
          () => false,
        ),
      5_000,
    );
    expect(recoveredAfterMs).toBeLessThan(5_000);
    expect(await store.get('before')).toBe('outage');
    expect(await store.increment('counter', 60)).toBe(1);
    await Promise.all(['before', 'counter'].map((key) => store.delete(key)));
  });
});
