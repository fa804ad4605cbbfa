import type { Clock } from '../../platform/clock.js';
import { timestampOfId } from '../../platform/ids.js';
import type { Store } from '../../platform/stores/store.js';

/**
 * Ended logins, so their access tokens stop working at once (ASVS V7.4.1) instead of living out
 * their ten minutes. Markers live in the shared store only as long as any access token can
 * (the policy caps access-token lifetime at one hour).
 */
const MARKER_TTL_SECONDS = 3600 + 60;
const sessionKey = (sessionId: string) => `auth:session-ended:${sessionId}`;
const userKey = (userId: string) => `auth:sessions-ended-before:${userId}`;

export function createSessionRevocations(deps: { store: Pick<Store, 'getMany' | 'set'>; clock: Pick<Clock, 'nowMs'> }) {
  return {
    async endSession(sessionId: string): Promise<void> {
      await deps.store.set(sessionKey(sessionId), '1', MARKER_TTL_SECONDS);
    },
    /** Every login of the user that began before now is over. */
    async endAllSessions(userId: string): Promise<void> {
      await deps.store.set(userKey(userId), String(deps.clock.nowMs()), MARKER_TTL_SECONDS);
    },
    async isEnded(userId: string, sessionId: string): Promise<boolean> {
      const [session = null, before = null] = await deps.store.getMany([sessionKey(sessionId), userKey(userId)]);
      if (session !== null) return true;
      // Session ids are UUIDv7: their first bits say when the login began.
      return before !== null && !(timestampOfId(sessionId) > Number(before));
    },
  };
}

export type SessionRevocations = ReturnType<typeof createSessionRevocations>;
