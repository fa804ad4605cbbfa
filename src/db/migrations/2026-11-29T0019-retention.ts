import { sql, type Kysely } from 'kysely';

/**
 * Retention with legal hold (issue 9 §4, ADR 0013).
 *
 * - `legal_holds`: per organisation or per scan; a released hold keeps its row (the record).
 * - `retention_runs`: one row per run with the rows removed per data class (the audit trail has the same
 *   counts, tamper-evidently).
 * - `audit_purges`: the audit purge horizon, append-only, inserted only by the owner (through the
 *   function below): the verifier continues the chain from the checkpoint it names.
 * - `audit_purge_through(through_seq, cutoff, batch)`: the ONE way audit events are deleted. SECURITY
 *   DEFINER (the application role has no DELETE on audit tables, DESIGN §9); it deletes only sealed
 *   events up to a signed checkpoint that is older than the newest one, refuses a segment with an event
 *   newer than the cutoff or of an organisation under legal hold, records the horizon before deleting,
 *   and deletes at most 500 rows per call (bounded batches; an interrupted purge resumes).
 * - The DELETE trigger of audit_events now lets through a row only below a recorded horizon and while
 *   the function's transaction-local flag names it; everything else stays refused for every role.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  // SECURITY DEFINER functions pin their search path (pg_temp last) so a caller cannot shadow a table.
  const searchPath = sql.raw(`SET search_path = ${JSON.stringify(rows[0]!.schema)}, pg_temp`);

  await db.schema
    .createTable('legal_holds')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('org_id', 'uuid', (col) => col.notNull().references('organisations.id'))
    .addColumn('scan_id', 'uuid', (col) => col.references('scans.id'))
    .addColumn('reason', 'bytea', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('created_by', 'uuid')
    .addColumn('released_at', 'timestamptz')
    .addColumn('released_by', 'uuid')
    .execute();
  await sql`CREATE INDEX legal_holds_active ON legal_holds (org_id, scan_id) WHERE released_at IS NULL`.execute(db);

  await db.schema
    .createTable('retention_runs')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('trigger', 'text', (col) => col.notNull().check(sql`trigger in ('schedule', 'api')`))
    .addColumn('actor_id', 'uuid')
    .addColumn('started_at', 'timestamptz', (col) => col.notNull())
    .addColumn('finished_at', 'timestamptz', (col) => col.notNull())
    .addColumn('outcome', 'text', (col) => col.notNull().check(sql`outcome in ('completed', 'interrupted', 'failed')`))
    .addColumn('counts', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(counts) = 'object'`))
    .execute();

  await db.schema
    .createTable('audit_purges')
    .addColumn('through_seq', 'bigint', (col) => col.primaryKey())
    .addColumn('head_hash', 'bytea', (col) => col.notNull())
    .addColumn('cutoff', 'timestamptz', (col) => col.notNull())
    .addColumn('purged_at', 'timestamptz', (col) => col.notNull())
    .execute();
  await sql`CREATE TRIGGER audit_purges_append_only BEFORE UPDATE OR DELETE ON audit_purges FOR EACH ROW EXECUTE FUNCTION audit_append_only()`.execute(db);
  await sql`CREATE TRIGGER audit_purges_no_truncate BEFORE TRUNCATE ON audit_purges FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()`.execute(db);
  // Only the owner (the SECURITY DEFINER function runs as it) records a horizon; the application role may not.
  await sql`
    CREATE FUNCTION audit_purges_owner_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'audit_purges is written only by audit_purge_through' USING ERRCODE = '42501';
    END
    $$`.execute(db);
  await sql`CREATE TRIGGER audit_purges_owner_only BEFORE INSERT ON audit_purges FOR EACH ROW EXECUTE FUNCTION audit_purges_owner_only()`.execute(db);

  await sql`
    CREATE FUNCTION audit_events_purge_only() RETURNS trigger LANGUAGE plpgsql ${searchPath} AS $$
    BEGIN
      IF OLD.seq IS NOT NULL
         AND OLD.seq <= coalesce(nullif(current_setting('vutf.audit_purge_through', true), '')::bigint, 0)
         AND OLD.seq <= (SELECT coalesce(max(through_seq), 0) FROM audit_purges) THEN
        RETURN OLD;
      END IF;
      RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = '42501';
    END
    $$`.execute(db);
  await sql`DROP TRIGGER audit_events_no_delete ON audit_events`.execute(db);
  await sql`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_purge_only()`.execute(db);

  await sql`
    CREATE FUNCTION audit_purge_through(p_through_seq bigint, p_cutoff timestamptz, p_limit integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER ${searchPath} AS $$
    DECLARE
      v_newest bigint;
      v_hash bytea;
      v_horizon bigint;
      v_deleted integer;
    BEGIN
      IF p_limit IS NULL OR p_limit < 1 OR p_limit > 500 THEN
        RAISE EXCEPTION 'audit purge: a batch is 1 to 500 rows' USING ERRCODE = '22023';
      END IF;
      SELECT max(seq) INTO v_newest FROM audit_checkpoints;
      SELECT head_hash INTO v_hash FROM audit_checkpoints WHERE seq = p_through_seq;
      IF v_hash IS NULL OR p_through_seq >= v_newest THEN
        RAISE EXCEPTION 'audit purge: % is not a checkpoint older than the newest one', p_through_seq USING ERRCODE = '22023';
      END IF;
      SELECT coalesce(max(through_seq), 0) INTO v_horizon FROM audit_purges;
      IF p_through_seq < v_horizon THEN
        RAISE EXCEPTION 'audit purge: % is behind the purge horizon %', p_through_seq, v_horizon USING ERRCODE = '22023';
      END IF;
      IF p_through_seq > v_horizon THEN
        IF EXISTS (SELECT 1 FROM audit_events WHERE seq > v_horizon AND seq <= p_through_seq AND occurred_at >= p_cutoff) THEN
          RAISE EXCEPTION 'audit purge: the segment holds events newer than the cutoff' USING ERRCODE = '22023';
        END IF;
        IF EXISTS (SELECT 1 FROM audit_events e JOIN legal_holds h ON h.org_id = e.org_id AND h.scan_id IS NULL AND h.released_at IS NULL
                   WHERE e.seq > v_horizon AND e.seq <= p_through_seq) THEN
          RAISE EXCEPTION 'audit purge: the segment holds events of an organisation under legal hold' USING ERRCODE = '22023';
        END IF;
        INSERT INTO audit_purges (through_seq, head_hash, cutoff, purged_at) VALUES (p_through_seq, v_hash, p_cutoff, now());
      END IF;
      PERFORM set_config('vutf.audit_purge_through', p_through_seq::text, true);
      DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE seq <= p_through_seq ORDER BY seq LIMIT p_limit);
      GET DIAGNOSTICS v_deleted = ROW_COUNT;
      PERFORM set_config('vutf.audit_purge_through', '', true);
      RETURN v_deleted;
    END
    $$`.execute(db);
}
