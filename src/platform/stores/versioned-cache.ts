import type { Clock } from '../clock.js';
import { LOCAL_TTL_MS, createLocalLayer } from './local-layer.js';
import type { Store } from './store.js';

/** How long a generation counter outlives its last bump: far longer than any entry or load. */
const GENERATION_TTL_SECONDS = 3600;
/** Decoded entries remembered in this process (by their exact stored text), per cache. */
const DECODED_MAX = 10_000;

export interface VersionedCacheOptions<T> {
  store: Pick<Store, 'getMany' | 'set' | 'increment' | 'publish' | 'subscribe'>;
  /** Key namespace, e.g. `access:v1`; the entry is `<ns>:<id>`, its generation `<ns>:gen:<id>`. */
  namespace: string;
  ttlSeconds: number;
  encode: (value: T, id: string) => string;
  /** undefined for a value that cannot be read back (treated as a miss). */
  decode: (raw: string, id: string) => T | undefined;
  /** Times the in-process copies (the shared entries keep the store's own time). */
  clock: Pick<Clock, 'nowMs'>;
}

/**
 * A read-through cache in the shared store whose invalidation cannot be lost to a concurrent load.
 * A plain "delete on change" leaves a race: a reader loads the old row, the writer commits and
 * deletes the key, then the reader stores the old value for a whole TTL (for grants: a removed role
 * that keeps working). Here every entry carries the generation read before its load, and
 * invalidating bumps the generation, so an entry loaded before the bump is never served after it.
 *
 * Decoding can cost more than the store lookup (the profile is an AES-GCM envelope), so the last
 * decoded value of each id is kept in process, keyed by the exact stored text: a new entry, a new
 * generation or a new nonce is new text and is decoded afresh. Callers must treat values as read-only.
 *
 * In front of all that sits a local layer (local-layer.ts, where the race analysis is): a value read
 * or loaded here is served from this process for a few seconds without touching the store, as long as
 * the cache's invalidation channel is live and no invalidation arrived while it was being read. The
 * generation scheme stays the source of truth; the local layer only saves round trips.
 */
export function createVersionedCache<T>(options: VersionedCacheOptions<T>) {
  const { store, namespace } = options;
  const entryKey = (id: string) => `${namespace}:${id}`;
  const generationKey = (id: string) => `${namespace}:gen:${id}`;
  const decoded = new Map<string, { raw: string; value: T }>();
  const local = createLocalLayer<T>({
    store,
    channel: `cache:${namespace}`,
    clock: options.clock,
    ttlMs: Math.min(LOCAL_TTL_MS, options.ttlSeconds * 1000),
  });

  const memo = (id: string, raw: string, value: T) => {
    decoded.delete(id);
    // Oldest first out: a Map iterates in insertion order.
    if (decoded.size >= DECODED_MAX) decoded.delete(decoded.keys().next().value as string);
    decoded.set(id, { raw, value });
  };
  const decode = (id: string, raw: string): T | undefined => {
    const known = decoded.get(id);
    if (known?.raw === raw) return known.value;
    const value = options.decode(raw, id);
    if (value !== undefined) memo(id, raw, value);
    return value;
  };

  return {
    async get(id: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
      const copy = local.get(id);
      if (copy) return copy.value;
      // Before the store read: an invalidation arriving from here on keeps this result out of the local layer.
      const snapshot = local.snapshot();
      const [generation = null, entry = null] = await store.getMany([generationKey(id), entryKey(id)]);
      const current = generation ?? '0';
      if (entry !== null) {
        const separator = entry.indexOf(':');
        if (entry.slice(0, separator) === current) {
          const value = decode(id, entry.slice(separator + 1));
          if (value !== undefined) {
            local.remember(id, value, snapshot);
            return value;
          }
        }
      }
      const loaded = await load();
      if (loaded === undefined) return undefined;
      const encoded = options.encode(loaded, id);
      await store.set(entryKey(id), `${current}:${encoded}`, options.ttlSeconds);
      // The next read from the store finds this exact text: no need to decode what we already have.
      memo(id, encoded, loaded);
      local.remember(id, loaded, snapshot);
      return loaded;
    },

    /**
     * Call after the change has committed: every entry loaded before now stops being served, here at
     * once and in other processes as soon as the message reaches them. The generation moves first, so a
     * process that misses the message still never takes an old entry from the store.
     */
    async invalidate(id: string): Promise<void> {
      await store.increment(generationKey(id), GENERATION_TTL_SECONDS);
      await local.announce(id);
    },

    /** The local layer's copies and liveness, for tests. */
    local,
  };
}

export type VersionedCache<T> = ReturnType<typeof createVersionedCache<T>>;
