import type { AttemptVerdict, ScanStatus } from '../../db/schema.js';
import type { Db } from '../../platform/db/database.js';
import type { FieldCipher } from '../../platform/crypto/index.js';
import { attemptColumns } from './attempts.repo.js';

/**
 * Reads of attempts (issue 6 §4) and of the scan header they and the event stream hang off. SQL only.
 * The sealed columns are opened with the writer's own declaration (attempts.repo.ts), so the two cannot
 * disagree; `open` decrypts only the sealed columns a query selected.
 */

/** Metadata columns: everything a list shows, none of the sealed content except the scores. */
const META_COLUMNS = [
  'id',
  'scanId',
  'cellIndex',
  'probeId',
  'chainIndex',
  'sampleIndex',
  'converterLineage',
  'promptSha256',
  'promptBytes',
  'promptTruncated',
  'responseSha256',
  'responseBytes',
  'responseTruncated',
  'statusCode',
  'latencyMs',
  'retries',
  'errorCode',
  'scores',
  'verdict',
  'createdAt',
] as const;

const CONTENT_COLUMNS = ['promptOriginal', 'promptConverted', 'requestRedacted', 'response'] as const;

export function createAttemptsQueryRepo(deps: { db: Db; cipher: FieldCipher }) {
  // Metadata reads select (and so open) only the scores; prompts, request and response only for evidence.
  const sealed = attemptColumns(deps.cipher);

  const attemptsOf = (orgId: string, scanId: string) =>
    deps.db.selectFrom('attempts').where('orgId', '=', orgId).where('scanId', '=', scanId);

  return {
    /** A live scan of the organisation: its status and reason (the stream's end condition); undefined otherwise. */
    async scanState(orgId: string, scanId: string): Promise<{ status: ScanStatus; statusReason: string | null } | undefined> {
      return deps.db
        .selectFrom('scans')
        .select(['status', 'statusReason'])
        .where('id', '=', scanId)
        .where('orgId', '=', orgId)
        .where('deletedAt', 'is', null)
        .executeTakeFirst();
    },

    /** Keyset page in cell order (the unique index attempts_cell); fetches limit + 1 to know if there is more. */
    async list(orgId: string, scanId: string, page: { limit: number; afterCell: number | undefined; verdict: AttemptVerdict | undefined }) {
      let query = attemptsOf(orgId, scanId).select(META_COLUMNS);
      if (page.afterCell !== undefined) query = query.where('cellIndex', '>', page.afterCell);
      if (page.verdict) query = query.where('verdict', '=', page.verdict);
      const rows = await query.orderBy('cellIndex').limit(page.limit + 1).execute();
      return rows.map((row) => sealed.open(row));
    },

    async find(orgId: string, scanId: string, attemptId: string) {
      const row = await attemptsOf(orgId, scanId).select(META_COLUMNS).where('id', '=', attemptId).executeTakeFirst();
      return row ? sealed.open(row) : undefined;
    },

    /** The metadata plus the sealed content, opened: only the raw-content route calls this. */
    async findWithContent(orgId: string, scanId: string, attemptId: string) {
      const row = await attemptsOf(orgId, scanId)
        .select([...META_COLUMNS, ...CONTENT_COLUMNS])
        .where('id', '=', attemptId)
        .executeTakeFirst();
      return row ? sealed.open(row) : undefined;
    },
  };
}

export type AttemptsQueryRepo = ReturnType<typeof createAttemptsQueryRepo>;
export type AttemptRow = NonNullable<Awaited<ReturnType<AttemptsQueryRepo['find']>>>;
export type AttemptContentRow = NonNullable<Awaited<ReturnType<AttemptsQueryRepo['findWithContent']>>>;
