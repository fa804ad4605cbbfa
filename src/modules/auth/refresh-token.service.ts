import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { AppError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { createRefreshTokenRepo, type RefreshTokenRepo } from './refresh-token.repo.js';

/**
 * Refresh tokens (DESIGN §6, issue 3 item 5).
 *
 * - Opaque: `vutf_rt_` + base64url(32 random bytes) = 256 bits. Only SHA-256(token) is stored. A plain
 *   digest (not an HMAC) is enough: the input is 256 random bits, so a stolen table cannot be brute-forced
 *   back to a token, and there is no key to rotate or lose.
 * - Families: one per login (`sessionId` = the access token's `sid`). Every use rotates; the family carries
 *   the absolute lifetime (from creation) and each token an idle lifetime (capped at the absolute one).
 * - Reuse: any second use of a rotated token (no grace window) revokes the whole family, including its
 *   newest token. "Mark used" is one conditional UPDATE, so of two concurrent rotations exactly one wins;
 *   the loser sees 0 rows and is treated as reuse.
 * - Transactions: `rotate(tx, …)` never throws for a bad token; it returns an outcome, so a revocation it
 *   made is committed with the caller's transaction and the caller throws `invalidRefreshToken()` after
 *   COMMIT. `refresh(token)` does exactly that with its own transaction on `db`, for callers that have none.
 * - Disabling a user or changing their password must call `revokeAllForUser` in the same transaction; the
 *   caller minting the next access token should still check the user's status (users service), since this
 *   module does not read another module's tables.
 */

/** Token lifetimes, read on every call so a reloaded configuration applies at once. */
export interface RefreshTokenLifetimes {
  /** A token unused for this long dies (each rotation starts a new idle window). */
  idleSeconds: number;
  /** A family dies this long after its login, whatever its use. */
  absoluteSeconds: number;
}

/** The claims a new access token is minted from (copied from the login that started the family). */
export interface RefreshFamilyClaims {
  familyId: string;
  userId: string;
  sessionId: string;
  orgId: string | null;
  amr: string[];
  authTime: Date;
}

export interface IssueRefreshToken {
  userId: string;
  sessionId: string;
  orgId: string | null;
  amr: string[];
  authTime: Date;
}

export interface IssuedRefreshToken {
  /** The opaque token: hand it to the client once, never log or store it. */
  token: string;
  familyId: string;
  /** Absolute end of the family. */
  expiresAt: Date;
  /** End of this token's idle window. */
  idleExpiresAt: Date;
}

/**
 * What a rotation did. `reused` means the family was revoked in the caller's transaction: commit it, then
 * answer 401. `invalid` covers unknown, malformed, expired and revoked tokens.
 */
export type RotateResult =
  | ({ outcome: 'rotated'; family: RefreshFamilyClaims } & IssuedRefreshToken)
  | { outcome: 'reused'; familyId: string }
  | { outcome: 'invalid' };

/** Revocation reasons stored with a family. */
export type RefreshRevokeReason = 'reuse' | 'logout' | 'logout-all' | 'password-changed' | 'user-disabled' | (string & {});

const TOKEN_PREFIX = 'vutf_rt_';
const TOKEN_PATTERN = /^vutf_rt_[A-Za-z0-9_-]{43}$/;

const hashToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** The one error for every refresh failure: the detail never tells which check failed. */
export const invalidRefreshToken = () =>
  new AppError(401, 'invalid_refresh_token', { detail: 'The refresh token is invalid or expired.' });

const asStringArray = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

export function createRefreshTokenService(deps: {
  db: Pick<Db, 'transaction'>;
  clock: Clock;
  lifetimes: () => RefreshTokenLifetimes;
  repo?: RefreshTokenRepo;
}) {
  const repo = deps.repo ?? createRefreshTokenRepo();

  const lifetimesMs = () => {
    const { idleSeconds, absoluteSeconds } = deps.lifetimes();
    if (!(idleSeconds > 0) || !(absoluteSeconds > 0)) throw new Error('Refresh token lifetimes must be positive.');
    return { idleMs: idleSeconds * 1000, absoluteMs: absoluteSeconds * 1000 };
  };

  /** A fresh token of a family (not yet stored); its idle window never outlives the family. */
  function newToken(familyId: string, familyExpiresAt: Date, now: Date, id = newId()) {
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const idleExpiresAt = new Date(Math.min(now.getTime() + lifetimesMs().idleMs, familyExpiresAt.getTime()));
    return { row: { id, familyId, tokenHash: hashToken(token), createdAt: now, idleExpiresAt }, issued: { token, familyId, expiresAt: familyExpiresAt, idleExpiresAt } };
  }

  async function mintToken(tx: Tx, familyId: string, familyExpiresAt: Date, now: Date, id = newId()) {
    const { row, issued } = newToken(familyId, familyExpiresAt, now, id);
    await repo.insertToken(tx, row);
    return issued;
  }

  async function rotate(tx: Tx, presentedToken: string): Promise<RotateResult> {
    if (!TOKEN_PATTERN.test(presentedToken)) return { outcome: 'invalid' };
    const now = deps.clock.now();
    const row = await repo.findByHash(tx, hashToken(presentedToken));
    if (!row) return { outcome: 'invalid' };

    // Second use of a rotated token: someone holds a copy. Kill the family (a no-op if already revoked).
    if (row.usedAt !== null) {
      await repo.revokeFamily(tx, row.familyId, 'reuse', now);
      return { outcome: 'reused', familyId: row.familyId };
    }
    if (row.revokedAt !== null) return { outcome: 'invalid' };
    if (now.getTime() >= row.expiresAt.getTime() || now.getTime() >= row.idleExpiresAt.getTime()) return { outcome: 'invalid' };

    const successorId = newId();
    if (!(await repo.markUsed(tx, row.id, successorId, now))) {
      // Lost a race with a concurrent rotation of the same token: that is a second use too.
      await repo.revokeFamily(tx, row.familyId, 'reuse', now);
      return { outcome: 'reused', familyId: row.familyId };
    }
    // Revoked or expired between our read and now (a concurrent logout or reuse): no successor.
    if (!(await repo.touchLiveFamily(tx, row.familyId, now))) return { outcome: 'invalid' };

    const issued = await mintToken(tx, row.familyId, row.expiresAt, now, successorId);
    return {
      outcome: 'rotated',
      ...issued,
      family: {
        familyId: row.familyId,
        userId: row.userId,
        sessionId: row.sessionId,
        orgId: row.orgId,
        amr: asStringArray(row.amr),
        authTime: row.authTime,
      },
    };
  }

  return {
    /** Starts a family at login and returns its first token. */
    async issue(tx: Tx, input: IssueRefreshToken): Promise<IssuedRefreshToken> {
      const now = deps.clock.now();
      const familyId = newId();
      const expiresAt = new Date(now.getTime() + lifetimesMs().absoluteMs);
      const { row, issued } = newToken(familyId, expiresAt, now);
      await repo.insertFamilyWithToken(tx, { id: familyId, ...input, createdAt: now, expiresAt }, row);
      return issued;
    },

    rotate,

    /**
     * `rotate` in its own transaction: the reuse revocation commits, then a 401 is thrown. Use it where
     * the caller has no transaction of its own (the refresh endpoint).
     */
    async refresh(presentedToken: string): Promise<Extract<RotateResult, { outcome: 'rotated' }>> {
      const result = await deps.db.transaction().execute((tx) => rotate(tx, presentedToken));
      if (result.outcome !== 'rotated') throw invalidRefreshToken();
      return result;
    },

    /** Revokes one family (logout of one session, or reuse). Returns whether a live family was revoked. */
    async revokeFamily(tx: Tx, familyId: string, reason: RefreshRevokeReason): Promise<boolean> {
      return (await repo.revokeFamily(tx, familyId, reason, deps.clock.now())) > 0;
    },

    /** Logout: revokes the family of the access token's `sid`. */
    async revokeSession(tx: Tx, userId: string, sessionId: string, reason: RefreshRevokeReason = 'logout'): Promise<boolean> {
      return (await repo.revokeSession(tx, userId, sessionId, reason, deps.clock.now())) > 0;
    },

    /** Logout-all, password change, disabling: every live family of the user. Returns how many. */
    async revokeAllForUser(tx: Tx, userId: string, reason: RefreshRevokeReason): Promise<number> {
      return repo.revokeAllForUser(tx, userId, reason, deps.clock.now());
    },
  };
}

export type RefreshTokenService = ReturnType<typeof createRefreshTokenService>;
