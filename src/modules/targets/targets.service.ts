import type { Clock } from '../../platform/clock.js';
import type { BlindIndex } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { Principal } from '../../http/principal.js';
import { decodeCursor, toPage, type PaginationParams } from '../../http/pagination.js';
import { staleError, type VersionPrecondition } from '../../http/preconditions.js';
import { normaliseName } from '../../http/schemas.js';
import { checkConfig, EMPTY_CREDENTIALS, mergeCredentials, mergeLimits } from './target-config.js';
import type { TargetRow, TargetsRepo, TargetVersionRow } from './targets.repo.js';
import { isSimulated, type CredentialsInputValue, type TargetConfigValue, type LimitsInputValue, type TargetKind } from './targets.schemas.js';
import type { SendableTarget } from './target-adapters.js';

export interface CreateTargetInput {
  name: string;
  description?: string | undefined;
  kind: TargetKind;
  config: unknown;
  limits?: LimitsInputValue | undefined;
  credentials?: CredentialsInputValue | undefined;
}

export interface UpdateTargetInput {
  name?: string | undefined;
  description?: string | null | undefined;
  config?: unknown;
  limits?: LimitsInputValue | undefined;
  credentials?: CredentialsInputValue | undefined;
}

const versionFields = (version: TargetVersionRow) => ({
  kind: version.kind,
  simulated: isSimulated(version.kind),
  // Validated against the kind's schema when the version was written (target-config.ts).
  config: version.config as TargetConfigValue,
  limits: { ...version.limits, retryStatuses: [...version.limits.retryStatuses], fatalStatuses: [...version.limits.fatalStatuses] },
  hasCredential: version.credentialMeta.length > 0,
  credentialHeaders: version.credentialMeta.map((entry) => entry.header),
});

export const toTargetView = (target: TargetRow, version: TargetVersionRow) => ({
  id: target.id,
  name: target.name,
  description: target.description,
  version: target.version,
  versionId: version.id,
  ...versionFields(version),
  createdAt: target.createdAt.toISOString(),
  updatedAt: target.updatedAt.toISOString(),
});

export const toVersionView = (version: TargetVersionRow) => ({
  id: version.id,
  targetId: version.targetId,
  number: version.number,
  ...versionFields(version),
  createdAt: version.createdAt.toISOString(),
  createdBy: version.createdBy,
});

export type TargetView = ReturnType<typeof toTargetView>;

const isUniqueViolation = (error: unknown) => (error as { code?: string }).code === '23505';
const nameTaken = () => errors.conflict('target_name_taken', 'Another target of this organisation has that name.');

/**
 * Targets (issue 5 §1): org-scoped, versioned (every change is a new immutable version and the target
 * points at its current one), credentials write-only. Another organisation's target answers 404.
 */
export function createTargetsService(deps: { db: Db; targetsRepo: TargetsRepo; blindIndex: BlindIndex; clock: Clock }) {
  const { targetsRepo: repo } = deps;

  const orgOf = (principal: Principal) => {
    if (!principal.orgId) throw errors.notFound('target');
    return principal.orgId;
  };
  const actorOf = (principal: Principal) => principal.userId ?? null;

  async function load(executor: Db | Tx, orgId: string, id: string) {
    const target = await repo.findTarget(executor, orgId, id);
    if (!target) throw errors.notFound('target');
    const version = await repo.findVersion(executor, orgId, target.currentVersionId);
    if (!version) throw errors.notFound('target');
    return { target, version };
  }

  return {
    async create(tx: Tx, principal: Principal, input: CreateTargetInput) {
      const orgId = orgOf(principal);
      const now = deps.clock.now();
      const userId = actorOf(principal);
      const config = checkConfig(input.kind, input.config);
      const limits = mergeLimits(input.limits);
      const credentials = mergeCredentials(deps, input.kind, config, EMPTY_CREDENTIALS, input.credentials, { userId, now });
      const id = newId();
      const versionId = newId();
      const values = { id, orgId, name: normaliseName(input.name), description: input.description === undefined ? null : normaliseName(input.description), kind: input.kind, currentVersionId: versionId };
      const target = await repo.insertTarget(tx, values, userId, now).catch((error: unknown) => {
        throw isUniqueViolation(error) ? nameTaken() : error;
      });
      const version = await repo.insertVersion(
        tx,
        { id: versionId, orgId, targetId: id, number: target.version, kind: input.kind, config, limits, credentials: credentials.values, credentialMeta: credentials.meta },
        userId,
        now,
      );
      return toTargetView(target, version);
    },

    async list(principal: Principal, page: PaginationParams) {
      const orgId = orgOf(principal);
      const [afterId] = decodeCursor(page.cursor, 1) ?? [];
      const rows = await repo.listTargets(orgId, page.limit, afterId as string | undefined);
      const versions = new Map((await repo.findVersions(orgId, rows.map((row) => row.currentVersionId))).map((version) => [version.id, version]));
      const items = rows.map((target) => {
        const version = versions.get(target.currentVersionId);
        if (!version) throw errors.notFound('target');
        return { target, version };
      });
      return toPage(items, page.limit, (item) => [item.target.id], (item) => toTargetView(item.target, item.version));
    },

    async get(principal: Principal, id: string) {
      const { target, version } = await load(deps.db, orgOf(principal), id);
      return toTargetView(target, version);
    },

    async versions(principal: Principal, id: string, page: PaginationParams) {
      const orgId = orgOf(principal);
      const { target } = await load(deps.db, orgId, id);
      const [before] = decodeCursor(page.cursor, 1) ?? [];
      if (before !== undefined && typeof before !== 'number') throw errors.badRequest('invalid_cursor', 'The cursor is not one this API issued.');
      const rows = await repo.listVersions(orgId, target.id, page.limit, before);
      return toPage(rows, page.limit, (version) => [version.number], toVersionView);
    },

    /** Which secret headers are set, when and by whom, with a keyed fingerprint; never a value. */
    async credentialsMetadata(principal: Principal, id: string) {
      const { target, version } = await load(deps.db, orgOf(principal), id);
      return { targetId: target.id, versionId: version.id, credentials: version.credentialMeta };
    },

    /** Every change is a new version; the target row moves to it only if `precondition` still holds. */
    async update(tx: Tx, principal: Principal, id: string, input: UpdateTargetInput, precondition: VersionPrecondition) {
      const orgId = orgOf(principal);
      const now = deps.clock.now();
      const userId = actorOf(principal);
      const { target, version: previous } = await load(tx, orgId, id);
      if (precondition.version !== target.version) throw staleError(precondition);
      const kind = previous.kind;
      const config = input.config === undefined ? previous.config : checkConfig(kind, input.config, previous.config);
      const limits = mergeLimits(input.limits, previous.limits);
      const before = { values: await repo.credentialsOf(tx, orgId, previous.id), meta: previous.credentialMeta };
      const credentials = mergeCredentials(deps, kind, config, before, input.credentials, { userId, now });
      const versionId = newId();
      const name = input.name === undefined ? target.name : normaliseName(input.name);
      const description = input.description === undefined ? target.description : input.description === null ? null : normaliseName(input.description);
      const updated = await repo.advance(tx, orgId, id, target.version, { name, description, currentVersionId: versionId }, userId, now).catch((error: unknown) => {
        throw isUniqueViolation(error) ? nameTaken() : error;
      });
      if (!updated) throw staleError(precondition);
      const version = await repo.insertVersion(
        tx,
        { id: versionId, orgId, targetId: id, number: updated.version, kind, config, limits, credentials: credentials.values, credentialMeta: credentials.meta },
        userId,
        now,
      );
      return toTargetView(updated, version);
    },

    /** Soft delete: versions stay (scans and findings refer to them); the target leaves every list. */
    async remove(tx: Tx, principal: Principal, id: string, precondition: VersionPrecondition | undefined) {
      const orgId = orgOf(principal);
      const target = await repo.findTarget(tx, orgId, id);
      if (!target) throw errors.notFound('target');
      if (precondition && precondition.version !== target.version) throw staleError(precondition);
      if (!(await repo.softDelete(tx, orgId, id, actorOf(principal), deps.clock.now()))) throw errors.notFound('target');
    },

    /** The current version with its decrypted credentials, for the send path only (never a response). */
    async sendable(orgId: string, id: string): Promise<SendableTarget> {
      const { target, version } = await load(deps.db, orgId, id);
      const credentials = await repo.credentialsOf(deps.db, orgId, version.id);
      return { id: target.id, versionId: version.id, kind: version.kind, config: version.config, limits: version.limits, credentials };
    },

    /**
     * One exact version (a scan's frozen one), even after the target moved on or was deleted: evidence
     * must come from the configuration the plan names. 404 for another organisation's version.
     */
    async sendableVersion(orgId: string, versionId: string): Promise<SendableTarget> {
      const version = await repo.findVersion(deps.db, orgId, versionId);
      if (!version) throw errors.notFound('target version');
      const credentials = await repo.credentialsOf(deps.db, orgId, version.id);
      return { id: version.targetId, versionId: version.id, kind: version.kind, config: version.config, limits: version.limits, credentials };
    },
  };
}

export type TargetsService = ReturnType<typeof createTargetsService>;
