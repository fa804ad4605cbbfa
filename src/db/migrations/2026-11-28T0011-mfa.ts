import { sql, type Kysely } from 'kysely';

/**
 * Multi-factor authentication (issue 8 §1, §2, §4, §5).
 *
 * - `mfa_totp`: one authenticator-app secret per user. The seed is an AES-GCM envelope bound to
 *   (table, column, row id); `confirmed_at` is null until a first valid code proves the user holds it;
 *   `last_used_step` is the highest RFC 6238 time step accepted, so each code is accepted once
 *   (a conditional UPDATE on it is the atomic "use").
 * - `mfa_backup_codes`: lookup secrets, stored as keyed HMAC-SHA-256 (BLIND_INDEX_KEY, bound to the
 *   user id); `used_at` set by a conditional UPDATE (single use, atomic); a regeneration deletes the set.
 * - `mfa_challenges`: the second step of a login. Only SHA-256 of the opaque mfaToken is stored; bound
 *   to the user; short-lived; at most a few wrong codes, then dead; consumed once.
 * - `organisations.mfa_requirement`: the organisation's policy (null: the policy file's default) and
 *   when it last changed (the enrollment grace counts from it or from the membership, whichever is later).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('mfa_totp')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().unique().references('users.id'))
    .addColumn('secret', 'bytea', (col) => col.notNull())
    .addColumn('confirmed_at', 'timestamptz')
    .addColumn('last_used_step', 'bigint')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('mfa_backup_codes')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id'))
    .addColumn('code_hash', 'bytea', (col) => col.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .execute();
  await sql`CREATE UNIQUE INDEX mfa_backup_codes_user_hash ON mfa_backup_codes (user_id, code_hash)`.execute(db);

  await db.schema
    .createTable('mfa_challenges')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id'))
    .addColumn('token_hash', 'bytea', (col) => col.notNull().unique())
    .addColumn('password_at', 'timestamptz', (col) => col.notNull())
    .addColumn('failures', 'integer', (col) => col.notNull().defaultTo(0).check(sql`failures >= 0`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('consumed_at', 'timestamptz')
    .execute();
  await sql`CREATE INDEX mfa_challenges_expiry ON mfa_challenges (expires_at)`.execute(db);

  await db.schema
    .alterTable('organisations')
    .addColumn('mfa_requirement', 'text', (col) => col.check(sql`mfa_requirement in ('everyone', 'owners-and-admins', 'optional')`))
    .execute();
  await db.schema.alterTable('organisations').addColumn('mfa_policy_since', 'timestamptz').execute();
}
