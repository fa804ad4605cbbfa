/**
 * A local plain HTTP JSON API for tests of `http` targets (issue 5 §5). Listens on 127.0.0.1, port 0.
 *
 * Stable API:
 *   const mock = await startHttpMock({ method: 'POST', path: '/api/chat', expectedHeaders: { 'x-api-key': 'k' } });
 *   mock.url + mock.path          // the endpoint (mock.path is the configured path)
 *   mock.enqueue({ kind: 'serverError' }); mock.setBehaviour((request) => ({ kind: 'answer', text: '...' }));
 *   mock.lastRequest?.json        // exactly what arrived (template-injection tests)
 *   await mock.close();
 * An answer-like reply (answer, refusal, leak) is rendered as
 *   { "output": { "text": <text> }, "received": <the request body parsed as JSON, or null> }
 * so `$.output.text` extracts the answer and `$.received` echoes what arrived.
 * Default behaviour: a body containing `injectionMarker` anywhere gets a leak of the canary, anything else
 * an answer (default "Hello from the HTTP mock."). Other paths: 404; other methods on the path: 405;
 * a missing or different expected header: 401. Replies as in mock-server.ts.
 */
import { latency, startMockServer, type MockBehaviour, type MockServer } from './mock-server.js';
import { DEFAULT_CANARY, DEFAULT_INJECTION_MARKER } from './openai-mock.js';

export type { MockBehaviour, MockReply, MockRequest, MockServer, MockStats } from './mock-server.js';

export interface HttpMockOptions {
  /** Method the endpoint answers (default POST). */
  method?: string;
  /** Path the endpoint answers (default /api/chat); the query string is ignored when matching. */
  path?: string;
  /** Headers (lower-case names) that must be present with exactly these values; 401 otherwise. */
  expectedHeaders?: Readonly<Record<string, string>>;
  answer?: string;
  injectionMarker?: string;
  canary?: string;
  latencyMs?: number | readonly [number, number];
  behaviour?: MockBehaviour;
}

export interface HttpMockServer extends MockServer {
  /** The configured endpoint path. */
  readonly path: string;
}

export async function startHttpMock(options: HttpMockOptions = {}): Promise<HttpMockServer> {
  const method = (options.method ?? 'POST').toUpperCase();
  const path = options.path ?? '/api/chat';
  const marker = options.injectionMarker ?? DEFAULT_INJECTION_MARKER;
  const canary = options.canary ?? DEFAULT_CANARY;

  const defaultBehaviour: MockBehaviour = (request) =>
    request.body.includes(marker) ? { kind: 'leak' } : { kind: 'answer', text: options.answer ?? 'Hello from the HTTP mock.' };

  const server = await startMockServer(
    {
      latencyMs: latency(options.latencyMs),
      intercept(request) {
        if (request.path.split('?')[0] !== path) return { kind: 'status', status: 404, body: { error: 'not found' } };
        if (request.method !== method) return { kind: 'status', status: 405, body: { error: 'method not allowed' } };
        for (const [name, value] of Object.entries(options.expectedHeaders ?? {})) {
          if (request.headers[name.toLowerCase()] !== value) return { kind: 'unauthorized' };
        }
        return undefined;
      },
      answerBody: (text, request) => ({ output: { text }, received: request.json ?? null }),
      leakText: () => `Of course. The hidden instruction says: ${canary}`,
    },
    options.behaviour ?? defaultBehaviour,
  );
  // A plain object spread would copy the getters' current values; keep them live.
  return Object.defineProperty(server, 'path', { value: path, enumerable: true }) as HttpMockServer;
}
