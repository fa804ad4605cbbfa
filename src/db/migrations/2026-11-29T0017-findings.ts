import { sql, type Kysely } from 'kysely';
import { withCommonColumns } from '../../platform/db/common-columns.js';

/**
 * Findings (issue 7 §4). A finding is one vulnerability of one target lineage, identified per
 * organisation by its fingerprint (unique while live, so concurrent derivations of two scans upsert one
 * row instead of inserting two). `finding_scans` holds each scan's contribution and is replaced on every
 * derivation of that scan, which makes derivation idempotent; the finding's counters are sums over it.
 * Comments are encrypted triage notes. `finding_scan_sync` records what derivation has seen of each scan
 * so the periodic sweep finds scans whose attempts moved on or that ended since (a lost listener call).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await withCommonColumns(db.schema.createTable('findings'))
    .addColumn('org_id', 'uuid', (col) => col.notNull().references('organisations.id'))
    .addColumn('fingerprint', 'text', (col) => col.notNull().check(sql`fingerprint ~ '^[0-9a-f]{64}$'`))
    .addColumn('target_id', 'uuid', (col) => col.notNull().references('targets.id'))
    .addColumn('family', 'text', (col) => col.notNull().check(sql`char_length(family) between 1 and 100`))
    .addColumn('primary_ref', 'text', (col) => col.check(sql`char_length(primary_ref) <= 60`))
    .addColumn('taxonomy_refs', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(taxonomy_refs) = 'array'`))
    .addColumn('objective', 'text', (col) => col.notNull().check(sql`char_length(objective) <= 1000`))
    .addColumn('title', 'text', (col) => col.notNull().check(sql`char_length(title) between 1 and 200`))
    .addColumn('category', 'text', (col) => col.notNull().check(sql`char_length(category) between 1 and 64`))
    .addColumn('complexity', 'text', (col) => col.notNull().check(sql`complexity in ('low', 'medium', 'high')`))
    .addColumn('severity_score', 'double precision', (col) => col.notNull().check(sql`severity_score between 0 and 10`))
    .addColumn('severity_label', 'text', (col) => col.notNull().check(sql`severity_label in ('critical', 'high', 'medium', 'low', 'info')`))
    .addColumn('status', 'text', (col) =>
      col.notNull().defaultTo('new').check(sql`status in ('new', 'confirmed', 'in-progress', 'fixed', 'accepted-risk', 'false-positive', 'reopened')`),
    )
    .addColumn('assignee_id', 'uuid', (col) => col.references('users.id'))
    .addColumn('first_seen_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_seen_at', 'timestamptz', (col) => col.notNull())
    .addColumn('occurrences', 'integer', (col) => col.notNull().check(sql`occurrences >= 0`))
    .addColumn('trials', 'integer', (col) => col.notNull().check(sql`trials >= occurrences`))
    .addColumn('last_scan_id', 'uuid', (col) => col.notNull().references('scans.id'))
    .addColumn('fixed_at', 'timestamptz')
    .addColumn('reopened_count', 'integer', (col) => col.notNull().defaultTo(0).check(sql`reopened_count >= 0`))
    .execute();
  await sql`CREATE UNIQUE INDEX findings_fingerprint ON findings (org_id, fingerprint) WHERE deleted_at IS NULL`.execute(db);
  await sql`CREATE INDEX findings_org ON findings (org_id, id) WHERE deleted_at IS NULL`.execute(db);
  await sql`CREATE INDEX findings_org_target ON findings (org_id, target_id, id) WHERE deleted_at IS NULL`.execute(db);

  await db.schema
    .createTable('finding_scans')
    .addColumn('finding_id', 'uuid', (col) => col.notNull().references('findings.id'))
    .addColumn('scan_id', 'uuid', (col) => col.notNull().references('scans.id'))
    .addColumn('org_id', 'uuid', (col) => col.notNull())
    .addColumn('succeeded', 'integer', (col) => col.notNull().check(sql`succeeded >= 0`))
    .addColumn('trials', 'integer', (col) => col.notNull().check(sql`trials >= succeeded`))
    .addColumn('representative_attempt_ids', 'jsonb', (col) =>
      col.notNull().check(sql`jsonb_typeof(representative_attempt_ids) = 'array' AND jsonb_array_length(representative_attempt_ids) <= 5`),
    )
    .addColumn('first_seen_at', 'timestamptz')
    .addColumn('last_seen_at', 'timestamptz')
    .addColumn('scan_created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('derived_at', 'timestamptz', (col) => col.notNull())
    .addPrimaryKeyConstraint('finding_scans_pk', ['finding_id', 'scan_id'])
    .execute();
  await sql`CREATE INDEX finding_scans_scan ON finding_scans (scan_id)`.execute(db);

  await db.schema
    .createTable('finding_comments')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('org_id', 'uuid', (col) => col.notNull())
    .addColumn('finding_id', 'uuid', (col) => col.notNull().references('findings.id'))
    .addColumn('author_id', 'uuid', (col) => col.references('users.id'))
    .addColumn('body', 'bytea', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`CREATE INDEX finding_comments_finding ON finding_comments (org_id, finding_id, id)`.execute(db);

  await db.schema
    .createTable('finding_scan_sync')
    .addColumn('scan_id', 'uuid', (col) => col.primaryKey().references('scans.id'))
    .addColumn('org_id', 'uuid', (col) => col.notNull())
    .addColumn('attempts_seen', 'integer', (col) => col.notNull().check(sql`attempts_seen >= 0`))
    .addColumn('scan_status', 'text', (col) => col.notNull())
    .addColumn('derived_at', 'timestamptz', (col) => col.notNull())
    .execute();
}
