import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { ChainRow } from './audit-chain.js';
import type { Checkpoint } from './audit-checkpoints.js';

type Executor = Db | Tx;

/** One sealed row as the verifier reads it: the hashed columns and the stored hash. */
export type SealedRow = ChainRow & { hash: Buffer };

/** An unsealed row: every hashed column but `seq`, which the sealer assigns. */
export type UnsealedRow = Omit<ChainRow, 'seq'>;

// Arbitrary but fixed: the advisory lock every sealer of this database takes.
const SEALER_LOCK_KEY = 7_465_721_301;

const CONTENT_COLUMNS = [
  'id',
  'occurredAt',
  'actorType',
  'actorId',
  'actorUserId',
  'orgId',
  'action',
  'resourceType',
  'resourceId',
  'subjectIndex',
  'outcome',
  'statusCode',
  'requestId',
  'clientIp',
  'userAgent',
  'changedFields',
  'detail',
] as const;

const sealedOf = (rows: Array<Record<string, unknown>>) => rows as unknown as SealedRow[];

/** The SQL of the chain: the sealer's batches, the head, checkpoints, signing keys and seq-ordered scans. */
export const auditChainRepo = {
  /** The one-sealer-at-a-time lock, released with the transaction; false when another sealer holds it. */
  async tryLockSealer(tx: Tx): Promise<boolean> {
    const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_xact_lock(${SEALER_LOCK_KEY}::bigint) as locked`.execute(tx);
    return rows[0]?.locked === true;
  },

  /** The last sealed event's seq and hash; undefined when nothing is sealed yet. */
  async head(executor: Executor): Promise<{ seq: number; hash: Buffer } | undefined> {
    const row = await executor.selectFrom('auditEvents').select(['seq', 'hash']).where('seq', 'is not', null).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return row ? { seq: row.seq!, hash: row.hash! } : undefined;
  },

  /** The oldest unsealed events (time-ordered ids), at most `limit`. */
  async unsealedBatch(tx: Tx, limit: number): Promise<UnsealedRow[]> {
    return tx.selectFrom('auditEvents').select(CONTENT_COLUMNS).where('seq', 'is', null).orderBy('id').limit(limit).execute();
  },

  /** Seals a batch in one statement (the trigger lets an UPDATE set only seq and hash of an unsealed row). */
  async seal(tx: Tx, sealed: ReadonlyArray<{ id: string; seq: number; hash: Buffer }>): Promise<number> {
    if (sealed.length === 0) return 0;
    const values = sql.join(sealed.map((row) => sql`(${row.id}::uuid, ${row.seq}::bigint, ${row.hash}::bytea)`));
    const result = await sql`update audit_events as e set seq = v.seq, hash = v.hash
      from (values ${values}) as v(id, seq, hash) where e.id = v.id and e.seq is null`.execute(tx);
    return Number(result.numAffectedRows ?? 0);
  },

  async countUnsealed(executor: Executor): Promise<number> {
    const row = await executor.selectFrom('auditEvents').select((eb) => eb.fn.countAll<number>().as('count')).where('seq', 'is', null).executeTakeFirstOrThrow();
    return Number(row.count);
  },

  async maxSeq(executor: Executor): Promise<number | null> {
    const row = await executor.selectFrom('auditEvents').select((eb) => eb.fn.max('seq').as('max')).executeTakeFirst();
    return row?.max == null ? null : Number(row.max);
  },

  /** Sealed rows with seq ≥ `fromSeq` in seq order, at most `limit` (keyset scans: bounded memory). */
  async scan(executor: Executor, fromSeq: number, limit: number): Promise<SealedRow[]> {
    const rows = await executor
      .selectFrom('auditEvents')
      .select([...CONTENT_COLUMNS, 'seq', 'hash'])
      .where('seq', '>=', fromSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return sealedOf(rows);
  },

  /** Stored hashes at the given positions (checkpoints checked against the chain). */
  async hashesAt(executor: Executor, seqs: readonly number[]): Promise<Map<number, Buffer>> {
    if (seqs.length === 0) return new Map();
    const rows = await executor.selectFrom('auditEvents').select(['seq', 'hash']).where('seq', 'in', [...seqs]).execute();
    return new Map(rows.map((row) => [row.seq!, row.hash!]));
  },

  /** The audit purge horizon (ADR 0013): events up to `throughSeq` were purged; undefined when none was. */
  async purgeHorizon(executor: Executor): Promise<{ throughSeq: number; headHash: Buffer } | undefined> {
    const row = await executor.selectFrom('auditPurges').select(['throughSeq', 'headHash']).orderBy('throughSeq', 'desc').limit(1).executeTakeFirst();
    return row ? { throughSeq: Number(row.throughSeq), headHash: row.headHash } : undefined;
  },

  async latestCheckpoint(executor: Executor): Promise<Checkpoint | undefined> {
    return executor.selectFrom('auditCheckpoints').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirst();
  },

  /** Checkpoints with seq > `afterSeq` in seq order, at most `limit`. */
  async checkpointsAfter(executor: Executor, afterSeq: number, limit: number): Promise<Checkpoint[]> {
    return executor.selectFrom('auditCheckpoints').selectAll().where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
  },

  async checkpointsAt(executor: Executor, seqs: readonly number[]): Promise<Map<number, Checkpoint>> {
    if (seqs.length === 0) return new Map();
    const rows = await executor.selectFrom('auditCheckpoints').selectAll().where('seq', 'in', [...seqs]).execute();
    return new Map(rows.map((row) => [row.seq, row]));
  },

  async insertCheckpoint(tx: Tx, checkpoint: Checkpoint): Promise<void> {
    await tx.insertInto('auditCheckpoints').values(checkpoint).execute();
  },

  async registeredKeys(executor: Executor): Promise<Map<number, Buffer>> {
    const rows = await executor.selectFrom('auditSigningKeys').select(['version', 'publicKey']).execute();
    return new Map(rows.map((row) => [row.version, row.publicKey]));
  },

  /** Adds public keys of versions not registered yet (the table is append-only: a known version stays). */
  async registerKeys(executor: Executor, keys: ReadonlyMap<number, Buffer>, at: Date): Promise<void> {
    if (keys.size === 0) return;
    await executor
      .insertInto('auditSigningKeys')
      .values([...keys].map(([version, publicKey]) => ({ version, publicKey, createdAt: at })))
      .onConflict((oc) => oc.column('version').doNothing())
      .execute();
  },
};

export type AuditChainRepo = typeof auditChainRepo;
