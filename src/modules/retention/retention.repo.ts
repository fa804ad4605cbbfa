import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';

/**
 * The SQL of retention (issue 9 §4, ADR 0013): one entry per data class, each a table, its key and
 * the predicate of "past its date and not under legal hold". The same predicate counts (dry run) and
 * deletes (run), so a preview taken at the same instant reports exactly what a run removes. This is
 * the one place where data-lifecycle SQL crosses module tables: retention is a property of the whole
 * database, and each owning module's repository stays free of it.
 */

/** The instants before which each class is past its date (computed once per run from the clock and the policy). */
export interface RetentionCutoffs {
  now: Date;
  auditEvents: Date;
  attempts: Date;
  softDeleted: Date;
  revokedSessions: Date;
  expiredEmailTokens: Date;
  finishedOutbox: Date;
  acknowledgedAlerts: Date;
}

/** Organisations under an active organisation-wide hold; scans under an active scan hold. */
const HELD_ORGS = sql`(select h.org_id from legal_holds h where h.released_at is null and h.scan_id is null)`;
const HELD_SCANS = sql`(select h.scan_id from legal_holds h where h.released_at is null and h.scan_id is not null)`;
const TERMINAL_SCAN = sql`('completed', 'cancelled', 'failed', 'partial')`;

interface PurgeClass {
  /** The key of this class in run counts and previews. */
  name: string;
  table: string;
  key: string;
  /** Rows past their date, not held. */
  where: (cut: RetentionCutoffs) => RawBuilder<unknown>;
  /** Extra condition a row must meet to be deleted now (a child class purged first); counts ignore it. */
  deletableWhen?: RawBuilder<unknown>;
  /** Attempts are append-only evidence: the delete runs with the trigger's `vutf.evidence_purge` flag. */
  evidence?: boolean;
}

const unusedSoftDeletedTarget = (cut: RetentionCutoffs) =>
  sql`select t.id from targets t where t.deleted_at < ${cut.softDeleted} and t.org_id not in ${HELD_ORGS}
      and not exists (select 1 from scans s where s.target_id = t.id) and not exists (select 1 from findings f where f.target_id = t.id)`;
const deadFamily = (cut: RetentionCutoffs) => sql`(expires_at < ${cut.now} or revoked_at < ${cut.revokedSessions})`;
const purgeableAlert = (cut: RetentionCutoffs) =>
  sql`(acknowledged_at < ${cut.acknowledgedAlerts} and (org_id is null or org_id not in ${HELD_ORGS}))`;

/** In purge order: children before parents, so no delete cascades or fails on a foreign key. */
export const PURGE_CLASSES: readonly PurgeClass[] = [
  {
    // Attempts of scans that ended before the cutoff; the scan row and its counts stay.
    name: 'attempts',
    table: 'attempts',
    key: 'id',
    evidence: true,
    where: (cut) => sql`scan_id in (select s.id from scans s where s.finished_at < ${cut.attempts} and s.status in ${TERMINAL_SCAN})
      and org_id not in ${HELD_ORGS} and scan_id not in ${HELD_SCANS}`,
  },
  {
    name: 'datasetItems',
    table: 'dataset_items',
    key: 'id',
    where: (cut) => sql`dataset_id in (select d.id from datasets d where d.deleted_at < ${cut.softDeleted} and d.org_id not in ${HELD_ORGS})`,
  },
  {
    name: 'datasets',
    table: 'datasets',
    key: 'id',
    where: (cut) => sql`deleted_at < ${cut.softDeleted} and org_id not in ${HELD_ORGS}`,
    deletableWhen: sql`not exists (select 1 from dataset_items i where i.dataset_id = datasets.id)`,
  },
  {
    // Only targets no scan or finding names: those stay, as the record of what was tested.
    name: 'targetVersions',
    table: 'target_versions',
    key: 'id',
    where: (cut) => sql`target_id in (${unusedSoftDeletedTarget(cut)})`,
  },
  {
    name: 'targets',
    table: 'targets',
    key: 'id',
    where: (cut) => sql`id in (${unusedSoftDeletedTarget(cut)})`,
    deletableWhen: sql`not exists (select 1 from target_versions v where v.target_id = targets.id)`,
  },
  { name: 'memberships', table: 'memberships', key: 'id', where: (cut) => sql`deleted_at < ${cut.softDeleted} and org_id not in ${HELD_ORGS}` },
  { name: 'apiKeys', table: 'api_keys', key: 'id', where: (cut) => sql`deleted_at < ${cut.softDeleted} and org_id not in ${HELD_ORGS}` },
  {
    name: 'refreshTokens',
    table: 'refresh_tokens',
    key: 'id',
    where: (cut) => sql`family_id in (select id from refresh_token_families where ${deadFamily(cut)})`,
  },
  {
    name: 'refreshTokenFamilies',
    table: 'refresh_token_families',
    key: 'id',
    where: deadFamily,
    deletableWhen: sql`not exists (select 1 from refresh_tokens t where t.family_id = refresh_token_families.id)`,
  },
  { name: 'emailTokens', table: 'email_tokens', key: 'id', where: (cut) => sql`expires_at < ${cut.expiredEmailTokens}` },
  {
    name: 'mailOutbox',
    table: 'mail_outbox',
    key: 'id',
    where: (cut) => sql`((status = 'sent' and sent_at < ${cut.finishedOutbox}) or (status = 'failed' and created_at < ${cut.finishedOutbox}))`,
  },
  {
    name: 'alertDeliveries',
    table: 'audit_alert_deliveries',
    key: 'alert_id',
    where: (cut) =>
      sql`((status <> 'pending' and coalesce(delivered_at, created_at) < ${cut.finishedOutbox}) or alert_id in (select id from audit_alerts where ${purgeableAlert(cut)}))`,
  },
  {
    name: 'alerts',
    table: 'audit_alerts',
    key: 'id',
    where: purgeableAlert,
    deletableWhen: sql`not exists (select 1 from audit_alert_deliveries d where d.alert_id = audit_alerts.id)`,
  },
];

const count = async (db: Db, query: RawBuilder<{ count: number }>) => Number((await query.execute(db)).rows[0]?.count ?? 0);

/** The class of soft-deleted users anonymised (not deleted: audit events, findings and memberships name them). */
export const ANONYMISED_USERS = 'anonymisedUsers';

/**
 * Users soft-deleted before the cutoff, not yet anonymised, and with no membership (live or
 * soft-deleted) in an organisation under hold: such a membership is kept by the hold, and so is the
 * identity it names. Evaluated on `users u`.
 */
const anonymisableUser = (cut: RetentionCutoffs) =>
  sql`u.deleted_at < ${cut.softDeleted} and u.anonymised_at is null
      and not exists (select 1 from memberships m where m.user_id = u.id and m.org_id in ${HELD_ORGS})`;

export const retentionRepo = {
  /** Rows of one class past their date now (the dry run). */
  countClass(db: Db, purgeClass: PurgeClass, cut: RetentionCutoffs): Promise<number> {
    return count(db, sql<{ count: number }>`select count(*)::int as count from ${sql.table(purgeClass.table)} where ${purgeClass.where(cut)}`);
  },

  /** Deletes at most `batch` rows of one class in one statement (one transaction for evidence). */
  async purgeClassBatch(db: Db, purgeClass: PurgeClass, cut: RetentionCutoffs, batch: number): Promise<number> {
    const table = sql.table(purgeClass.table);
    const key = sql.ref(purgeClass.key);
    const condition = purgeClass.deletableWhen ? sql`${purgeClass.where(cut)} and ${purgeClass.deletableWhen}` : purgeClass.where(cut);
    const statement = sql`delete from ${table} where ${key} in (select ${key} from ${table} where ${condition} limit ${batch})`;
    if (!purgeClass.evidence) return Number((await statement.execute(db)).numAffectedRows ?? 0);
    return db.transaction().execute(async (tx) => {
      // Transaction-local: the flag dies with this batch's transaction (migration 0013's trigger reads it).
      await sql`select set_config('vutf.evidence_purge', 'on', true)`.execute(tx);
      return Number((await statement.execute(tx)).numAffectedRows ?? 0);
    });
  },

  /** Soft-deleted users a run would anonymise now (the dry run). */
  countAnonymisableUsers(db: Db, cut: RetentionCutoffs): Promise<number> {
    return count(db, sql<{ count: number }>`select count(*)::int as count from users u where ${anonymisableUser(cut)}`);
  },

  /** Locks up to `batch` users to anonymise in this transaction (a concurrent run skips them). */
  async lockAnonymisableUsers(tx: Tx, cut: RetentionCutoffs, batch: number): Promise<string[]> {
    const { rows } = await sql<{ id: string }>`select u.id from users u where ${anonymisableUser(cut)}
      order by u.deleted_at, u.id limit ${batch} for update of u skip locked`.execute(tx);
    return rows.map((row) => row.id);
  },

  /**
   * What still authenticates as, or mails, these users: MFA factors and challenges, passkeys,
   * sessions and mailed tokens (issued to them or used by them: both carry their address).
   */
  async deleteUserCredentials(tx: Tx, userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    const ids = sql.join(userIds.map((id) => sql`${id}::uuid`));
    await sql`delete from webauthn_challenges where user_id in (${ids})`.execute(tx);
    await sql`delete from mfa_challenges where user_id in (${ids})`.execute(tx);
    await sql`delete from mfa_backup_codes where user_id in (${ids})`.execute(tx);
    await sql`delete from mfa_totp where user_id in (${ids})`.execute(tx);
    await sql`delete from passkeys where user_id in (${ids})`.execute(tx);
    await sql`delete from refresh_tokens where family_id in (select f.id from refresh_token_families f where f.user_id in (${ids}))`.execute(tx);
    await sql`delete from refresh_token_families where user_id in (${ids})`.execute(tx);
    await sql`delete from email_tokens where user_id in (${ids}) or used_by in (${ids})`.execute(tx);
  },

  /**
   * The audit checkpoint to purge through (ADR 0013): the newest checkpoint that is older than the
   * newest one, at or past the current horizon, and below the first event (above the horizon) that is
   * newer than the cutoff or belongs to an organisation under legal hold. Null: nothing to purge.
   */
  async auditPurgeTarget(db: Db, cutoff: Date): Promise<number | null> {
    const { rows } = await sql<{ target: number | string | null }>`
      with horizon as (select coalesce(max(through_seq), 0) as seq from audit_purges),
           newest as (select max(seq) as seq from audit_checkpoints),
           barrier as (select min(e.seq) as seq from audit_events e, horizon
                       where e.seq > horizon.seq and (e.occurred_at >= ${cutoff} or e.org_id in ${HELD_ORGS}))
      select max(c.seq) as target from audit_checkpoints c, horizon, newest, barrier
      where c.seq >= horizon.seq and c.seq < newest.seq and (barrier.seq is null or c.seq < barrier.seq)`.execute(db);
    const target = rows[0]?.target;
    return target == null || Number(target) === 0 ? null : Number(target);
  },

  /** Sealed events still stored at or below `throughSeq`. */
  countAuditThrough(db: Db, throughSeq: number): Promise<number> {
    return count(db, sql<{ count: number }>`select count(*)::int as count from audit_events where seq <= ${throughSeq}`);
  },

  /** One batch through the SECURITY DEFINER function (the only path that deletes audit events). */
  async purgeAuditBatch(db: Db, throughSeq: number, cutoff: Date, batch: number): Promise<number> {
    const { rows } = await sql<{ deleted: number }>`select audit_purge_through(${throughSeq}::bigint, ${cutoff}::timestamptz, ${batch}::int) as deleted`.execute(db);
    return Number(rows[0]?.deleted ?? 0);
  },
};

export type RetentionRepo = typeof retentionRepo;
export type { PurgeClass };
