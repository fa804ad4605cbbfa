import type { Clock } from '../clock.js';
import type { Store } from './store.js';

/** How long a local copy may be served without asking the shared store; only a backstop (see below). */
export const LOCAL_TTL_MS = 5_000;
/** Entries kept per layer; the oldest goes first. */
export const LOCAL_MAX_ENTRIES = 10_000;

export interface LocalLayerOptions {
  store: Pick<Store, 'publish' | 'subscribe'>;
  /** Where invalidations travel: one channel per kind of data, the message is the key to drop. */
  channel: string;
  clock: Pick<Clock, 'nowMs'>;
  /** Capped at LOCAL_TTL_MS: never longer than the shared entry lives, and short if a message is lost. */
  ttlMs?: number;
  maxEntries?: number;
}

/**
 * Copies of shared-store reads kept in this process, served without a round trip while every process
 * announces its changes on a pub/sub channel. The shared store stays the source of truth; this layer
 * only skips reading it when it cannot have changed unseen. The rules, and the race each one closes:
 *
 * 1. A writer changes the shared store first, then drops its own copy, then publishes the key; every
 *    process drops its copy on the message. Once `announce` resolves, the writer's process never serves
 *    the old value; other processes stop within the pub/sub latency.
 * 2. A reader takes `snapshot()` BEFORE reading the shared store and `remember`s the result only if no
 *    message arrived (and liveness did not change) since. Otherwise this can happen: the reader gets
 *    the old value from the store, the writer changes the store and publishes, the message arrives and
 *    drops nothing (no copy yet), then the reader stores the old value, which nothing will ever drop.
 *    With the snapshot, a message that arrives before the copy is stored stops it from being stored,
 *    and one that arrives after drops it. The counter is one per layer, not per key: a message about
 *    any key only costs the few reads in flight their local copy.
 * 3. Pub/sub has no history, so while the subscription is not live (connecting, reconnecting) nothing
 *    is served or stored locally, and every copy is dropped when liveness changes: messages sent in
 *    between are lost. A liveness change also moves the counter, so a read that straddles an outage
 *    is not stored either.
 * 4. Copies expire after a few seconds anyway, which bounds the damage of a message lost in a way
 *    nobody noticed (e.g. a connection that died silently between two heartbeats).
 */
export function createLocalLayer<V>(options: LocalLayerOptions) {
  const { store, channel, clock } = options;
  const ttlMs = Math.min(options.ttlMs ?? LOCAL_TTL_MS, LOCAL_TTL_MS);
  const maxEntries = options.maxEntries ?? LOCAL_MAX_ENTRIES;
  const entries = new Map<string, { value: V; expiresAtMs: number }>();
  let changes = 0;

  const drop = (key: string) => {
    entries.delete(key);
    changes += 1;
  };
  const subscription = store.subscribe(channel, {
    onMessage: drop,
    onLiveChange: () => {
      entries.clear();
      changes += 1;
    },
  });

  return {
    /** The copy of `key` if it may be served now: a box, so a cached null or undefined still counts. */
    get(key: string): { value: V } | undefined {
      if (!subscription.live) return undefined;
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAtMs <= clock.nowMs()) {
        entries.delete(key);
        return undefined;
      }
      return entry;
    },

    /** Take before reading the shared store; hand to `remember` with what was read. */
    snapshot(): number {
      return changes;
    },

    /** Keeps `value` unless anything might have changed it unseen since `snapshot` was taken. */
    remember(key: string, value: V, snapshot: number): void {
      if (!subscription.live || snapshot !== changes) return;
      entries.delete(key);
      // Oldest first out: a Map iterates in insertion order.
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
      entries.set(key, { value, expiresAtMs: clock.nowMs() + ttlMs });
    },

    /** Call after the shared store has changed: drops the copy here, then in every other process. */
    async announce(key: string): Promise<void> {
      drop(key);
      await store.publish(channel, key);
    },

    /** Copies held now, for tests that check the layer stays bounded. */
    get size(): number {
      return entries.size;
    },

    get live(): boolean {
      return subscription.live;
    },
  };
}

export type LocalLayer<V> = ReturnType<typeof createLocalLayer<V>>;
