import { sql, type Kysely } from 'kysely';

/**
 * Refresh tokens (DESIGN §6, issue 3 item 5): opaque tokens stored only as a SHA-256 digest, grouped
 * in families (one per login). The family row carries the session claims, the absolute lifetime and
 * the revocation: revoking a family is one row update, so a token rotated concurrently with the
 * revocation cannot escape it (both statements lock the same family row).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('refresh_token_families')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('session_id', 'uuid', (col) => col.notNull())
    .addColumn('org_id', 'uuid', (col) => col.references('organisations.id').onDelete('cascade'))
    .addColumn('amr', 'jsonb', (col) => col.notNull())
    .addColumn('auth_time', 'timestamptz', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_rotated_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoked_reason', 'text')
    .execute();
  await sql`CREATE INDEX refresh_token_families_live_by_user ON refresh_token_families (user_id) WHERE revoked_at IS NULL`.execute(db);
  await sql`CREATE INDEX refresh_token_families_session ON refresh_token_families (session_id)`.execute(db);
  await sql`CREATE INDEX refresh_token_families_expiry ON refresh_token_families (expires_at)`.execute(db);

  await db.schema
    .createTable('refresh_tokens')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('family_id', 'uuid', (col) => col.notNull().references('refresh_token_families.id').onDelete('cascade'))
    // SHA-256 of the presented token; the token itself is never stored.
    .addColumn('token_hash', 'bytea', (col) => col.notNull().unique())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('idle_expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('used_at', 'timestamptz')
    // The token that replaced this one (no foreign key: the old row is marked before its successor is inserted).
    .addColumn('replaced_by', 'uuid')
    .execute();
  await sql`CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)`.execute(db);
}
