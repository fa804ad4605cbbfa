import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { canonicalJson } from '../platform/canonical-json.js';
import type { Clock } from '../platform/clock.js';
import type { Db } from '../platform/db/database.js';
import type { Tx } from '../platform/db/transaction.js';
import { AppError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import type { FieldCipher } from '../platform/crypto/aead.js';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const REPLAYED_HEADERS = ['etag', 'location'] as const;

export interface WriteOptions {
  /** Status of a successful response. */
  status: number;
  /** The response carries a secret (token, new key): never stored, so never replayed. */
  carriesSecret?: boolean;
}

interface StoredResponse {
  headers: Record<string, string>;
  body: unknown;
}

const conflict = (detail: string) => new AppError(409, 'idempotency_conflict', { detail });

/**
 * Runs a write in one transaction and, when the request carries Idempotency-Key, stores the
 * response in that same transaction (DESIGN §6): a replay returns it, a concurrent duplicate
 * gets 409, the same key with another body 422.
 */
export function createWriteRunner(deps: {
  db: Db;
  cipher: Pick<FieldCipher, 'encrypt' | 'decrypt'>;
  clock: Clock;
  retentionHours: () => number;
  /** Runs inside the write's transaction after the work (the audit trail's event for the write). */
  afterWork?: (tx: Tx, request: FastifyRequest, result: unknown, status: number) => Promise<void>;
}) {
  const finish = async <T>(tx: Tx, request: FastifyRequest, status: number, work: (tx: Tx) => Promise<T>): Promise<T> => {
    const result = await work(tx);
    await deps.afterWork?.(tx, request, result, status);
    return result;
  };

  return async function runWrite<T>(
    request: FastifyRequest,
    reply: FastifyReply,
    options: WriteOptions,
    work: (tx: Tx) => Promise<T>,
  ): Promise<unknown> {
    const key = request.headers['idempotency-key'];
    if (key === undefined) {
      const result = await deps.db.transaction().execute((tx) => finish(tx, request, options.status, work));
      reply.code(options.status);
      return result;
    }
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      throw new AppError(400, 'invalid_idempotency_key', { detail: 'Idempotency-Key must be 1–255 visible ASCII characters.' });
    }
    const scope = {
      principal: request.principal ? `${request.principal.type}:${request.principal.id}` : `ip:${request.ip}`,
      method: request.method,
      route: request.url.split('?')[0] ?? request.url,
      key,
    };
    const bodyHash = createHash('sha256').update(canonicalJson(request.body ?? null)).digest();
    const now = deps.clock.now();

    const outcome = await deps.db.transaction().execute(async (tx) => {
      const existing = await tx
        .selectFrom('idempotencyRecords')
        .selectAll()
        .where('principal', '=', scope.principal)
        .where('method', '=', scope.method)
        .where('route', '=', scope.route)
        .where('key', '=', scope.key)
        .executeTakeFirst();
      if (existing && existing.expiresAt > now) {
        if (!existing.bodyHash.equals(bodyHash)) {
          throw new AppError(422, 'idempotency_key_reused', { detail: 'This Idempotency-Key was used with a different body.' });
        }
        if (!existing.responseBody) {
          throw conflict('The original response carried a secret and is not stored; it cannot be replayed.');
        }
        const stored = JSON.parse(
          deps.cipher.decrypt(existing.responseBody, { table: 'idempotency_records', column: 'response_body', rowId: existing.id }).toString('utf8'),
        ) as StoredResponse;
        return { replay: { status: existing.responseStatus, stored } };
      }
      if (existing) await tx.deleteFrom('idempotencyRecords').where('id', '=', existing.id).execute();

      const id = newId();
      // A concurrent duplicate's insert waits on ours; give up quickly and answer 409 instead.
      await sql`SET LOCAL lock_timeout = '200ms'`.execute(tx);
      try {
        await tx
          .insertInto('idempotencyRecords')
          .values({ id, ...scope, bodyHash, responseStatus: 0, responseBody: null, createdAt: now, expiresAt: new Date(now.getTime() + deps.retentionHours() * 3_600_000) })
          .execute();
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === '23505' || code === '55P03') throw conflict('A request with this Idempotency-Key is already being processed.');
        throw error;
      }
      await sql`SET LOCAL lock_timeout = 0`.execute(tx);

      const body = await finish(tx, request, options.status, work);
      const stored: StoredResponse = { headers: pickHeaders(reply), body };
      await tx
        .updateTable('idempotencyRecords')
        .set({
          responseStatus: options.status,
          responseBody: options.carriesSecret
            ? null
            : deps.cipher.encrypt(JSON.stringify(stored), { table: 'idempotency_records', column: 'response_body', rowId: id }),
        })
        .where('id', '=', id)
        .execute();
      return { fresh: body };
    });

    if ('replay' in outcome && outcome.replay) {
      for (const [name, value] of Object.entries(outcome.replay.stored.headers)) reply.header(name, value);
      reply.header('idempotent-replayed', 'true');
      reply.code(outcome.replay.status);
      return outcome.replay.stored.body;
    }
    reply.code(options.status);
    return outcome.fresh;
  };
}

function pickHeaders(reply: FastifyReply): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = reply.getHeader(name);
    if (typeof value === 'string') headers[name] = value;
  }
  return headers;
}

export type WriteRunner = ReturnType<typeof createWriteRunner>;
