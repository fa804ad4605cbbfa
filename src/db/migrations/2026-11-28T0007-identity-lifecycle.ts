import { sql, type Kysely } from 'kysely';

/**
 * What identity needs beyond accounts (issue 3 items 2–4):
 *
 * - `email_tokens`: single-use, expiring tokens sent by mail (invitations, password resets,
 *   self-registration confirmations). Only the SHA-256 digest of a token is stored; the recipient is an
 *   AES-GCM envelope with a blind index for lookups; `payload` is an envelope of purpose-specific JSON.
 *   Consuming a token is one conditional UPDATE, so two concurrent uses cannot both succeed.
 * - `mail_outbox`: every outgoing message, written in the transaction of the change that caused it;
 *   recipient and body (which carries tokens) are envelopes. Without SMTP_URL mail stays here.
 * - `auth_events`: append-only record of sign-in successes, failures, locks and unlocks until the audit
 *   trail (issue 4) chains them. The client address is an envelope; nothing else personal is stored.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('email_tokens')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('purpose', 'text', (col) => col.notNull().check(sql`purpose in ('invitation', 'password-reset', 'registration')`))
    .addColumn('token_hash', 'bytea', (col) => col.notNull().unique())
    .addColumn('email', 'bytea', (col) => col.notNull())
    .addColumn('email_index', 'bytea', (col) => col.notNull())
    .addColumn('user_id', 'uuid', (col) => col.references('users.id').onDelete('cascade'))
    .addColumn('org_id', 'uuid', (col) => col.references('organisations.id').onDelete('cascade'))
    .addColumn('role', 'text', (col) => col.check(sql`role in ('owner', 'admin', 'red-teamer', 'reviewer', 'auditor', 'viewer')`))
    .addColumn('payload', 'bytea')
    .addColumn('created_by', 'uuid')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('used_by', 'uuid')
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoked_by', 'uuid')
    .execute();
  await sql`CREATE INDEX email_tokens_open_by_email ON email_tokens (purpose, email_index) WHERE used_at IS NULL AND revoked_at IS NULL`.execute(db);
  await sql`CREATE INDEX email_tokens_by_org ON email_tokens (org_id, purpose, id) WHERE org_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX email_tokens_expiry ON email_tokens (expires_at)`.execute(db);

  await db.schema
    .createTable('mail_outbox')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('template', 'text', (col) => col.notNull())
    .addColumn('recipient', 'bytea', (col) => col.notNull())
    .addColumn('recipient_index', 'bytea', (col) => col.notNull())
    .addColumn('subject', 'text', (col) => col.notNull().check(sql`char_length(subject) between 1 and 300`))
    .addColumn('body', 'bytea', (col) => col.notNull())
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('pending').check(sql`status in ('pending', 'sent', 'failed')`))
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('sent_at', 'timestamptz')
    .execute();
  await sql`CREATE INDEX mail_outbox_pending ON mail_outbox (next_attempt_at) WHERE status = 'pending'`.execute(db);
  await sql`CREATE INDEX mail_outbox_recipient ON mail_outbox (recipient_index, created_at)`.execute(db);

  await db.schema
    .createTable('auth_events')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('type', 'text', (col) => col.notNull().check(sql`type ~ '^auth\\.[a-z-]+\\.[a-z-]+$'`))
    .addColumn('user_id', 'uuid')
    .addColumn('email_index', 'bytea')
    .addColumn('actor_id', 'uuid')
    .addColumn('ip', 'bytea')
    .addColumn('request_id', 'text')
    .addColumn('detail', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .execute();
  await sql`CREATE INDEX auth_events_user ON auth_events (user_id, id) WHERE user_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX auth_events_email ON auth_events (email_index, id) WHERE email_index IS NOT NULL`.execute(db);
}
