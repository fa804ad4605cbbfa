import { sql, type Kysely } from 'kysely';
import { withCommonColumns } from '../../platform/db/common-columns.js';

/**
 * Organisations, users and memberships. Users' email and display name are AES-GCM envelopes
 * (bytea); login by email uses the keyed blind index. Unique constraints hold only for live rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await withCommonColumns(db.schema.createTable('organisations'))
    .addColumn('name', 'text', (col) => col.notNull().check(sql`char_length(name) between 1 and 200`))
    .addColumn('slug', 'text', (col) => col.notNull().check(sql`slug ~ '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$'`))
    .execute();
  await sql`CREATE UNIQUE INDEX organisations_slug_live ON organisations (slug) WHERE deleted_at IS NULL`.execute(db);

  await withCommonColumns(db.schema.createTable('users'))
    .addColumn('email', 'bytea', (col) => col.notNull())
    .addColumn('email_index', 'bytea', (col) => col.notNull())
    .addColumn('display_name', 'bytea', (col) => col.notNull())
    .addColumn('password_hash', 'text')
    .addColumn('must_change_password', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('active').check(sql`status in ('active', 'disabled', 'locked')`))
    .addColumn('platform_role', 'text', (col) => col.check(sql`platform_role in ('super-admin', 'auditor')`))
    .addColumn('last_login_at', 'timestamptz')
    .execute();
  await sql`CREATE UNIQUE INDEX users_email_index_live ON users (email_index) WHERE deleted_at IS NULL`.execute(db);

  await withCommonColumns(db.schema.createTable('memberships'))
    .addColumn('org_id', 'uuid', (col) => col.notNull().references('organisations.id'))
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id'))
    .addColumn('role', 'text', (col) =>
      col.notNull().check(sql`role in ('owner', 'admin', 'red-teamer', 'reviewer', 'auditor', 'viewer')`),
    )
    .execute();
  await sql`CREATE UNIQUE INDEX memberships_org_user_live ON memberships (org_id, user_id) WHERE deleted_at IS NULL`.execute(db);
  await sql`CREATE INDEX memberships_user ON memberships (user_id) WHERE deleted_at IS NULL`.execute(db);
}
