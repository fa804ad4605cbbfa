import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../platform/clock.js';
import type { BlindIndex } from '../../platform/crypto/index.js';
import type { Tx } from '../../platform/db/transaction.js';
import { AppError, errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { Principal } from '../../http/principal.js';
import { decodeCursor, toPage, type PaginationParams } from '../../http/pagination.js';
import { normaliseName } from '../../http/schemas.js';
import { ALL_PERMISSIONS, SELF_PERMISSIONS } from '../auth/permissions.js';
import type { ApiKey, ApiKeysRepo } from './api-keys.repo.js';

/** Every key starts with this, so secret scanners and people recognise one. */
export const API_KEY_PREFIX = 'vutf_';
/** Clear lookup prefix: 9 random bytes, 12 base64url characters, stored and shown to find the key. */
const LOOKUP_BYTES = 9;
/** The secret part: 256 random bits (43 base64url characters), never stored, shown once. */
const SECRET_BYTES = 32;
/** The whole presented key, checked before any lookup. */
export const API_KEY_PATTERN = /^vutf_([A-Za-z0-9_-]{12})[A-Za-z0-9_-]{43}$/;
/** Blind-index purpose of the key hash (changing it orphans every stored key). */
export const API_KEY_HASH_PURPOSE = 'api-keys.secret';

const SELF = new Set<string>(SELF_PERMISSIONS);

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  expiresAt: string | null;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  revokedAt: string | null;
  createdAt: string;
}

export interface NewApiKeyView {
  id: string;
  name: string;
  key: string;
  prefix: string;
  scopes: string[];
  expiresAt: string | null;
  createdAt: string;
}

const displayPrefix = (lookupPrefix: string) => `${API_KEY_PREFIX}${lookupPrefix}`;

export const toApiKeyView = (key: ApiKey): ApiKeyView => ({
  id: key.id,
  name: key.name,
  prefix: displayPrefix(key.lookupPrefix),
  scopes: key.scopes,
  expiresAt: key.expiresAt?.toISOString() ?? null,
  lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
  lastUsedIp: key.lastUsedIp,
  revokedAt: key.revokedAt?.toISOString() ?? null,
  createdAt: key.createdAt.toISOString(),
});

const toNewKeyView = (key: ApiKey, secret: string): NewApiKeyView => ({
  id: key.id,
  name: key.name,
  key: secret,
  prefix: displayPrefix(key.lookupPrefix),
  scopes: key.scopes,
  expiresAt: key.expiresAt?.toISOString() ?? null,
  createdAt: key.createdAt.toISOString(),
});

/** The keyed hashes to compare a presented key against (every blind-index key version, current first). */
export const hashesOf = (blindIndex: BlindIndex, key: string): Buffer[] => blindIndex.computeAll(key, API_KEY_HASH_PURPOSE);

/** Constant-time: whether the stored hash matches any of the presented key's hashes. */
export function matchesHash(stored: Buffer, candidates: readonly Buffer[]): boolean {
  let match = false;
  for (const candidate of candidates) {
    if (candidate.length === stored.length && timingSafeEqual(candidate, stored)) match = true;
  }
  return match;
}

export function createApiKeysService(deps: { apiKeysRepo: ApiKeysRepo; blindIndex: BlindIndex; clock: Clock }) {
  /** Who may mint a key: a signed-in user acting in an organisation (a key never mints keys: no lifetime laundering). */
  const creatorOf = (principal: Principal) => {
    if (principal.type !== 'user' || !principal.userId) throw errors.forbidden('API keys are created by a signed-in user, not by another credential.');
    if (!principal.orgId) throw errors.forbidden('Act in an organisation (X-Organization-Id) to manage its API keys.');
    return { userId: principal.userId, orgId: principal.orgId };
  };

  const orgOf = (principal: Principal) => {
    if (!principal.orgId) throw errors.notFound('API key');
    return principal.orgId;
  };

  /**
   * Scopes must be permissions the creator holds now; `self:*` never (a key cannot change its owner's
   * password or read the account); platform permissions only if the creator holds them (they do not otherwise).
   */
  function checkScopes(principal: Principal, scopes: readonly string[]): string[] {
    const unique = [...new Set(scopes)];
    const problems = unique.flatMap((scope) => {
      const pointer = `/scopes/${scopes.indexOf(scope)}`;
      if (SELF.has(scope)) return [{ in: 'body', pointer, detail: `Scope "${scope}" cannot be given to an API key.` }];
      if (!ALL_PERMISSIONS.has(scope)) return [{ in: 'body', pointer, detail: `Scope "${scope}" is not a known permission.` }];
      if (!principal.permissions.has(scope)) return [{ in: 'body', pointer, detail: `Scope "${scope}" is not among your current permissions.` }];
      return [];
    });
    if (problems.length > 0) throw new AppError(422, 'invalid_scope', { detail: problems.map((problem) => problem.detail).join(' '), errors: problems });
    return unique.sort();
  }

  function checkExpiry(expiresAt: Date | null, now: Date, pointer = '/expiresAt') {
    if (expiresAt && expiresAt.getTime() <= now.getTime()) {
      throw errors.validation([{ in: 'body', pointer, detail: 'expiresAt must be in the future.' }]);
    }
  }

  /**
   * Inserts a fresh key. The lookup prefix has 72 random bits, so a clash with a live key is
   * practically impossible (about n²/2⁷³); the unique index still refuses one rather than
   * letting two live keys share a prefix.
   */
  async function mint(tx: Tx, values: { orgId: string; userId: string; name: string; scopes: string[]; expiresAt: Date | null }, now: Date) {
    const lookupPrefix = randomBytes(LOOKUP_BYTES).toString('base64url');
    const secret = `${API_KEY_PREFIX}${lookupPrefix}${randomBytes(SECRET_BYTES).toString('base64url')}`;
    const secretHash = deps.blindIndex.compute(secret, API_KEY_HASH_PURPOSE);
    const key = await deps.apiKeysRepo.insert(tx, newId(), { ...values, lookupPrefix, secretHash }, values.userId, now);
    return toNewKeyView(key, secret);
  }

  return {
    async create(tx: Tx, principal: Principal, input: { name: string; scopes: string[]; expiresAt?: string | undefined }): Promise<NewApiKeyView> {
      const { userId, orgId } = creatorOf(principal);
      const now = deps.clock.now();
      const scopes = checkScopes(principal, input.scopes);
      const expiresAt = input.expiresAt === undefined ? null : new Date(input.expiresAt);
      checkExpiry(expiresAt, now);
      return mint(tx, { orgId, userId, name: normaliseName(input.name), scopes, expiresAt }, now);
    },

    async list(principal: Principal, page: PaginationParams) {
      const orgId = orgOf(principal);
      const [afterId] = decodeCursor(page.cursor, 1) ?? [];
      const rows = await deps.apiKeysRepo.listForOrg(orgId, page.limit, afterId as string | undefined);
      return toPage(rows, page.limit, (key) => [key.id], toApiKeyView);
    },

    /** Revokes a key of the caller's organisation (already revoked: nothing to do); any other org's: 404. */
    async revoke(tx: Tx, principal: Principal, id: string): Promise<void> {
      const key = await deps.apiKeysRepo.findInOrg(tx, orgOf(principal), id);
      if (!key) throw errors.notFound('API key');
      if (key.revokedAt) return;
      await deps.apiKeysRepo.revoke(tx, id, principal.userId ?? null, deps.clock.now());
    },

    /**
     * Revokes the key and issues a new secret with the same name, scopes and expiry. The new key
     * belongs to whoever rotates (they hold its secret), and its scopes must still be theirs.
     */
    async rotate(tx: Tx, principal: Principal, id: string): Promise<NewApiKeyView> {
      const { userId, orgId } = creatorOf(principal);
      const key = await deps.apiKeysRepo.findInOrg(tx, orgId, id);
      if (!key) throw errors.notFound('API key');
      const now = deps.clock.now();
      if (key.revokedAt) throw errors.conflict('api_key_revoked', 'This API key is revoked; create a new one.');
      if (key.expiresAt && key.expiresAt.getTime() <= now.getTime()) throw errors.conflict('api_key_expired', 'This API key has expired; create a new one.');
      const scopes = checkScopes(principal, key.scopes);
      // The compare-and-set decides between two concurrent rotations: the loser gets 409.
      if (!(await deps.apiKeysRepo.revoke(tx, id, userId, now))) throw errors.conflict('api_key_revoked', 'This API key is revoked; create a new one.');
      return mint(tx, { orgId, userId, name: key.name, scopes, expiresAt: key.expiresAt }, now);
    },
  };
}

export type ApiKeysService = ReturnType<typeof createApiKeysService>;
