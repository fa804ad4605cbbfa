import type { Store } from './store.js';

/** How long a generation counter outlives its last bump: far longer than any entry or load. */
const GENERATION_TTL_SECONDS = 3600;
/** Decoded entries remembered in this process (by their exact stored text), per cache. */
const DECODED_MAX = 10_000;

export interface VersionedCacheOptions<T> {
  store: Pick<Store, 'getMany' | 'set' | 'increment'>;
  /** Key namespace, e.g. `access:v1`; the entry is `<ns>:<id>`, its generation `<ns>:gen:<id>`. */
  namespace: string;
  ttlSeconds: number;
  encode: (value: T, id: string) => string;
  /** undefined for a value that cannot be read back (treated as a miss). */
  decode: (raw: string, id: string) => T | undefined;
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
 */
export function createVersionedCache<T>(options: VersionedCacheOptions<T>) {
  const { store, namespace } = options;
  const entryKey = (id: string) => `${namespace}:${id}`;
  const generationKey = (id: string) => `${namespace}:gen:${id}`;
  const decoded = new Map<string, { raw: string; value: T }>();

  const decode = (id: string, raw: string): T | undefined => {
    const known = decoded.get(id);
    if (known?.raw === raw) return known.value;
    const value = options.decode(raw, id);
    if (value === undefined) return undefined;
    decoded.delete(id);
    // Oldest first out: a Map iterates in insertion order.
    if (decoded.size >= DECODED_MAX) decoded.delete(decoded.keys().next().value as string);
    decoded.set(id, { raw, value });
    return value;
  };

  return {
    async get(id: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
      const [generation = null, entry = null] = await store.getMany([generationKey(id), entryKey(id)]);
      const current = generation ?? '0';
      if (entry !== null) {
        const separator = entry.indexOf(':');
        if (entry.slice(0, separator) === current) {
          const value = decode(id, entry.slice(separator + 1));
          if (value !== undefined) return value;
        }
      }
      const loaded = await load();
      if (loaded !== undefined) await store.set(entryKey(id), `${current}:${options.encode(loaded, id)}`, options.ttlSeconds);
      return loaded;
    },

    /** Call after the change has committed: every entry loaded before now stops being served. */
    async invalidate(id: string): Promise<void> {
      await store.increment(generationKey(id), GENERATION_TTL_SECONDS);
    },
  };
}

export type VersionedCache<T> = ReturnType<typeof createVersionedCache<T>>;
