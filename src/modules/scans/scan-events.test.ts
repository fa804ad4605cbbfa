import { describe, expect, it } from 'vitest';
import type { Store, SubscriptionListener } from '../../platform/stores/store.js';
import { SCAN_EVENTS_CHANNEL, createScanEventHub, createScanEventLog } from './scan-events.js';

/** A store whose one subscription the test drives: messages and liveness by hand. */
function fakeStore(initiallyLive: boolean) {
  const state = { live: initiallyLive, listener: undefined as SubscriptionListener | undefined, subscriptions: 0 };
  const store: Pick<Store, 'subscribe'> = {
    subscribe(channel, listener) {
      expect(channel).toBe(SCAN_EVENTS_CHANNEL);
      state.subscriptions += 1;
      state.listener = listener;
      return {
        get live() {
          return state.live;
        },
      };
    },
  };
  return {
    store,
    state,
    send: (scanId: string) => state.listener!.onMessage(scanId),
    setLive(live: boolean) {
      state.live = live;
      state.listener!.onLiveChange(live);
    },
  };
}

const elapsed = async (promise: Promise<void>) => {
  const started = performance.now();
  await promise;
  return performance.now() - started;
};

describe('scan event hub', () => {
  it('wakes only the followers of the notified scan, over one store subscription', async () => {
    const fake = fakeStore(true);
    const hub = createScanEventHub({ store: fake.store, timing: { livePollIntervalMs: 10_000 } });
    const a = hub.follow('scan-a');
    const b = hub.follow('scan-b');
    let bWoke = false;
    void b.wait().then(() => (bWoke = true));
    const waiting = a.wait();
    fake.send('scan-a');
    expect(await elapsed(waiting)).toBeLessThan(1000);
    expect(bWoke).toBe(false);
    expect(fake.state.subscriptions).toBe(1);
    a.close();
    b.close();
    expect(hub.followers()).toBe(0);
  });

  it('keeps a notification that arrives while the stream is busy, so the next wait returns at once', async () => {
    const fake = fakeStore(true);
    const hub = createScanEventHub({ store: fake.store, timing: { livePollIntervalMs: 10_000 } });
    const follower = hub.follow('scan-a');
    fake.send('scan-a');
    expect(await elapsed(follower.wait())).toBeLessThan(50);
    follower.close();
  });

  it('polls at the short interval while the channel is not live, and wakes everyone when it is live again', async () => {
    const fake = fakeStore(false);
    const hub = createScanEventHub({ store: fake.store, timing: { pollIntervalMs: 30, livePollIntervalMs: 10_000 } });
    const follower = hub.follow('scan-a');
    // Not live: the wait ends by itself after the poll interval (messages cannot be trusted).
    expect(await elapsed(follower.wait())).toBeLessThan(1000);
    fake.state.live = true;
    const waiting = follower.wait();
    fake.setLive(true);
    expect(await elapsed(waiting)).toBeLessThan(1000);
    follower.close();
  });

  it('close ends a pending wait', async () => {
    const fake = fakeStore(true);
    const hub = createScanEventHub({ store: fake.store, timing: { livePollIntervalMs: 10_000 } });
    const follower = hub.follow('scan-a');
    const waiting = follower.wait();
    follower.close();
    expect(await elapsed(waiting)).toBeLessThan(100);
  });
});

describe('scan event log', () => {
  it('publishes the scan id (never a payload) and survives a failed publish', async () => {
    const published: Array<[string, string]> = [];
    const warnings: string[] = [];
    const log = createScanEventLog({
      store: {
        publish: (channel, message) => {
          published.push([channel, message]);
          return message === 'down' ? Promise.reject(new Error('redis down')) : Promise.resolve();
        },
      },
      logger: {
        warn: (_object: object, message?: string) => {
          warnings.push(message ?? '');
        },
      },
    });
    await log.notify('scan-1');
    await expect(log.notify('down')).resolves.toBeUndefined();
    expect(published).toEqual([
      [SCAN_EVENTS_CHANNEL, 'scan-1'],
      [SCAN_EVENTS_CHANNEL, 'down'],
    ]);
    expect(warnings).toHaveLength(1);
  });

  it('refuses oversized event data before touching the database', async () => {
    const log = createScanEventLog({ store: { publish: () => Promise.resolve() }, logger: { warn: () => undefined } });
    const tx = new Proxy({}, { get: () => { throw new Error('the database must not be used'); } });
    await expect(log.append(tx as never, { scanId: 's', orgId: 'o', type: 'progress', data: { blob: 'x'.repeat(5000) } })).rejects.toThrow(RangeError);
  });
});
