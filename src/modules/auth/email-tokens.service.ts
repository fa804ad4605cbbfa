import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { normaliseEmail, type BlindIndex } from '../../platform/crypto/index.js';
import { newId } from '../../platform/ids.js';
import type { EmailTokenPurpose, OrgRole } from '../../db/schema.js';
import { EMAIL_INDEX_PURPOSE } from '../users/users.repo.js';
import type { EmailTokenScope, EmailTokensRepo } from './email-tokens.repo.js';

/** 256 random bits, base64url: 43 characters. */
const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

export interface IssueEmailToken {
  purpose: EmailTokenPurpose;
  email: string;
  ttlSeconds: number;
  userId?: string | null;
  orgId?: string | null;
  role?: OrgRole | null;
  payload?: unknown;
  createdBy?: string | null;
}

/**
 * Single-use tokens sent by mail (invitations, password resets, registration confirmations). The
 * token is returned once, to go into the mail; only its SHA-256 digest is kept (256 random bits make a
 * keyed hash unnecessary: a dump gives nothing to guess against).
 */
export function createEmailTokensService(deps: {
  db: Db;
  emailTokensRepo: EmailTokensRepo;
  blindIndex: Pick<BlindIndex, 'compute' | 'computeAll'>;
  clock: Pick<Clock, 'now'>;
}) {
  return {
    emailIndexOf: (email: string) => deps.blindIndex.compute(normaliseEmail(email), EMAIL_INDEX_PURPOSE),

    async issue(tx: Tx, input: IssueEmailToken): Promise<{ id: string; token: string; createdAt: Date; expiresAt: Date }> {
      const token = randomBytes(TOKEN_BYTES).toString('base64url');
      const now = deps.clock.now();
      const id = newId();
      const expiresAt = new Date(now.getTime() + input.ttlSeconds * 1000);
      await deps.emailTokensRepo.insert(tx, {
        id,
        purpose: input.purpose,
        tokenHash: digest(token),
        email: input.email,
        emailIndex: deps.blindIndex.compute(normaliseEmail(input.email), EMAIL_INDEX_PURPOSE),
        userId: input.userId ?? null,
        orgId: input.orgId ?? null,
        role: input.role ?? null,
        payload: input.payload ?? null,
        createdBy: input.createdBy ?? null,
        createdAt: now,
        expiresAt,
      });
      return { id, token, createdAt: now, expiresAt };
    },

    /** Uses a token once: the open row, or undefined for anything else (malformed, unknown, used, revoked, expired). */
    async consume(tx: Tx, purpose: EmailTokenPurpose, token: string, usedBy: string | null = null) {
      if (!TOKEN_PATTERN.test(token)) return undefined;
      return deps.emailTokensRepo.consume(tx, purpose, digest(token), deps.clock.now(), usedBy);
    },

    /** Checks a token without using it (e.g. before hashing a new password outside the transaction). */
    async peek(purpose: EmailTokenPurpose, token: string) {
      if (!TOKEN_PATTERN.test(token)) return undefined;
      return deps.emailTokensRepo.findOpen(deps.db, purpose, digest(token), deps.clock.now());
    },

    /**
     * Revokes open tokens of a purpose: every one sent to an email (all key versions; with `orgId`, only
     * that organisation's), of a user, or one of an organisation.
     */
    async revoke(tx: Tx, purpose: EmailTokenPurpose, scope: { email: string; orgId?: string } | Exclude<EmailTokenScope, { emailIndexes: Buffer[] }>, revokedBy: string | null) {
      const resolved: EmailTokenScope =
        'email' in scope
          ? { emailIndexes: deps.blindIndex.computeAll(normaliseEmail(scope.email), EMAIL_INDEX_PURPOSE), ...(scope.orgId === undefined ? {} : { orgId: scope.orgId }) }
          : scope;
      return deps.emailTokensRepo.revoke(tx, purpose, resolved, deps.clock.now(), revokedBy);
    },

    listForOrg: (orgId: string, purpose: EmailTokenPurpose, limit: number, beforeId: string | undefined) =>
      deps.emailTokensRepo.listForOrg(deps.db, orgId, purpose, limit, beforeId),
  };
}

export type EmailTokensService = ReturnType<typeof createEmailTokensService>;
