import { once } from 'node:events';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { Uuid } from '../../http/schemas.js';
import { AppError, errors } from '../../platform/errors.js';
import type { Logger } from '../../platform/logger.js';
import type { Store } from '../../platform/stores/store.js';
import type { Principal } from '../../http/principal.js';
import type { AttemptsQueryRepo } from './attempts-query.repo.js';
import { TERMINAL_STATUSES } from './scan-contract.js';
import type { ScanEventHub, ScanEventReader, ScanEventRow } from './scan-events.js';

/** How streams behave; tests shorten the heartbeat. */
export interface StreamSettings {
  /** A comment line this often keeps proxies from closing an idle stream (DESIGN §9: 15 s). */
  heartbeatMs: number;
  /** Open streams per principal across every process (store leases, so a dead process's come back). */
  maxStreamsPerPrincipal: number;
  /** Open streams in this process: each holds a socket and a follower. */
  maxStreams: number;
  /** Rows read per query; a long backlog is sent in batches of this. */
  batchSize: number;
}

export const DEFAULT_STREAM_SETTINGS: StreamSettings = { heartbeatMs: 15_000, maxStreamsPerPrincipal: 5, maxStreams: 1000, batchSize: 200 };

/** A stream's lease outlives a missed renewal or two; it is renewed every third of it. */
const LEASE_TTL_MS = 60_000;
/** What a disconnected EventSource waits before reconnecting (the `retry:` field). */
const RECONNECT_MS = 2000;
const LAST_EVENT_ID = /^[0-9]{1,15}$/;

const isFinal = (row: ScanEventRow) => row.type === 'status' && TERMINAL_STATUSES.has(row.data.status as never);
const frame = (row: ScanEventRow) => `id: ${row.id}\nevent: ${row.type}\ndata: ${JSON.stringify(row.data)}\n\n`;

function lastEventIdOf(request: FastifyRequest): number {
  const header = request.headers['last-event-id'];
  if (header === undefined) return 0;
  if (typeof header !== 'string' || !LAST_EVENT_ID.test(header)) throw errors.badRequest('invalid_last_event_id', 'Last-Event-ID must be an event id this stream sent.');
  return Number(header);
}

/**
 * Server-Sent Events for a scan's log (issue 6 §5; DESIGN §9). The stream is written on the hijacked
 * socket, so the headers onRequest hooks set (security headers, X-Request-ID, CORS) are copied by hand,
 * and errors after the first byte end the stream (the client resumes with Last-Event-ID) instead of
 * reaching the error handler. `closeAll` runs in preClose: an open stream would hold shutdown forever.
 */
export function createScanEventStreams(deps: {
  hub: ScanEventHub;
  reader: ScanEventReader;
  scans: Pick<AttemptsQueryRepo, 'scanState'>;
  store: Pick<Store, 'acquireLease' | 'renewLease' | 'releaseLease'>;
  logger: Pick<Logger, 'warn'>;
  settings?: Partial<StreamSettings>;
}) {
  const settings = { ...DEFAULT_STREAM_SETTINGS, ...deps.settings };
  const open = new Set<() => void>();

  const leaseKey = (principal: Principal) => `scan-events:streams:${principal.type}:${principal.id}`;

  async function serve(request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<void> {
    const principal = request.principal!;
    const scanId = request.params.id;
    const orgId = principal.orgId;
    if (!orgId) throw errors.notFound('scan');
    let lastId = lastEventIdOf(request);
    const state = await deps.scans.scanState(orgId, scanId);
    if (!state) throw errors.notFound('scan');
    // A finished scan whose log the client has seen to the end: 204 tells an EventSource to stop reconnecting.
    if (TERMINAL_STATUSES.has(state.status) && (await deps.reader.after(orgId, scanId, lastId, 1)).length === 0) {
      await reply.code(204).send();
      return;
    }
    if (open.size >= settings.maxStreams) throw errors.unavailable('Too many event streams are open on this server.', 5);
    const lease = await deps.store.acquireLease(leaseKey(principal), settings.maxStreamsPerPrincipal, LEASE_TTL_MS);
    if (!lease) {
      throw new AppError(429, 'too_many_streams', {
        detail: `At most ${settings.maxStreamsPerPrincipal} event streams may be open at once per caller.`,
        headers: { 'retry-after': '5' },
      });
    }

    reply.hijack();
    const raw = reply.raw;
    const headers: Record<string, string | number | string[]> = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
    // Connection: close: the socket serves only this stream, and closes with it (shutdown waits for no idle keep-alive).
    raw.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'close' });

    const follower = deps.hub.follow(scanId);
    let closed = false;
    const finish = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      clearInterval(renewal);
      follower.close();
      open.delete(finish);
      deps.store.releaseLease(leaseKey(principal), lease).catch(() => undefined);
      // The socket carries only this stream (Connection: close): once the end is flushed it goes too, so a
      // client that stopped reading cannot hold the server's shutdown.
      const socket = request.raw.socket;
      if (!raw.writableEnded) raw.end(() => socket.destroy());
      else socket.destroy();
    };
    open.add(finish);
    raw.on('close', finish);
    // A comment line: ignored by clients, keeps intermediaries from timing the stream out.
    const heartbeat = setInterval(() => {
      if (!closed && raw.writableLength === 0) raw.write(': heartbeat\n\n');
    }, settings.heartbeatMs);
    const renewal = setInterval(() => {
      deps.store.renewLease(leaseKey(principal), lease, LEASE_TTL_MS).catch(() => undefined);
    }, LEASE_TTL_MS / 3);

    /** Writes and waits for the socket to drain (a slow reader holds no unbounded buffer here). */
    const write = async (chunk: string) => {
      if (raw.write(chunk) || closed) return;
      await Promise.race([once(raw, 'drain'), once(raw, 'close')]);
    };

    try {
      await write(`retry: ${RECONNECT_MS}\n\n`);
      // Set once the scan is seen terminal: one more read takes the events committed with the status change.
      let ended = false;
      while (!closed) {
        const rows = await deps.reader.after(orgId, scanId, lastId, settings.batchSize);
        for (const row of rows) {
          await write(frame(row));
          lastId = row.id;
          if (isFinal(row)) {
            finish();
            return;
          }
        }
        if (rows.length === settings.batchSize) continue;
        if (ended) {
          // A scan ended without a status event in its log: say so once, without an id (nothing to resume).
          const now = await deps.scans.scanState(orgId, scanId);
          if (now) await write(`event: status\ndata: ${JSON.stringify({ status: now.status, reason: now.statusReason })}\n\n`);
          finish();
          return;
        }
        if (rows.length === 0) {
          const now = await deps.scans.scanState(orgId, scanId);
          if (!now) {
            finish();
            return;
          }
          ended = TERMINAL_STATUSES.has(now.status);
          if (ended) continue;
        }
        await follower.wait();
      }
    } catch (error) {
      deps.logger.warn({ err: (error as Error).message, scanId }, 'scan event stream ended by an error');
      finish();
    }
  }

  return {
    serve,
    /** Ends every open stream (preClose: the server cannot close while they are open). */
    closeAll() {
      for (const finish of [...open]) finish();
    },
    openCount: () => open.size,
  };
}

export type ScanEventStreams = ReturnType<typeof createScanEventStreams>;

export const scanEventsRoutes: FastifyPluginAsyncTypebox<{ streams: ScanEventStreams }> = async (app, { streams }) => {
  app.get(
    '/scans/:id/events',
    {
      // A HEAD would open a stream with no body to carry it.
      exposeHeadRoute: false,
      config: { access: { permission: 'scans:read' } },
      schema: {
        tags: ['scans'],
        summary: "Follow a scan's progress as Server-Sent Events",
        description:
          'Events: `status` and `progress` (counts only, never content); `id` is the log position: reconnect with `Last-Event-ID` to resume ' +
          'without gaps or repeats. A comment line is sent every 15 s. The stream ends after the final status; a reconnect after it answers 204. ' +
          'Authenticate with the Authorization header (a fetch-based client) or the session cookie: never a token in the URL.',
        params: Type.Object({ id: Uuid('The scan.') }, { additionalProperties: false }),
        response: {
          200: { description: 'The event stream.', content: { 'text/event-stream': { schema: Type.String() } } },
          204: Type.Null({ description: 'The scan has ended and the client has every event.' }),
        },
      },
    },
    async (request, reply) => {
      await streams.serve(request, reply);
    },
  );
};
