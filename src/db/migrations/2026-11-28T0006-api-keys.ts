import { sql, type Kysely } from 'kysely';
import { withCommonColumns } from '../../platform/db/common-columns.js';

/**
 * API keys (DESIGN §5–§6, issue 3 item 6). A key is `vutf_` + a 12-character lookup prefix + 43
 * characters (256 random bits) of secret. Only the lookup prefix is stored in clear (to find the
 * row); the full key is stored as a keyed HMAC-SHA-256 under the blind-index keyring, so a database
 * dump alone can neither use a key nor brute-force one. The last-used IP is personal data and is an
 * AES-GCM envelope (bytea). Scopes are a JSON array of permission strings.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await withCommonColumns(db.schema.createTable('api_keys'))
    .addColumn('org_id', 'uuid', (col) => col.notNull().references('organisations.id'))
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id'))
    .addColumn('name', 'text', (col) => col.notNull().check(sql`char_length(name) between 1 and 200`))
    .addColumn('lookup_prefix', 'text', (col) => col.notNull().check(sql`lookup_prefix ~ '^[A-Za-z0-9_-]{12}$'`))
    .addColumn('secret_hash', 'bytea', (col) => col.notNull())
    .addColumn('scopes', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(scopes) = 'array'`))
    .addColumn('expires_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('last_used_ip', 'bytea')
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoked_by', 'uuid')
    .execute();
  await sql`CREATE UNIQUE INDEX api_keys_lookup_prefix_live ON api_keys (lookup_prefix) WHERE revoked_at IS NULL AND deleted_at IS NULL`.execute(db);
  await sql`CREATE INDEX api_keys_lookup_prefix ON api_keys (lookup_prefix)`.execute(db);
  await sql`CREATE INDEX api_keys_org ON api_keys (org_id, id) WHERE deleted_at IS NULL`.execute(db);
}
