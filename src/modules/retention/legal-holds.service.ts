import { decodeCursor, toPage, type PaginationParams } from '../../http/pagination.js';
import type { Principal } from '../../http/principal.js';
import type { Clock } from '../../platform/clock.js';
import type { FieldCipher } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { AppError, errors } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { LegalHoldRow, LegalHoldsRepo } from './legal-holds.repo.js';

/** The reason is personal-data-capable free text (a matter can name people): an envelope bound to its row. */
const reasonContext = (id: string) => ({ table: 'legal_holds', column: 'reason', rowId: id });
/** The person acting (an API key acts for its owner). */
const actingUser = (principal: Principal): string | null => principal.userId ?? (principal.type === 'user' ? principal.id : null);

/**
 * Legal holds (issue 9 §4): per organisation, or per scan of one. While a hold is active, retention
 * removes nothing of the organisation (organisation hold: attempts, soft-deleted rows, alerts, and any
 * audit segment holding one of its events, with everything after it) or nothing of the scan's
 * attempts (scan hold). Releasing keeps the hold as a record; the next run may then purge.
 */
export function createLegalHoldsService(deps: { db: Db; clock: Pick<Clock, 'now'>; cipher: FieldCipher; repo: LegalHoldsRepo }) {
  const { repo, cipher } = deps;

  const view = (row: LegalHoldRow) => ({
    id: row.id,
    orgId: row.orgId,
    scanId: row.scanId,
    reason: cipher.decrypt(row.reason, reasonContext(row.id)).toString('utf8'),
    active: row.releasedAt === null,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
    releasedAt: row.releasedAt?.toISOString() ?? null,
    releasedBy: row.releasedBy,
  });

  return {
    async place(tx: Tx, principal: Principal, input: { orgId: string; scanId?: string | undefined; reason: string }) {
      if (!(await repo.orgExists(tx, input.orgId))) throw errors.notFound('organisation');
      // A scan of another organisation is answered like a missing one (no cross-organisation probing).
      if (input.scanId !== undefined && (await repo.scanOrg(tx, input.scanId)) !== input.orgId) throw errors.notFound('scan');
      const id = newId();
      const row: LegalHoldRow = {
        id,
        orgId: input.orgId,
        scanId: input.scanId ?? null,
        reason: cipher.encrypt(input.reason, reasonContext(id)),
        createdAt: deps.clock.now(),
        createdBy: actingUser(principal),
        releasedAt: null,
        releasedBy: null,
      };
      await repo.insert(tx, row);
      return view(row);
    },

    async list(query: PaginationParams) {
      const [beforeId] = (decodeCursor(query.cursor, 1) ?? []) as string[];
      const rows = await repo.list(deps.db, query.limit, beforeId);
      return toPage(rows, query.limit, (row) => [row.id], view);
    },

    /** Ends a hold; the row stays (who held what, when, and who released it). */
    async release(tx: Tx, principal: Principal, id: string) {
      if (!(await repo.find(tx, id))) throw errors.notFound('legal hold');
      if (!(await repo.release(tx, id, deps.clock.now(), actingUser(principal)))) {
        throw new AppError(409, 'legal_hold_released', { detail: 'The legal hold was released already.' });
      }
      return view((await repo.find(tx, id))!);
    },
  };
}

export type LegalHoldsService = ReturnType<typeof createLegalHoldsService>;
