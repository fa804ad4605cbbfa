import type { Clock } from '../../platform/clock.js';
import type { FieldCipher } from '../../platform/crypto/index.js';
import type { Store } from '../../platform/stores/store.js';
import { createVersionedCache } from '../../platform/stores/versioned-cache.js';

/** The caller's profile as `GET /users/me` answers it. */
export interface Profile {
  id: string;
  email: string;
  displayName: string;
  platformRole: 'super-admin' | 'auditor' | null;
  mustChangePassword: boolean;
  organisations: Array<{ id: string; name: string; slug: string; role: string }>;
}

// The envelope's additional data binds it to this cache entry: a value copied to another user's key fails to open.
const context = (userId: string) => ({ table: 'store', column: 'users:profile', rowId: userId });

/**
 * `GET /users/me` is the hottest authenticated read; reading the user and their organisations from
 * the database on every call made it cost more than the whole rest of the pipeline. The profile is
 * cached in the shared store for a short time, as an AES-GCM envelope (DESIGN §5: no plaintext PII in
 * Redis; decrypted copies stay in this process's memory, a few seconds each), and invalidated on every
 * change that alters it: the user's own edits, status, password and membership changes (wired together
 * with the access-cache invalidation) and organisation renames.
 */
export function createProfileCache(deps: {
  store: Pick<Store, 'getMany' | 'set' | 'increment' | 'publish' | 'subscribe'>;
  cipher: Pick<FieldCipher, 'encrypt' | 'decrypt'>;
  ttlSeconds: number;
  /** Times the in-process copies (a few seconds at most). */
  clock: Pick<Clock, 'nowMs'>;
}) {
  return createVersionedCache<Profile>({
    store: deps.store,
    namespace: 'users:profile:v1',
    ttlSeconds: deps.ttlSeconds,
    encode: (profile, userId) => deps.cipher.encrypt(JSON.stringify(profile), context(userId)).toString('base64'),
    decode: (raw, userId) => {
      try {
        return JSON.parse(deps.cipher.decrypt(Buffer.from(raw, 'base64'), context(userId)).toString('utf8')) as Profile;
      } catch {
        // Unreadable (a retired key, tampering): a miss, so the caller reloads.
        return undefined;
      }
    },
    clock: deps.clock,
  });
}

export type ProfileCache = ReturnType<typeof createProfileCache>;
