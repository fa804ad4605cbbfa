/**
 * The inventory of everything stored under a rotatable key (issue 9 §1, ADR 0012): every AES-GCM
 * envelope column (ENCRYPTION_KEYRING) and every blind-index column (BLIND_INDEX_KEY). The rotation sweep
 * and the status endpoint read only this; test/integration/key-rotation-registry.test.ts checks it against
 * what the repositories declare and against every bytea column of the migrated schema, so a new encrypted
 * column cannot be forgotten.
 */

/** One envelope column: where it is in SQL, and the table/column names bound into its additional data. */
export interface EnvelopeColumn {
  /** SQL table name. */
  readonly table: string;
  /** SQL column name (snake_case). */
  readonly column: string;
  /** The column name in the additional data, exactly as the repository declares it (camelCase spec key). */
  readonly aadColumn: string;
  /** Why the sweep never rewrites it, when it does not (the value is hashed into the audit chain). */
  readonly pinned?: string;
}

const AUDIT_CHAIN_PIN = 'hashed into the tamper-evident audit chain: kept on its version until retention purges the event';

export const ENVELOPE_COLUMNS: readonly EnvelopeColumn[] = [
  { table: 'users', column: 'email', aadColumn: 'email' },
  { table: 'users', column: 'display_name', aadColumn: 'displayName' },
  { table: 'email_tokens', column: 'email', aadColumn: 'email' },
  { table: 'email_tokens', column: 'payload', aadColumn: 'payload' },
  { table: 'mail_outbox', column: 'recipient', aadColumn: 'recipient' },
  { table: 'mail_outbox', column: 'body', aadColumn: 'body' },
  { table: 'api_keys', column: 'last_used_ip', aadColumn: 'lastUsedIp' },
  { table: 'mfa_totp', column: 'secret', aadColumn: 'secret' },
  { table: 'target_versions', column: 'config', aadColumn: 'config' },
  { table: 'target_versions', column: 'credentials', aadColumn: 'credentials' },
  { table: 'scans', column: 'plan', aadColumn: 'plan' },
  { table: 'attempts', column: 'prompt_original', aadColumn: 'promptOriginal' },
  { table: 'attempts', column: 'prompt_converted', aadColumn: 'promptConverted' },
  { table: 'attempts', column: 'request_redacted', aadColumn: 'requestRedacted' },
  { table: 'attempts', column: 'response', aadColumn: 'response' },
  { table: 'attempts', column: 'scores', aadColumn: 'scores' },
  { table: 'finding_comments', column: 'body', aadColumn: 'body' },
  // Sealed by http/idempotency.ts with the cipher directly, under the SQL column name.
  { table: 'idempotency_records', column: 'response_body', aadColumn: 'response_body' },
  // Sealed by retention/legal-holds.service.ts with the cipher directly.
  { table: 'legal_holds', column: 'reason', aadColumn: 'reason' },
  { table: 'audit_events', column: 'client_ip', aadColumn: 'clientIp', pinned: AUDIT_CHAIN_PIN },
  { table: 'audit_events', column: 'user_agent', aadColumn: 'userAgent', pinned: AUDIT_CHAIN_PIN },
];

/**
 * Tables whose rows the triggers of 2026-11-29T0018-key-rotation.ts let the sweep re-encrypt only with
 * `vutf.key_rotation` set in its transaction (immutable evidence otherwise).
 */
export const ROTATION_GUARDED_TABLES: ReadonlySet<string> = new Set(['attempts', 'target_versions']);

/** How a blind-index column moves to the current BLIND_INDEX_KEY version, if it can. */
export type BlindIndexRotation =
  /** Recomputed from a plaintext we can open: the envelope column of the same row. */
  | { readonly how: 'reindex'; readonly from: string; readonly fromAad: string; readonly purpose: string; readonly normalise: 'email' }
  /** One-way (a secret we never store): recomputed when the secret is next presented. */
  | { readonly how: 'lazy'; readonly note: string }
  /** Kept until the row is replaced or purged. */
  | { readonly how: 'pinned'; readonly note: string };

export interface BlindIndexColumn {
  readonly table: string;
  readonly column: string;
  readonly rotation: BlindIndexRotation;
}

export const BLIND_INDEX_COLUMNS: readonly BlindIndexColumn[] = [
  { table: 'users', column: 'email_index', rotation: { how: 'reindex', from: 'email', fromAad: 'email', purpose: 'users.email', normalise: 'email' } },
  { table: 'email_tokens', column: 'email_index', rotation: { how: 'reindex', from: 'email', fromAad: 'email', purpose: 'users.email', normalise: 'email' } },
  { table: 'mail_outbox', column: 'recipient_index', rotation: { how: 'reindex', from: 'recipient', fromAad: 'recipient', purpose: 'mail.recipient', normalise: 'email' } },
  { table: 'api_keys', column: 'secret_hash', rotation: { how: 'lazy', note: 're-indexed when the key is next presented (the secret is never stored)' } },
  { table: 'mfa_backup_codes', column: 'code_hash', rotation: { how: 'pinned', note: 'one-way; kept until the user regenerates the codes' } },
  { table: 'login_attempts', column: 'email_index', rotation: { how: 'pinned', note: 'failure counters without plaintext; purged hourly once their window has passed' } },
  { table: 'audit_events', column: 'subject_index', rotation: { how: 'pinned', note: AUDIT_CHAIN_PIN } },
  { table: 'audit_analysis_ip_failures', column: 'ip_index', rotation: { how: 'pinned', note: 'failure counters per client address without plaintext; kept until their analysis window is purged' } },
];

/**
 * bytea columns that hold neither an envelope nor a blind index (hashes of exact bytes or of one-time
 * tokens, signatures, public keys): listed so the schema test can tell them apart.
 */
export const NOT_KEYED_BYTEA: ReadonlyMap<string, string> = new Map([
  ['idempotency_records.body_hash', 'SHA-256 of a request body'],
  ['refresh_tokens.token_hash', 'SHA-256 of an opaque token'],
  ['email_tokens.token_hash', 'SHA-256 of an opaque token'],
  ['mfa_challenges.token_hash', 'SHA-256 of an opaque token'],
  ['attempts.prompt_sha256', 'SHA-256 of the exact prompt bytes'],
  ['attempts.response_sha256', 'SHA-256 of the exact response bytes'],
  ['audit_events.hash', 'audit chain hash'],
  ['audit_checkpoints.head_hash', 'audit chain hash'],
  ['audit_purges.head_hash', 'audit chain hash where a retention purge cut the chain'],
  ['audit_checkpoints.signature', 'Ed25519 signature (AUDIT_SIGNING_KEY, verified by its registered public key)'],
  ['audit_signing_keys.public_key', 'Ed25519 public key'],
  ['passkeys.public_key', 'WebAuthn credential public key'],
]);
