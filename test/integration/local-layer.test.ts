import { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionRevocations } from '../../src/modules/auth/session-revocations.js';
import { systemClock } from '../../src/platform/clock.js';
import { newId } from '../../src/platform/ids.js';
import { createMemoryStore } from '../../src/platform/stores/memory-store.js';
import { createRedisStore } from '../../src/platform/stores/redis-store.js';
import type { Store } from '../../src/platform/stores/store.js';
import { createVersionedCache } from '../../src/platform/stores/versioned-cache.js';
import { redisUrl, uniqueName } from '../setup/environment.js';
import { startTcpProxy } from '../setup/tcp-proxy.js';
import { deleteRedisKeys, waitFor } from '../setup/wait.js';

/**
 * In-process copies kept fresh through pub/sub (platform/stores/local-layer.ts), with two "processes":
 * on Redis, two stores with the same prefix (each its own connections, as two API processes have); in
 * embedded mode there is only ever one process, so both share the one memory store.
 */

interface Backend {
  /** The two processes' stores, on the same shared data. */
  pair(): Promise<[Store, Store]>;
  close(): Promise<void>;
}

const roleCache = (store: Store) =>
  createVersionedCache<{ role: string }>({
    store,
    namespace: 'grants:v1',
    ttlSeconds: 30,
    encode: (value) => JSON.stringify(value),
    decode: (raw) => JSON.parse(raw) as { role: string },
    clock: systemClock,
  });

// Delivery crosses a connection on Redis: poll, bounded (never a fixed sleep).
const delivered = (condition: () => boolean) => waitFor(condition, 5_000, 5);

function localLayerBehaviour(name: string, backend: Backend): void {
  describe(`local layer over pub/sub: ${name}`, () => {
    let a: Store;
    let b: Store;

    beforeAll(async () => {
      [a, b] = await backend.pair();
    });
    afterAll(() => backend.close());

    it('[ASVS 8.3.2] an invalidation in one process is seen by the other on its next read', async () => {
      const [here, there] = [roleCache(a), roleCache(b)];
      await delivered(() => here.local.live && there.local.live);
      let role = 'admin';
      const load = () => Promise.resolve({ role });
      expect(await here.get('u1', load)).toEqual({ role: 'admin' });
      expect(await there.get('u1', load)).toEqual({ role: 'admin' });
      expect(there.local.get('u1')).toBeDefined();
      role = 'viewer';
      await here.invalidate('u1');
      expect(await here.get('u1', load)).toEqual({ role: 'viewer' });
      await delivered(() => there.local.get('u1') === undefined);
      expect(await there.get('u1', load)).toEqual({ role: 'viewer' });
    });

    it('does not keep a value that was being read when the invalidation passed', async () => {
      let role = 'admin';
      const here = roleCache(a);
      let racing = false;
      const slowStore: Store = {
        ...b,
        subscribe: (channel, listener) => b.subscribe(channel, listener),
        getMany: async (keys) => {
          const reply = await b.getMany(keys);
          if (racing) {
            racing = false;
            // Between this process's read and its use: the change commits and is announced, and the
            // message reaches this process before the reply is handled.
            const before = there.local.snapshot();
            role = 'viewer';
            await here.invalidate('u2');
            await delivered(() => there.local.snapshot() !== before);
          }
          return reply;
        },
      };
      const there = roleCache(slowStore);
      await delivered(() => here.local.live && there.local.live);
      const load = () => Promise.resolve({ role });
      await here.get('u2', load);
      racing = true;
      expect(await there.get('u2', load)).toEqual({ role: 'admin' });
      expect(there.local.get('u2')).toBeUndefined();
      expect(await there.get('u2', load)).toEqual({ role: 'viewer' });
    });

    it('[ASVS 7.4.1] logout and logout-all in one process end the login in the other', async () => {
      let reads = 0;
      const counted: Store = { ...b, subscribe: (channel, listener) => b.subscribe(channel, listener), getMany: (keys) => ((reads += 1), b.getMany(keys)) };
      const here = createSessionRevocations({ store: a, clock: systemClock });
      const there = createSessionRevocations({ store: counted, clock: systemClock });
      // A second listener on the same channel and connection is live exactly when theirs is.
      const probes = [a, b].map((store) => store.subscribe('auth:sessions-ended', { onMessage: () => undefined, onLiveChange: () => undefined }));
      await delivered(() => probes.every((probe) => probe.live));
      const userId = newId();
      const [first, second] = [newId(), newId()];
      for (const sessions of [here, there]) {
        expect(await sessions.isEnded(userId, first)).toBe(false);
        expect(await sessions.isEnded(userId, second)).toBe(false);
      }
      // Both answers are now kept in both processes: no store read.
      const readsBefore = reads;
      expect(await there.isEnded(userId, first)).toBe(false);
      expect(reads).toBe(readsBefore);
      await here.endSession(first);
      expect(await here.isEnded(userId, first)).toBe(true);
      await waitFor(() => there.isEnded(userId, first), 5_000, 5);
      expect(await there.isEnded(userId, second)).toBe(false);
      await there.endAllSessions(userId);
      expect(await there.isEnded(userId, second)).toBe(true);
      await waitFor(() => here.isEnded(userId, second), 5_000, 5);
      // A login after logout-all is not affected, in either process.
      const later = uuidv7({ msecs: Date.now() + 1_000 });
      expect(await here.isEnded(userId, later)).toBe(false);
      expect(await there.isEnded(userId, later)).toBe(false);
    });
  });
}

localLayerBehaviour('memory (embedded: one process, one store)', {
  pair: () => {
    const store = createMemoryStore({ clock: systemClock, prefix: uniqueName('t') });
    backendClose = () => store.close();
    return Promise.resolve([store, store]);
  },
  close: () => backendClose(),
});
let backendClose: () => Promise<void> = () => Promise.resolve();

describe.runIf(Boolean(redisUrl()))('with Redis', () => {
  const url = redisUrl()!;
  const prefix = uniqueName('t');
  const stores: Store[] = [];

  localLayerBehaviour('redis (two processes on one prefix)', {
    pair: async () => {
      stores.push(await createRedisStore({ url, prefix }), await createRedisStore({ url, prefix }));
      return [stores[0]!, stores[1]!];
    },
    close: async () => {
      await Promise.all(stores.map((store) => store.close()));
      const admin = new Redis(url, { maxRetriesPerRequest: 1 });
      try {
        await deleteRedisKeys(admin, prefix);
      } finally {
        await admin.quit();
      }
    },
  });

  it('serves nothing locally while its subscriber is down, and drops every copy when it is back', async () => {
    const target = new URL(url);
    const proxy = await startTcpProxy({ targetHost: target.hostname, targetPort: Number(target.port || 6379) });
    const viaProxy = new URL(target);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const outagePrefix = uniqueName('t');
    const direct = await createRedisStore({ url, prefix: outagePrefix });
    const cut = await createRedisStore({ url: viaProxy.toString(), prefix: outagePrefix, reconnectMaxDelayMs: 200, breakerResetTimeoutMs: 200, subscriberHeartbeatMs: 100 });
    try {
      const [here, there] = [roleCache(direct), roleCache(cut)];
      await delivered(() => here.local.live && there.local.live);
      let role = 'admin';
      const load = () => Promise.resolve({ role });
      await there.get('u3', load);
      expect(there.local.get('u3')).toBeDefined();
      await proxy.close();
      await delivered(() => !there.local.live);
      expect(there.local.get('u3')).toBeUndefined();
      // Published while the subscriber is away: lost for it.
      role = 'viewer';
      await here.invalidate('u3');
      await proxy.open();
      await delivered(() => there.local.live);
      expect(there.local.size).toBe(0);
      // The breaker may still be failing fast for a moment after the outage.
      await waitFor(async () => (await there.get('u3', load).catch(() => undefined))?.role === 'viewer', 5_000, 50);
    } finally {
      await Promise.all([direct.close(), cut.close()]);
      await proxy.stop();
    }
  });
});
