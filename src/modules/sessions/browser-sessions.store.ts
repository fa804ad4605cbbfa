import { createHash } from 'node:crypto';
import { AppError } from '../../platform/errors.js';
import type { Store } from '../../platform/stores/store.js';

/**
 * Where browser sessions live: the shared Store (memory in embedded mode, Redis in server mode), so
 * every API process sees the same sessions. This file only knows keys and shapes; the rules are in
 * browser-sessions.service.ts.
 *
 * Keys (the session token itself is never stored: only its SHA-256, which cannot be turned back
 * into a usable cookie; 256 random bits need no salt or key):
 * - `sessions:rec:<hash>`  the record, written once (creation) and never rewritten, so a late write
 *                          can never bring back a session that was ended meanwhile;
 * - `sessions:seen:<hash>` last activity (epoch ms), rewritten at most once per touch interval; it
 *                          expires on its own when the session has been idle;
 * - `sessions:id:<id>`     public id → owner and hash, for revocation by id;
 * - `sessions:user:<id>`   the user's sessions (public id, hash, creation), for listing and the limit;
 *                          changed only under `sessions:lock:<userId>`.
 */

/** What a session is (no plaintext personal data: the client address is sealed, the device a coarse summary). */
export interface SessionRecord {
  id: string;
  userId: string;
  orgId: string | null;
  amr: string[];
  authTimeMs: number;
  createdMs: number;
  absoluteExpiresMs: number;
  /** Owner, admin or platform administrator when it began: the shorter idle timeout applies. */
  privileged: boolean;
  device: string;
  /** AES-256-GCM envelope (base64) of the client address, bound to this session id. */
  ipSealed: string | null;
  /** The synchronizer token (256 random bits, base64url). */
  csrfSecret: string;
}

export interface IndexEntry {
  id: string;
  hash: string;
  createdMs: number;
}

const recordKey = (hash: string) => `sessions:rec:${hash}`;
const seenKey = (hash: string) => `sessions:seen:${hash}`;
const pointerKey = (id: string) => `sessions:id:${id}`;
const userKey = (userId: string) => `sessions:user:${userId}`;
const lockKey = (userId: string) => `sessions:lock:${userId}`;

/** Index changes are a few store calls; a lock held longer than this belongs to a dead process. */
const LOCK_TTL_MS = 5_000;
const LOCK_ATTEMPTS = 40;
const LOCK_RETRY_MS = 25;

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('base64url');

const parse = <T>(raw: string | null | undefined): T | undefined => {
  if (raw === null || raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    // A value we cannot read is treated as absent: the session is simply not there.
    return undefined;
  }
};

const ttlSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function createBrowserSessionStore(store: Pick<Store, 'get' | 'getMany' | 'set' | 'delete' | 'acquireLock' | 'releaseLock'>) {
  return {
    /** The record and its last activity in one round trip. */
    async load(hash: string): Promise<{ record: SessionRecord; lastSeenMs: number | null } | undefined> {
      const [rawRecord, rawSeen] = await store.getMany([recordKey(hash), seenKey(hash)]);
      const record = parse<SessionRecord>(rawRecord);
      if (!record) return undefined;
      const seen = rawSeen === null || rawSeen === undefined ? null : Number(rawSeen);
      return { record, lastSeenMs: seen !== null && Number.isFinite(seen) ? seen : null };
    },

    /** Records a new session; the record and pointer live until the absolute deadline, activity until idle. */
    async save(hash: string, record: SessionRecord, nowMs: number, idleTtlMs: number): Promise<void> {
      const lifeMs = record.absoluteExpiresMs - nowMs;
      await store.set(recordKey(hash), JSON.stringify(record), ttlSeconds(lifeMs));
      await store.set(pointerKey(record.id), JSON.stringify({ userId: record.userId, hash }), ttlSeconds(lifeMs));
      await store.set(seenKey(hash), String(nowMs), ttlSeconds(Math.min(lifeMs, idleTtlMs)));
    },

    async touch(hash: string, nowMs: number, ttlMs: number): Promise<void> {
      await store.set(seenKey(hash), String(nowMs), ttlSeconds(ttlMs));
    },

    /** Ends a session: the record first (it alone makes a session valid), then what hangs off it. */
    async remove(hash: string, id: string): Promise<void> {
      await store.delete(recordKey(hash));
      await store.delete(seenKey(hash));
      await store.delete(pointerKey(id));
    },

    async pointer(id: string): Promise<{ userId: string; hash: string } | undefined> {
      return parse<{ userId: string; hash: string }>(await store.get(pointerKey(id)));
    },

    /** The user's sessions whose records still exist, oldest first, with the records. */
    async listLive(userId: string): Promise<Array<IndexEntry & { record: SessionRecord; lastSeenMs: number | null }>> {
      const entries = parse<IndexEntry[]>(await store.get(userKey(userId))) ?? [];
      if (entries.length === 0) return [];
      const raw = await store.getMany(entries.flatMap((entry) => [recordKey(entry.hash), seenKey(entry.hash)]));
      return entries
        .flatMap((entry, index) => {
          const record = parse<SessionRecord>(raw[index * 2]);
          const seen = raw[index * 2 + 1];
          return record ? [{ ...entry, record, lastSeenMs: seen ? Number(seen) : null }] : [];
        })
        .sort((a, b) => a.createdMs - b.createdMs);
    },

    async writeIndex(userId: string, entries: readonly IndexEntry[], ttlMs: number): Promise<void> {
      if (entries.length === 0) await store.delete(userKey(userId));
      else await store.set(userKey(userId), JSON.stringify(entries), ttlSeconds(ttlMs));
    },

    /**
     * Runs `work` holding the user's index lock (two sign-ins at once must not lose each other's
     * entry). Waits briefly for a busy lock; a lock that stays busy answers 503 rather than guessing.
     */
    async withUserLock<T>(userId: string, work: () => Promise<T>): Promise<T> {
      for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt += 1) {
        const token = await store.acquireLock(lockKey(userId), LOCK_TTL_MS);
        if (token) {
          try {
            return await work();
          } finally {
            await store.releaseLock(lockKey(userId), token);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
      }
      throw new AppError(503, 'service_unavailable', { detail: 'Sessions are busy; try again.', headers: { 'retry-after': '1' } });
    },
  };
}

export type BrowserSessionStore = ReturnType<typeof createBrowserSessionStore>;
