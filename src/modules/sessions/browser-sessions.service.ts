import { randomBytes } from 'node:crypto';
import type { Policy } from '../../config/policy.schema.js';
import type { Clock } from '../../platform/clock.js';
import type { FieldCipher } from '../../platform/crypto/index.js';
import { errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { AccessService, ResolvedAccess } from '../auth/access.service.js';
import type { AuditContext, AuditRecorder } from '../audit/audit.recorder.js';
import { hashToken, type BrowserSessionStore, type IndexEntry, type SessionRecord } from './browser-sessions.store.js';
import { deviceSummary } from './device.js';
import { SESSION_TOKEN_PATTERN } from './session-cookie.js';

/** Last activity is written at most this often per session (it is a store write per request otherwise). */
const TOUCH_INTERVAL_MS = 60_000;
const TOKEN_BYTES = 32;

/** What a completed sign-in hands to a browser session. */
export interface BrowserSessionLogin {
  userId: string;
  orgId: string | null;
  /** RFC 8176 methods of the sign-in (`pwd`, `otp`, `mfa`...). */
  amr: readonly string[];
  /** When the user last proved who they are (the MFA's time after an MFA sign-in). */
  authTime: Date;
}

export interface StartedBrowserSession {
  /** The cookie value: returned to the route to set as the cookie, never stored or logged. */
  token: string;
  id: string;
  expiresAt: Date;
  csrfToken: string;
  idleTimeoutSeconds: number;
}

export interface SessionView {
  id: string;
  device: string;
  ip: string | null;
  createdAt: string;
  lastSeenAt: string | null;
  expiresAt: string;
  authTime: string;
  amr: string[];
  current: boolean;
}

/** A live session as the cookie authenticator sees it. */
export interface FoundSession {
  hash: string;
  record: SessionRecord;
  lastSeenMs: number;
}

export type FindOutcome = { ok: true; session: FoundSession } | { ok: false; reason: 'malformed' | 'unknown' | 'idle' | 'absolute' };

/** Owners, admins and platform administrators get the shorter idle timeout (DESIGN §7). */
export const isPrivileged = (access: Pick<ResolvedAccess, 'orgRole' | 'permissions'>): boolean =>
  access.orgRole === 'owner' || access.orgRole === 'admin' || access.permissions.has('platform:users:manage');

const ipContext = (id: string) => ({ table: 'browser-sessions', column: 'ip', rowId: id });

/**
 * Server-side browser sessions (issue 8 §6, ASVS V7): created at sign-in with a fresh 256-bit id
 * (never one the client offered), idle and absolute deadlines from the policy on the injectable clock,
 * a per-user limit that ends the oldest sessions, listing and revocation.
 *
 * Privilege changes END the user's browser sessions instead of rotating them (documented choice): the
 * change is made by someone else's request, so there is no response in which to hand the user a new
 * id, and a lazy rotation on their next request would race with the console's parallel requests. The
 * user signs in again and gets a new id, which is what rotation would have achieved.
 */
export function createBrowserSessionService(deps: {
  sessionStore: BrowserSessionStore;
  clock: Pick<Clock, 'nowMs'>;
  cipher: Pick<FieldCipher, 'encrypt' | 'decrypt'>;
  access: Pick<AccessService, 'resolve'>;
  audit: Pick<AuditRecorder, 'recordNow'>;
  policy: () => Policy['sessions'];
}) {
  const { sessionStore } = deps;
  const idleMs = (privileged: boolean) => {
    const policy = deps.policy();
    return (privileged ? Math.min(policy.privilegedIdleTimeoutMinutes, policy.idleTimeoutMinutes) : policy.idleTimeoutMinutes) * 60_000;
  };
  // Activity must outlive the longest idle timeout that may apply, plus one touch interval.
  const activityTtlMs = () => {
    const policy = deps.policy();
    return Math.max(policy.idleTimeoutMinutes, policy.privilegedIdleTimeoutMinutes) * 60_000 + TOUCH_INTERVAL_MS;
  };
  // A write at most every quarter of the idle timeout: expiry comes at most that much early, never late.
  const touchIntervalMs = (privileged: boolean) => Math.min(TOUCH_INTERVAL_MS, idleMs(privileged) / 4);

  const expiry = (record: SessionRecord, lastSeenMs: number | null, privileged: boolean, nowMs: number): 'idle' | 'absolute' | null => {
    if (nowMs >= record.absoluteExpiresMs) return 'absolute';
    if (lastSeenMs === null || nowMs - lastSeenMs >= idleMs(privileged)) return 'idle';
    return null;
  };

  const signedIn = (origin: AuditContext, login: BrowserSessionLogin): AuditContext => ({ ...origin, actor: { type: 'user', id: login.userId }, orgId: login.orgId });

  async function endByToken(token: string): Promise<void> {
    if (!SESSION_TOKEN_PATTERN.test(token)) return;
    const hash = hashToken(token);
    const loaded = await sessionStore.load(hash);
    if (loaded) await sessionStore.remove(hash, loaded.record.id);
  }

  return {
    /**
     * Starts a browser session for a completed sign-in (password, or password and MFA). The one entry
     * point for every sign-in flow that delivers a cookie (`mode: "cookie"`). A cookie the browser
     * already held (`previousToken`) dies here: a fixed or stale id never survives a sign-in (V7.2.4).
     * Beyond the per-user limit the oldest sessions end, each with its own audit event.
     */
    async start(login: BrowserSessionLogin, origin: AuditContext, previousToken?: string): Promise<StartedBrowserSession> {
      const policy = deps.policy();
      const nowMs = deps.clock.nowMs();
      const resolved = await deps.access.resolve(login.userId, { tokenOrgId: login.orgId });
      if (!resolved) throw errors.unauthorized('The account cannot sign in now.');
      const token = randomBytes(TOKEN_BYTES).toString('base64url');
      const hash = hashToken(token);
      const id = newId();
      const lifeMs = policy.absoluteTimeoutHours * 3_600_000;
      const record: SessionRecord = {
        id,
        userId: login.userId,
        orgId: login.orgId,
        amr: [...login.amr],
        authTimeMs: login.authTime.getTime(),
        createdMs: nowMs,
        absoluteExpiresMs: nowMs + lifeMs,
        privileged: isPrivileged(resolved),
        device: deviceSummary(origin.userAgent),
        ipSealed: origin.ip ? deps.cipher.encrypt(origin.ip, ipContext(id)).toString('base64') : null,
        csrfSecret: randomBytes(TOKEN_BYTES).toString('base64url'),
      };
      // Before counting against the limit: the session this browser replaces must not push out another.
      if (previousToken !== undefined) await endByToken(previousToken);
      const evicted = await sessionStore.withUserLock(login.userId, async () => {
        const live = (await sessionStore.listLive(login.userId)).filter((entry) => expiry(entry.record, entry.lastSeenMs, entry.record.privileged, nowMs) === null);
        const excess = Math.max(0, live.length + 1 - policy.maxPerUser);
        const oldest = live.slice(0, excess);
        for (const entry of oldest) await sessionStore.remove(entry.hash, entry.id);
        await sessionStore.save(hash, record, nowMs, Math.min(lifeMs, activityTtlMs()));
        const kept: IndexEntry[] = live.slice(excess).map((entry) => ({ id: entry.id, hash: entry.hash, createdMs: entry.createdMs }));
        await sessionStore.writeIndex(login.userId, [...kept, { id, hash, createdMs: nowMs }], lifeMs);
        return oldest;
      });
      const context = signedIn(origin, login);
      for (const entry of evicted) {
        await deps.audit.recordNow(context, { action: 'session.evicted', resourceId: entry.id, detail: { reason: 'per-user-limit', limit: policy.maxPerUser, replacedBy: id } });
      }
      await deps.audit.recordNow(context, { action: 'session.created', resourceId: id, detail: { amr: record.amr.join(' '), device: record.device } });
      return { token, id, expiresAt: new Date(record.absoluteExpiresMs), csrfToken: record.csrfSecret, idleTimeoutSeconds: idleMs(record.privileged) / 1000 };
    },

    /** The live session behind a cookie value; an expired one is ended on the spot. */
    async find(token: string): Promise<FindOutcome> {
      if (!SESSION_TOKEN_PATTERN.test(token)) return { ok: false, reason: 'malformed' };
      const hash = hashToken(token);
      const loaded = await sessionStore.load(hash);
      if (!loaded) return { ok: false, reason: 'unknown' };
      const expired = expiry(loaded.record, loaded.lastSeenMs, loaded.record.privileged, deps.clock.nowMs());
      if (expired) {
        await sessionStore.remove(hash, loaded.record.id);
        return { ok: false, reason: expired };
      }
      return { ok: true, session: { hash, record: loaded.record, lastSeenMs: loaded.lastSeenMs! } };
    },

    /**
     * Applies the idle timeout of the caller's CURRENT grants (someone made admin since sign-in gets
     * the admin timeout) and records activity, throttled. False when the session is over.
     */
    async keepAlive(session: FoundSession, privilegedNow: boolean): Promise<boolean> {
      const nowMs = deps.clock.nowMs();
      const privileged = privilegedNow || session.record.privileged;
      if (expiry(session.record, session.lastSeenMs, privileged, nowMs)) {
        await sessionStore.remove(session.hash, session.record.id);
        return false;
      }
      if (nowMs - session.lastSeenMs >= touchIntervalMs(privileged)) {
        await sessionStore.touch(session.hash, nowMs, Math.min(session.record.absoluteExpiresMs - nowMs, activityTtlMs()));
      }
      return true;
    },

    async end(session: FoundSession): Promise<void> {
      await sessionStore.remove(session.hash, session.record.id);
    },

    /** Ends a session by public id (any owner); false when there is none. */
    async endById(id: string): Promise<boolean> {
      const pointer = await sessionStore.pointer(id);
      if (!pointer) return false;
      await sessionStore.remove(pointer.hash, id);
      return true;
    },

    /** The caller's own session by id; another user's (or none) answers 404, never 403. */
    async requireOwn(userId: string, id: string): Promise<void> {
      const pointer = await sessionStore.pointer(id);
      if (!pointer || pointer.userId !== userId) throw errors.notFound('session');
    },

    /** Ends every browser session of a user but `exceptId`; returns how many ended. */
    async endAllForUser(userId: string, exceptId?: string): Promise<number> {
      return sessionStore.withUserLock(userId, async () => {
        const live = await sessionStore.listLive(userId);
        const ending = live.filter((entry) => entry.id !== exceptId);
        for (const entry of ending) await sessionStore.remove(entry.hash, entry.id);
        const kept = live.filter((entry) => entry.id === exceptId).map(({ id, hash, createdMs }) => ({ id, hash, createdMs }));
        await sessionStore.writeIndex(userId, kept, deps.policy().absoluteTimeoutHours * 3_600_000);
        return ending.length;
      });
    },

    /** The user's live sessions, newest first; the client address is opened for its owner only. */
    async list(userId: string, currentId: string | null): Promise<SessionView[]> {
      const nowMs = deps.clock.nowMs();
      const live = (await sessionStore.listLive(userId)).filter((entry) => expiry(entry.record, entry.lastSeenMs, entry.record.privileged, nowMs) === null);
      return live.reverse().map(({ record, lastSeenMs }) => ({
        id: record.id,
        device: record.device,
        ip: record.ipSealed ? deps.cipher.decrypt(Buffer.from(record.ipSealed, 'base64'), ipContext(record.id)).toString('utf8') : null,
        createdAt: new Date(record.createdMs).toISOString(),
        lastSeenAt: lastSeenMs === null ? null : new Date(lastSeenMs).toISOString(),
        expiresAt: new Date(record.absoluteExpiresMs).toISOString(),
        authTime: new Date(record.authTimeMs).toISOString(),
        amr: record.amr,
        current: record.id === currentId,
      }));
    },
  };
}

export type BrowserSessionService = ReturnType<typeof createBrowserSessionService>;
