import type { Clock } from '../../platform/clock.js';
import { timestampOfId } from '../../platform/ids.js';
import { createLocalLayer } from '../../platform/stores/local-layer.js';
import type { Store } from '../../platform/stores/store.js';

/**
 * Ended logins, so their access tokens stop working at once (ASVS V7.4.1) instead of living out
 * their ten minutes. Markers live in the shared store only as long as any access token can
 * (the policy caps access-token lifetime at one hour).
 */
const MARKER_TTL_SECONDS = 3600 + 60;
const sessionKey = (sessionId: string) => `auth:session-ended:${sessionId}`;
const userKey = (userId: string) => `auth:sessions-ended-before:${userId}`;
// Local copies and invalidation messages share these names: a message is the key whose copy to drop.
const localSession = (sessionId: string) => `s:${sessionId}`;
const localUser = (userId: string) => `u:${userId}`;

/**
 * Every authenticated request asks whether its login has ended, so the answers are also kept in this
 * process for a few seconds (platform/stores/local-layer.ts: same rules and race analysis as the
 * versioned caches). Ending a login writes the marker, then drops the local copy and publishes its
 * key, so logout and logout-all apply at once in this process and within the pub/sub latency in the
 * others; while the channel is not live every check reads the shared store. Only "no marker" is kept
 * for a session (an ended session is rare, and its tokens answer 401 from the store anyway); for a
 * user, the "ended before" time or its absence, which serves every session of theirs.
 */
export function createSessionRevocations(deps: { store: Pick<Store, 'getMany' | 'set' | 'publish' | 'subscribe'>; clock: Pick<Clock, 'nowMs'> }) {
  const local = createLocalLayer<string | null>({ store: deps.store, channel: 'auth:sessions-ended', clock: deps.clock });

  const ended = (sessionMarker: string | null, before: string | null, sessionId: string) => {
    if (sessionMarker !== null) return true;
    // Session ids are UUIDv7: their first bits say when the login began.
    return before !== null && !(timestampOfId(sessionId) > Number(before));
  };

  return {
    async endSession(sessionId: string): Promise<void> {
      await deps.store.set(sessionKey(sessionId), '1', MARKER_TTL_SECONDS);
      await local.announce(localSession(sessionId));
    },
    /** Every login of the user that began before now is over. */
    async endAllSessions(userId: string): Promise<void> {
      await deps.store.set(userKey(userId), String(deps.clock.nowMs()), MARKER_TTL_SECONDS);
      await local.announce(localUser(userId));
    },
    async isEnded(userId: string, sessionId: string): Promise<boolean> {
      const session = local.get(localSession(sessionId));
      const user = local.get(localUser(userId));
      if (session && user) return ended(session.value, user.value, sessionId);
      const snapshot = local.snapshot();
      const [sessionMarker = null, before = null] = await deps.store.getMany([sessionKey(sessionId), userKey(userId)]);
      if (sessionMarker === null) local.remember(localSession(sessionId), null, snapshot);
      local.remember(localUser(userId), before, snapshot);
      return ended(sessionMarker, before, sessionId);
    },
  };
}

export type SessionRevocations = ReturnType<typeof createSessionRevocations>;
