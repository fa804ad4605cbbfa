import type { ReadableStream } from 'node:stream/web';
import type { CommandIo } from './operator-command.js';
import { API_KEY_PREFIX } from '../modules/api-keys/api-keys.service.js';

/**
 * How an operator command reaches the running embedded service when it holds the data directory
 * (DESIGN §2: maintenance commands call the running service's API instead of opening PGlite).
 * `VIOLENTUTF_URL` (default `http://127.0.0.1:$PORT`, PORT default 8000) and `VIOLENTUTF_API_KEY`: an API
 * key (sent as X-API-Key) or access token (sent as a Bearer token) of a platform super-admin, never printed.
 */
export interface ServiceClient {
  /** JSON in, JSON out; a non-2xx answer throws ServiceCallError carrying the problem's safe fields. */
  json<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T>;
  /** The raw response of a call whose body is streamed (downloads); the caller checks `ok`. */
  fetch(method: 'GET' | 'POST', path: string, body?: string | Uint8Array | ReadableStream<Uint8Array>, contentType?: string): Promise<Response>;
}

export class ServiceCallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    detail: string,
  ) {
    super(`the service answered ${status}${code ? ` ${code}` : ''}: ${detail}`);
    this.name = 'ServiceCallError';
  }
}

/** The client, or a one-line reason why the environment does not allow one (no key). */
export function serviceClientFrom(env: NodeJS.ProcessEnv): ServiceClient | { refused: string } {
  const token = env.VIOLENTUTF_API_KEY;
  if (!token) return { refused: 'set VIOLENTUTF_API_KEY (a platform super-admin API key) to run this through the running service' };
  const base = (env.VIOLENTUTF_URL ?? `http://127.0.0.1:${env.PORT ?? '8000'}`).replace(/\/+$/, '');
  const call = (method: string, path: string, body?: string | Uint8Array | ReadableStream<Uint8Array>, contentType?: string) =>
    fetch(`${base}/api/v1${path}`, {
      method,
      // An API key is only accepted in X-API-Key (api-key.authenticator.ts); an access token is a Bearer token.
      headers: { ...(token.startsWith(API_KEY_PREFIX) ? { 'x-api-key': token } : { authorization: `Bearer ${token}` }), accept: 'application/json, application/problem+json, application/octet-stream', ...(contentType ? { 'content-type': contentType } : {}) },
      // A streamed upload needs half duplex in Node's fetch.
      ...(body === undefined ? {} : { body, duplex: 'half' }),
    });
  return {
    fetch: call,
    async json<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
      const response = await call(method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? undefined : 'application/json');
      const text = await response.text();
      const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      if (!response.ok) throw new ServiceCallError(response.status, parsed.code as string | undefined, typeof parsed.detail === 'string' ? parsed.detail : 'no detail');
      return parsed as T;
    },
  };
}

/** Runs `use` with a client, or prints why there is none (exit 1). */
export async function withServiceClient(name: string, env: NodeJS.ProcessEnv, io: CommandIo, use: (client: ServiceClient) => Promise<number>): Promise<number> {
  const client = serviceClientFrom(env);
  if ('refused' in client) {
    io.stderr(`${name}: the embedded service holds the data directory; ${client.refused}`);
    return 1;
  }
  try {
    return await use(client);
  } catch (error) {
    io.stderr(`${name}: ${error instanceof ServiceCallError || error instanceof TypeError ? error.message : String(error)}`);
    return 1;
  }
}
