import { createHash } from 'node:crypto';
import type { StoredAuditEvent } from '../../db/schema.js';
import { canonicalJson } from '../../platform/canonical-json.js';

/**
 * The bytes the audit chain hashes (ADR 0007). Event n's hash is SHA-256(hash(n-1) || canonical(n));
 * the first event's previous hash is 32 zero bytes.
 *
 * Canonical encoding, version 1: the ASCII tag `vutf-audit-event-v1`, then every stored column except
 * `hash`, in the fixed order of CHAIN_COLUMNS, each as a 4-byte big-endian length followed by that many
 * bytes; SQL NULL is the length 0xFFFFFFFF with no bytes (so NULL and '' differ). Values:
 * - text and uuid: UTF-8 as stored;
 * - `seq`, `status_code`: decimal digits;
 * - `occurred_at`: ISO 8601 UTC with milliseconds (`toISOString()`; the recorder writes milliseconds);
 * - bytea (`subject_index`, `client_ip`, `user_agent`; the envelopes as stored, never decrypted): the raw bytes;
 * - jsonb (`changed_fields`, `detail`): src/platform/canonical-json.ts (keys sorted), UTF-8.
 * Length prefixes make the encoding unambiguous without escaping. Values come from the database on the
 * sealer's and the verifier's side alike, so both read what jsonb and timestamptz normalised.
 * A new column in audit_events needs a new version of this encoding (a test compares the columns).
 */
export type ChainRow = Omit<StoredAuditEvent, 'hash' | 'seq'> & { seq: number };

/** The hashed columns in encoding order (snake_case names as in the migration). */
export const CHAIN_COLUMNS = [
  'seq',
  'id',
  'occurred_at',
  'actor_type',
  'actor_id',
  'actor_user_id',
  'org_id',
  'action',
  'resource_type',
  'resource_id',
  'subject_index',
  'outcome',
  'status_code',
  'request_id',
  'client_ip',
  'user_agent',
  'changed_fields',
  'detail',
] as const;

export const HASH_BYTES = 32;
export const GENESIS_HASH: Buffer = Buffer.alloc(HASH_BYTES);

const TAG = Buffer.from('vutf-audit-event-v1', 'ascii');
const NULL_LENGTH = 0xffffffff;

type Field = string | Buffer | null;

function fieldsOf(row: ChainRow): Field[] {
  return [
    String(row.seq),
    row.id,
    row.occurredAt.toISOString(),
    row.actorType,
    row.actorId,
    row.actorUserId,
    row.orgId,
    row.action,
    row.resourceType,
    row.resourceId,
    row.subjectIndex,
    row.outcome,
    row.statusCode === null ? null : String(row.statusCode),
    row.requestId,
    row.clientIp,
    row.userAgent,
    canonicalJson(row.changedFields),
    canonicalJson(row.detail),
  ];
}

/** The canonical bytes of one event (one allocation: lengths first, then one pass of writes). */
export function canonicalEventBytes(row: ChainRow): Buffer {
  const fields = fieldsOf(row);
  let size = TAG.length;
  for (const field of fields) size += 4 + (field === null ? 0 : typeof field === 'string' ? Buffer.byteLength(field, 'utf8') : field.length);
  const out = Buffer.allocUnsafe(size);
  let offset = TAG.copy(out, 0);
  for (const field of fields) {
    if (field === null) {
      offset = out.writeUInt32BE(NULL_LENGTH, offset);
    } else if (typeof field === 'string') {
      const written = out.write(field, offset + 4, 'utf8');
      out.writeUInt32BE(written, offset);
      offset += 4 + written;
    } else {
      out.writeUInt32BE(field.length, offset);
      offset += 4 + field.copy(out, offset + 4);
    }
  }
  return out;
}

/** hash(n) = SHA-256(hash(n-1) || canonical(n)). */
export function chainHash(previous: Buffer, row: ChainRow): Buffer {
  return createHash('sha256').update(previous).update(canonicalEventBytes(row)).digest();
}
