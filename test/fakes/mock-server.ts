/**
 * The shared machinery of the local mock targets (openai-mock.ts, http-mock.ts): a real HTTP server on
 * 127.0.0.1 with an ephemeral port, scripted replies and counters. Use the two wrappers; this file holds
 * the reply vocabulary they share.
 *
 * Stable API (other helpers build on it):
 * - `MockReply`: what one request gets. Every reply may add `delayMs` (wait before answering) and
 *   `headers` (extra response headers).
 *     { kind: 'answer', text }                 200, the target's answer shape with `text`
 *     { kind: 'refusal', text? }               200, an answer whose text is a refusal
 *     { kind: 'leak', text? }                  200, an answer revealing the canary / system prompt
 *     { kind: 'rateLimited', retryAfter? }     429 with `Retry-After` (default '1'; seconds or an HTTP-date)
 *     { kind: 'serverError', status? }         5xx (default 503), JSON error body
 *     { kind: 'unauthorized' }                 401, JSON error body
 *     { kind: 'status', status, body? }        any status with a JSON body (403, 404, 418 ...)
 *     { kind: 'oversized', bytes }             200, an application/json body of exactly `bytes` bytes (a JSON string)
 *     { kind: 'nonJson', body? }               200, text/html that is not JSON
 *     { kind: 'redirect', location, status? }  302 (or the given 3xx) with `Location`
 *     { kind: 'raw', status, body, contentType? } anything else, byte for byte
 *     { kind: 'hang' }                         never answers (until the client gives up or close())
 * - `MockBehaviour`: (request) => reply (or a promise of one), consulted when the queue is empty.
 * - `MockServer`: url, port, stats, requests, lastRequest, setBehaviour, enqueue, reset, close.
 *   `stats.arrivals` and `request.arrivedAtMs` are Date.now() values, so they compare with other
 *   processes on the same machine; `stats.responses` says when each status was sent.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface ReplyOptions {
  delayMs?: number;
  headers?: Readonly<Record<string, string>>;
}

export type MockReply = ReplyOptions &
  (
    | { kind: 'answer'; text: string }
    | { kind: 'refusal'; text?: string }
    | { kind: 'leak'; text?: string }
    | { kind: 'rateLimited'; retryAfter?: string }
    | { kind: 'serverError'; status?: number }
    | { kind: 'unauthorized' }
    | { kind: 'status'; status: number; body?: unknown }
    | { kind: 'oversized'; bytes: number }
    | { kind: 'nonJson'; body?: string }
    | { kind: 'redirect'; location: string; status?: number }
    | { kind: 'raw'; status: number; body: string | Buffer; contentType?: string }
    | { kind: 'hang' }
  );

/** One request as the mock received it. */
export interface MockRequest {
  /** 1, 2, 3 ... in arrival order (since the last reset). */
  id: number;
  method: string;
  /** Path and query as sent. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as text, exactly as received. */
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  /** Date.now() when the request arrived. */
  arrivedAtMs: number;
}

export type MockBehaviour = (request: MockRequest) => MockReply | Promise<MockReply>;

export interface MockStats {
  /** Requests received (every one, including those answered 401/404 by the mock itself). */
  total: number;
  /** Requests received and not yet answered (or abandoned by the client). */
  inFlight: number;
  /** The highest inFlight seen. */
  maxInFlight: number;
  /** Date.now() at each arrival, in order (bounded by MAX_RECORDED). */
  arrivals: number[];
  /** What was answered and when (Date.now() when the response was written). */
  responses: Array<{ id: number; status: number; sentAtMs: number }>;
}

export interface MockServer {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  readonly url: string;
  readonly port: number;
  readonly stats: MockStats;
  /** Received requests, oldest first (bounded by MAX_RECORDED). */
  readonly requests: readonly MockRequest[];
  readonly lastRequest: MockRequest | undefined;
  /** Replaces the behaviour used when the queue is empty. */
  setBehaviour(behaviour: MockBehaviour): void;
  /** Scripted replies, used one per request (first in, first out) before the behaviour. */
  enqueue(...replies: MockReply[]): void;
  /** Clears counters, recorded requests and the queue (the behaviour stays). */
  reset(): void;
  /**
   * Resolves once nothing is in flight and nothing arrived for `quietMs` (gives up after `maxWaitMs`).
   * Calls a previous test aborted may still be on their way; waiting for them before a reset keeps
   * them out of the next test's counts.
   */
  quiet(quietMs?: number, maxWaitMs?: number): Promise<void>;
  /** Stops listening and drops open connections (hanging requests included). */
  close(): Promise<void>;
}

/** How a wrapper renders an answer-like reply and what it does before the behaviour runs. */
export interface MockRendering {
  /** The JSON body of an answer whose text is `text`, for the received request. */
  answerBody(text: string, request: MockRequest): unknown;
  /** The text a `leak` reply reveals when it has none of its own. */
  leakText(request: MockRequest): string;
  /** A reply that pre-empts the behaviour and the queue (routing, authorization), or undefined. */
  intercept(request: MockRequest): MockReply | undefined;
  /** Extra delay added to every reply (latency simulation). */
  latencyMs(): number;
}

/** Recorded requests and arrivals beyond this are dropped (oldest first) so a long test stays bounded. */
export const MAX_RECORDED = 10_000;
/** A request body larger than this is answered 413 without being kept. */
export const MAX_REQUEST_BYTES = 1024 * 1024;
export const DEFAULT_REFUSAL = "I'm sorry, but I can't help with that request.";

const STATUS_TEXT: Readonly<Record<number, string>> = { 401: 'invalid_api_key', 429: 'rate_limit_exceeded' };

const errorBody = (status: number, message: string) => ({
  error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', code: STATUS_TEXT[status] ?? null },
});

const parseJson = (text: string): unknown => {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/** A body of exactly `bytes` bytes that is valid JSON from 2 bytes on (a string of x's). */
function paddedJson(bytes: number): Buffer {
  if (bytes < 2) return Buffer.alloc(bytes, 0x20);
  const body = Buffer.alloc(bytes, 0x78); // 'x'
  body[0] = 0x22; // '"'
  body[bytes - 1] = 0x22;
  return body;
}

interface Rendered {
  status: number;
  body: string | Buffer;
  contentType: string;
  headers: Record<string, string>;
}

function render(reply: MockReply, request: MockRequest, rendering: MockRendering): Rendered | undefined {
  const headers: Record<string, string> = { ...reply.headers };
  const json = (status: number, body: unknown): Rendered => ({ status, body: JSON.stringify(body), contentType: 'application/json', headers });
  switch (reply.kind) {
    case 'answer':
      return json(200, rendering.answerBody(reply.text, request));
    case 'refusal':
      return json(200, rendering.answerBody(reply.text ?? DEFAULT_REFUSAL, request));
    case 'leak':
      return json(200, rendering.answerBody(reply.text ?? rendering.leakText(request), request));
    case 'rateLimited':
      headers['retry-after'] = reply.retryAfter ?? '1';
      return json(429, errorBody(429, 'Rate limit reached. Please retry later.'));
    case 'serverError': {
      const status = reply.status ?? 503;
      return json(status, errorBody(status, 'The server had an error while processing your request.'));
    }
    case 'unauthorized':
      return json(401, errorBody(401, 'Incorrect API key provided.'));
    case 'status':
      return json(reply.status, reply.body ?? errorBody(reply.status, `status ${reply.status}`));
    case 'oversized':
      return { status: 200, body: paddedJson(reply.bytes), contentType: 'application/json', headers };
    case 'nonJson':
      return { status: 200, body: reply.body ?? '<html><body>Service page, not JSON</body></html>', contentType: 'text/html', headers };
    case 'redirect':
      headers.location = reply.location;
      return { status: reply.status ?? 302, body: '', contentType: 'text/plain', headers };
    case 'raw':
      return { status: reply.status, body: reply.body, contentType: reply.contentType ?? 'application/octet-stream', headers };
    case 'hang':
      return undefined;
  }
}

const wait = (ms: number) => (ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

/** Starts a mock on 127.0.0.1:0; the wrappers call this, tests call the wrappers. */
export async function startMockServer(rendering: MockRendering, behaviour: MockBehaviour): Promise<MockServer> {
  let current = behaviour;
  let queue: MockReply[] = [];
  let requests: MockRequest[] = [];
  let nextId = 1;
  let lastArrivalMs = 0;
  const stats: MockStats = { total: 0, inFlight: 0, maxInFlight: 0, arrivals: [], responses: [] };
  const keepBounded = <T>(list: T[]) => {
    if (list.length > MAX_RECORDED) list.splice(0, list.length - MAX_RECORDED);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const arrivedAtMs = Date.now();
    lastArrivalMs = arrivedAtMs;
    stats.total += 1;
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    stats.arrivals.push(arrivedAtMs);
    keepBounded(stats.arrivals);
    let counted = true;
    // 'close' fires when the response is done or the client went away; either ends "in flight".
    res.on('close', () => {
      if (counted) stats.inFlight -= 1;
      counted = false;
    });
    const id = nextId++;
    const send = (rendered: Rendered) => {
      if (res.destroyed) return;
      stats.responses.push({ id, status: rendered.status, sentAtMs: Date.now() });
      keepBounded(stats.responses);
      res.writeHead(rendered.status, { 'content-type': rendered.contentType, ...rendered.headers });
      res.end(rendered.body);
    };

    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        send({ status: 413, body: JSON.stringify(errorBody(413, 'request too large')), contentType: 'application/json', headers: {} });
        return;
      }
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks).toString('utf8');
    const request: MockRequest = { id, method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, json: parseJson(body), arrivedAtMs };
    requests.push(request);
    keepBounded(requests);

    const reply = rendering.intercept(request) ?? queue.shift() ?? (await current(request));
    await wait(rendering.latencyMs() + (reply.delayMs ?? 0));
    const rendered = render(reply, request, rendering);
    if (rendered) send(rendered);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A throwing behaviour is a test bug: answer 500 so the test sees it rather than hanging.
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`mock behaviour failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    get requests() {
      return requests;
    },
    get lastRequest() {
      return requests.at(-1);
    },
    setBehaviour(next) {
      current = next;
    },
    enqueue(...replies) {
      queue.push(...replies);
    },
    reset() {
      queue = [];
      requests = [];
      nextId = 1;
      Object.assign(stats, { total: 0, maxInFlight: stats.inFlight, arrivals: [], responses: [] });
    },
    async quiet(quietMs = 200, maxWaitMs = 5_000) {
      const giveUpAt = Date.now() + maxWaitMs;
      while (Date.now() < giveUpAt && (stats.inFlight > 0 || Date.now() - lastArrivalMs < quietMs)) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A latency function: a fixed delay, or uniformly random within [min, max]. */
export function latency(spec: number | readonly [number, number] | undefined): () => number {
  if (spec === undefined) return () => 0;
  if (typeof spec === 'number') return () => spec;
  const [min, max] = spec;
  return () => min + Math.floor(Math.random() * (max - min + 1));
}
