import { sql, type Kysely } from 'kysely';

/**
 * Passkeys (WebAuthn, issue 8 §3).
 *
 * - `passkeys`: one registered credential. The public key is not a secret (it verifies, never signs),
 *   so it is stored in the clear; `credential_id` (base64url) is unique across users, so an assertion
 *   names at most one account. `counter` is the authenticator's signature counter (bigint: a 32-bit
 *   unsigned value does not fit an integer).
 * - `webauthn_challenges`: the server-side ceremony challenges, single-use (a DELETE ... RETURNING is the
 *   use) and short-lived, bound to the user (registration), to the login's MFA challenge (second factor),
 *   or to nobody (passwordless, discoverable credentials).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('passkeys')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id'))
    .addColumn('credential_id', 'text', (col) => col.notNull().unique())
    .addColumn('public_key', 'bytea', (col) => col.notNull())
    .addColumn('counter', 'bigint', (col) => col.notNull().defaultTo(0).check(sql`counter >= 0`))
    .addColumn('transports', 'text', (col) => col.notNull().defaultTo(''))
    .addColumn('aaguid', 'text', (col) => col.notNull())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('backed_up', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_used_at', 'timestamptz')
    .execute();
  await sql`CREATE INDEX passkeys_user ON passkeys (user_id)`.execute(db);

  await db.schema
    .createTable('webauthn_challenges')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('challenge', 'text', (col) => col.notNull().unique())
    .addColumn('purpose', 'text', (col) => col.notNull().check(sql`purpose in ('registration', 'second-factor', 'passwordless')`))
    .addColumn('user_id', 'uuid', (col) => col.references('users.id').onDelete('cascade'))
    .addColumn('mfa_challenge_id', 'uuid', (col) => col.references('mfa_challenges.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .execute();
  await sql`CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at)`.execute(db);
  await sql`CREATE INDEX webauthn_challenges_user ON webauthn_challenges (user_id)`.execute(db);
  await sql`CREATE INDEX webauthn_challenges_mfa ON webauthn_challenges (mfa_challenge_id)`.execute(db);
}
