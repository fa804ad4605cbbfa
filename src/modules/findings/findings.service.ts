import type { FindingStatus, SeverityLabel } from '../../db/schema.js';
import { decodeCursor, toPage, type PaginationParams } from '../../http/pagination.js';
import { staleError, type VersionPrecondition } from '../../http/preconditions.js';
import type { Principal } from '../../http/principal.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { AppError, errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { DEFAULT_OWASP_EDITION, type TaxonomyId, type TaxonomyService } from '../taxonomies/taxonomy.types.js';
import { canTransition } from './finding-policy.js';
import type { FindingRow, FindingsRepo } from './findings.repo.js';

export type Edition = '2026' | '2025' | '2023';

export interface FindingListQuery extends PaginationParams {
  status?: FindingStatus | undefined;
  severity?: SeverityLabel | undefined;
  targetId?: string | undefined;
  taxonomy?: string | undefined;
  edition?: Edition | undefined;
}

const iso = (date: Date | null) => date?.toISOString() ?? null;
const editionOf = (edition: Edition | undefined): TaxonomyId => (edition ? (`owasp-llm-${edition}` as TaxonomyId) : DEFAULT_OWASP_EDITION);
const isOwasp = (ref: string) => ref.startsWith('owasp-llm-');

/**
 * Findings reads and triage (issue 7 §4). Stored refs are OWASP 2026 (plus ATLAS, AI RMF); any other
 * edition is a translation at read time, so a finding is shown in any edition without re-running a scan.
 */
export function createFindingsService(deps: {
  db: Db;
  findingsRepo: Pick<FindingsRepo, 'find' | 'list' | 'contributions' | 'triage' | 'insertComment' | 'listComments'>;
  taxonomy: Pick<TaxonomyService, 'node' | 'translate' | 'matching'>;
  /** Whether the user is a live member of the organisation (identity's memberships). */
  isMember: (executor: Db | Tx, orgId: string, userId: string) => Promise<boolean>;
  clock: Clock;
}) {
  const { findingsRepo: repo, taxonomy } = deps;
  const orgOf = (principal: Principal) => {
    if (!principal.orgId) throw errors.notFound('finding');
    return principal.orgId;
  };

  /** A stored ref as seen in `edition`: OWASP refs through the crosswalk, others as stored. */
  const shown = (ref: string, edition: TaxonomyId): Array<{ ref: string; title: string | null; relation: string | null }> => {
    if (!isOwasp(ref) || ref.startsWith(`${edition}:`)) return [{ ref, title: taxonomy.node(ref)?.title ?? null, relation: null }];
    return taxonomy.translate(ref, edition).map((link) => ({ ref: link.ref, title: taxonomy.node(link.ref)?.title ?? null, relation: link.relation }));
  };
  const uniqueByRef = <T extends { ref: string }>(items: T[]) => [...new Map(items.map((item) => [item.ref, item])).values()];

  const toView = (row: FindingRow, edition: TaxonomyId) => ({
    id: row.id,
    targetId: row.targetId,
    title: row.title,
    category: row.category,
    family: row.family,
    objective: row.objective,
    status: row.status,
    assigneeId: row.assigneeId,
    severity: { score: row.severityScore, label: row.severityLabel },
    complexity: row.complexity as 'low' | 'medium' | 'high',
    primaryRef: row.primaryRef,
    taxonomyRefs: row.taxonomyRefs,
    mappings: {
      edition,
      primary: row.primaryRef ? shown(row.primaryRef, edition) : [],
      refs: uniqueByRef(row.taxonomyRefs.flatMap((ref) => shown(ref, edition))),
    },
    occurrences: row.occurrences,
    trials: row.trials,
    firstSeenAt: row.firstSeenAt.toISOString(),
    lastSeenAt: row.lastSeenAt.toISOString(),
    lastScanId: row.lastScanId,
    fixedAt: iso(row.fixedAt),
    reopenedCount: row.reopenedCount,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  });

  async function load(executor: Db | Tx, orgId: string, id: string) {
    const row = await repo.find(executor, orgId, id);
    if (!row) throw errors.notFound('finding');
    return row;
  }

  return {
    async list(principal: Principal, query: FindingListQuery) {
      const orgId = orgOf(principal);
      const [beforeId] = decodeCursor(query.cursor, 1) ?? [];
      if (beforeId !== undefined && typeof beforeId !== 'string') throw errors.badRequest('invalid_cursor', 'The cursor is not one this API issued.');
      // A ref of any edition matches the findings mapped to its equivalents (stored refs are 2026), an ATLAS node those under it.
      const refs = query.taxonomy ? [...new Set([query.taxonomy, ...taxonomy.matching(query.taxonomy)])] : undefined;
      const rows = await repo.list(orgId, { status: query.status, severity: query.severity, targetId: query.targetId, refs }, query.limit, beforeId);
      const edition = editionOf(query.edition);
      return toPage(rows, query.limit, (row) => [row.id], (row) => toView(row, edition));
    },

    async get(principal: Principal, id: string, edition?: Edition) {
      const orgId = orgOf(principal);
      const row = await load(deps.db, orgId, id);
      const contributions = await repo.contributions(orgId, id);
      const latest = contributions.find((entry) => entry.scanId === row.lastScanId) ?? contributions[0];
      return {
        ...toView(row, editionOf(edition)),
        representativeAttemptIds: latest?.representativeAttemptIds ?? [],
        scans: contributions.map((entry) => ({
          scanId: entry.scanId,
          succeeded: entry.succeeded,
          trials: entry.trials,
          representativeAttemptIds: entry.representativeAttemptIds,
          firstSeenAt: iso(entry.firstSeenAt),
          lastSeenAt: iso(entry.lastSeenAt),
          scanCreatedAt: entry.scanCreatedAt.toISOString(),
        })),
      };
    },

    /** A triage change: a status move the lifecycle allows (else 409) and/or an assignee who is a member (else 422). */
    async update(tx: Tx, principal: Principal, id: string, input: { status?: FindingStatus | undefined; assigneeId?: string | null | undefined }, precondition: VersionPrecondition) {
      const orgId = orgOf(principal);
      const now = deps.clock.now();
      const row = await load(tx, orgId, id);
      if (precondition.version !== row.version) throw staleError(precondition);
      const status = input.status ?? row.status;
      if (status !== row.status && !canTransition(row.status, status)) {
        throw new AppError(409, 'finding_transition_not_allowed', { detail: `A ${row.status} finding cannot move to ${status}.` });
      }
      if (input.assigneeId && !(await deps.isMember(tx, orgId, input.assigneeId))) {
        throw errors.validation([{ in: 'body', pointer: '/assigneeId', detail: 'is not a member of this organisation' }]);
      }
      const set = {
        status,
        assigneeId: input.assigneeId === undefined ? row.assigneeId : input.assigneeId,
        fixedAt: status === 'fixed' && row.status !== 'fixed' ? now : row.fixedAt,
        reopened: status === 'reopened' && row.status !== 'reopened',
      };
      const updated = await repo.triage(tx, orgId, id, row.version, set, principal.userId ?? null, now);
      if (!updated) throw staleError(precondition);
      return toView(updated, DEFAULT_OWASP_EDITION);
    },

    async addComment(tx: Tx, principal: Principal, id: string, body: string) {
      const orgId = orgOf(principal);
      await load(tx, orgId, id);
      const comment = await repo.insertComment(tx, { id: newId(), orgId, findingId: id, authorId: principal.userId ?? null, body }, deps.clock.now());
      return { id: comment.id, findingId: id, authorId: comment.authorId, body: comment.body, createdAt: comment.createdAt.toISOString() };
    },

    async comments(principal: Principal, id: string, page: PaginationParams) {
      const orgId = orgOf(principal);
      await load(deps.db, orgId, id);
      const [afterId] = decodeCursor(page.cursor, 1) ?? [];
      if (afterId !== undefined && typeof afterId !== 'string') throw errors.badRequest('invalid_cursor', 'The cursor is not one this API issued.');
      const rows = await repo.listComments(orgId, id, page.limit, afterId);
      return toPage(rows, page.limit, (row) => [row.id], (row) => ({ id: row.id, findingId: row.findingId, authorId: row.authorId, body: row.body, createdAt: row.createdAt.toISOString() }));
    },
  };
}

export type FindingsService = ReturnType<typeof createFindingsService>;
