import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction, Socket } from 'node:net';
import type { Logger } from '../logger.js';
import { createAddressPolicy, parseIp, type RunMode } from './address-policy.js';
import { EgressError } from './egress-error.js';

/** Read on every request, so an admin's policy change applies to the next call. */
export interface EgressPolicy {
  allowPrivateNetworks: readonly string[];
  responseLimitBytes: number;
  timeoutMs: number;
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address a name resolves to; injectable so tests can play a hostile DNS server. */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export type EgressLogger = Pick<Logger, 'warn'>;

export interface EgressClientDeps {
  mode: RunMode;
  policy: () => EgressPolicy;
  logger?: EgressLogger;
  /** Defaults to the system resolver (dns.lookup with all: true). */
  resolve?: Resolver;
  /** Largest request body sent. Default 10 MiB. */
  requestLimitBytes?: number;
  /** How long an idle pooled socket is kept. Default 4 s: below the 5 s keep-alive of common servers (Node's included). */
  idleSocketMs?: number;
}

export type EgressMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

export interface EgressRequest {
  method: EgressMethod;
  url: string;
  headers?: Readonly<Record<string, string>>;
  body?: string | Buffer;
  /** Tightens the policy's total deadline (connect + headers + body); never loosens it. */
  timeoutMs?: number;
  /** Tightens the policy's response size limit; never loosens it. */
  maxResponseBytes?: number;
  /** Ends the exchange (socket included) when the caller gives up: a cancelled scan frees its connection at once. */
  signal?: AbortSignal;
}

/** A complete response: a 3xx comes back as is (redirects are never followed). */
export interface EgressResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export interface EgressClient {
  /**
   * Every refusal or failure of the exchange rejects with EgressError. A body over the limit is an
   * error, never silently truncated.
   */
  request(request: EgressRequest): Promise<EgressResponse>;
  /** Destroys open connections; later requests still work (agents create new sockets). */
  close(): void;
}

const DEFAULT_REQUEST_LIMIT_BYTES = 10 * 1024 * 1024;
const MAX_URL_LENGTH = 8192;
const MAX_HEADERS = 100;
const MAX_RESPONSE_HEADER_BYTES = 16 * 1024;
// A target may allow up to 256 exchanges in flight (targets.schemas.ts): a lower per-host socket cap would
// silently queue the rest inside the agent, and the limiter's in-flight maximum would be a lie.
const MAX_SOCKETS_PER_HOST = 256;
const MAX_SOCKETS_TOTAL = 1024;
const DEFAULT_IDLE_SOCKET_MS = 4_000;
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
// Framing and connection headers are the client's business: letting callers set them would allow
// request smuggling or a virtual-host switch behind the checked address.
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'proxy-authorization',
  'proxy-connection',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

const invalid = (): EgressError => new EgressError('egress_invalid_request');

function parseTarget(raw: string): URL {
  if (typeof raw !== 'string' || raw.length > MAX_URL_LENGTH) throw new EgressError('egress_invalid_url');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EgressError('egress_invalid_url');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new EgressError('egress_invalid_url');
  if (url.username !== '' || url.password !== '' || url.hostname === '') throw new EgressError('egress_invalid_url');
  return url;
}

function checkHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const entries = Object.entries(headers);
  if (entries.length > MAX_HEADERS) throw invalid();
  for (const [name, value] of entries) {
    if (!HEADER_NAME.test(name) || RESERVED_HEADERS.has(name.toLowerCase())) throw invalid();
    // eslint-disable-next-line no-control-regex -- refusing control characters is the point
    if (typeof value !== 'string' || value.length > 8192 || /[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) throw invalid();
  }
  return { ...headers };
}

/** The tighter of the policy limit and the caller's, as a positive integer. */
function limit(policyValue: number, requested: number | undefined): number {
  const value = requested === undefined ? policyValue : Math.min(policyValue, requested);
  if (!Number.isSafeInteger(value) || value <= 0) throw invalid();
  return value;
}

const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

const familyOf = (family: unknown): number => (family === 'IPv4' ? 4 : family === 'IPv6' ? 6 : Number(family ?? 0));

/**
 * A keep-alive agent whose pool key carries the egress policy a socket was checked under (`policyTag` in the
 * request options): the destination check runs in the connection's lookup, so a pooled socket is only as good
 * as the policy at its connect time. After an admin narrows the policy, requests get a different pool key and
 * new, checked connections; the old sockets idle out. An idle socket closes after `idleSocketMs`; Node clears
 * that timer when the socket is reused, so a slow answer is bounded by the request's deadline alone (tested).
 */
function checkedAgent(agent: http.Agent, idleSocketMs: number): http.Agent {
  const baseName = agent.getName.bind(agent);
  const baseKeep = agent.keepSocketAlive.bind(agent);
  agent.getName = (options) => `${baseName(options)}|${(options as { policyTag?: string } | undefined)?.policyTag ?? ''}`;
  agent.keepSocketAlive = (socket) => {
    // Node's return value (typed void) says whether the socket was kept: pass it on.
    const kept = baseKeep(socket) as unknown as boolean;
    if (kept) (socket as Socket).setTimeout(idleSocketMs);
    return kept as unknown as void;
  };
  return agent;
}

type Finish = (error: EgressError | undefined, response?: EgressResponse) => void;

/** Reads the body up to the limit; one byte more aborts the request with egress_response_too_large. */
function collect(incoming: http.IncomingMessage, method: string, maxResponseBytes: number, finish: Finish): void {
  // A HEAD, 204 or 304 answer declares the length of a body it does not send.
  const bodyless = method === 'HEAD' || incoming.statusCode === 204 || incoming.statusCode === 304;
  const declared = Number(incoming.headers['content-length']);
  if (!bodyless && Number.isFinite(declared) && declared > maxResponseBytes) return finish(new EgressError('egress_response_too_large'));
  const chunks: Buffer[] = [];
  let received = 0;
  incoming.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received > maxResponseBytes) return finish(new EgressError('egress_response_too_large'));
    chunks.push(chunk);
  });
  incoming.on('error', (error) => finish(new EgressError('egress_network', { cause: error })));
  incoming.on('close', () => {
    if (!incoming.complete) finish(new EgressError('egress_network'));
  });
  incoming.on('end', () => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(incoming.headers)) {
      if (value !== undefined) headers[name] = value;
    }
    finish(undefined, { status: incoming.statusCode ?? 0, headers, body: Buffer.concat(chunks, received) });
  });
}

export function createEgressClient(deps: EgressClientDeps): EgressClient {
  const resolve = deps.resolve ?? systemResolver;
  const requestLimitBytes = deps.requestLimitBytes ?? DEFAULT_REQUEST_LIMIT_BYTES;
  // Own agents, not the global ones: a pooled socket opened by other code was never checked. Sockets are
  // kept alive but pooled per policy (see checkedAgent), so one checked under an older policy is never reused.
  const idleSocketMs = deps.idleSocketMs ?? DEFAULT_IDLE_SOCKET_MS;
  const agentOptions = { keepAlive: true, maxSockets: MAX_SOCKETS_PER_HOST, maxTotalSockets: MAX_SOCKETS_TOTAL };
  const httpAgent = checkedAgent(new http.Agent(agentOptions), idleSocketMs);
  const httpsAgent = checkedAgent(new https.Agent(agentOptions), idleSocketMs);

  async function request(input: EgressRequest): Promise<EgressResponse> {
    const url = parseTarget(input.url);
    if (!METHODS.has(input.method)) throw invalid();
    const headers = checkHeaders(input.headers ?? {});
    const body = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body;
    if (body !== undefined && !Buffer.isBuffer(body)) throw invalid();
    if (body && body.length > requestLimitBytes) throw invalid();

    const policy = deps.policy();
    const timeoutMs = limit(policy.timeoutMs, input.timeoutMs);
    const maxResponseBytes = limit(policy.responseLimitBytes, input.maxResponseBytes);
    const allowed = createAddressPolicy({ mode: deps.mode, allowPrivateNetworks: policy.allowPrivateNetworks });
    const policyTag = [...policy.allowPrivateNetworks].sort().join(',');
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const refuse = (address: string): EgressError => {
      deps.logger?.warn({ host, address, mode: deps.mode }, 'egress refused a destination address');
      return new EgressError('egress_denied_address');
    };

    // Node skips the lookup for IP literals, so they are checked here, before any socket exists.
    const literal = parseIp(host);
    if (literal === undefined && host.includes(':')) throw new EgressError('egress_invalid_url');
    if (literal !== undefined && !allowed(host)) throw refuse(host);

    // The socket connects to exactly the addresses checked here: no second resolution can swap them.
    const lookup: LookupFunction = (hostname, options, callback) => {
      const wanted = familyOf(options.family);
      resolve(hostname).then(
        (addresses) => {
          const denied = addresses.find((entry) => !allowed(entry.address));
          if (denied) return callback(refuse(denied.address), '');
          const usable: LookupAddress[] = addresses
            .filter((entry) => wanted === 0 || familyOf(entry.family) === wanted)
            .map((entry) => ({ address: entry.address, family: familyOf(entry.family) }));
          const first = usable[0];
          if (!first) return callback(new EgressError('egress_network'), '');
          if (options.all) return callback(null, usable);
          return callback(null, first.address, first.family);
        },
        (error: unknown) => callback(new EgressError('egress_network', { cause: error }), ''),
      );
    };

    if (input.signal?.aborted) throw new EgressError('egress_aborted');
    return new Promise<EgressResponse>((resolvePromise, reject) => {
      let settled = false;
      let outgoing: http.ClientRequest | undefined;
      const onAbort = () => finish(new EgressError('egress_aborted'));
      const finish: Finish = (error, response) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        input.signal?.removeEventListener('abort', onAbort);
        if (error) {
          outgoing?.destroy();
          reject(error);
        } else if (response) {
          resolvePromise(response);
        }
      };
      const timer = setTimeout(() => finish(new EgressError('egress_timeout')), timeoutMs);
      input.signal?.addEventListener('abort', onAbort, { once: true });
      const transport = url.protocol === 'https:' ? https : http;
      try {
        outgoing = transport.request(
          {
            protocol: url.protocol,
            hostname: host,
            port: url.port === '' ? undefined : Number(url.port),
            path: `${url.pathname}${url.search}`,
            method: input.method,
            headers: body ? { ...headers, 'content-length': String(body.length) } : headers,
            agent: url.protocol === 'https:' ? httpsAgent : httpAgent,
            lookup,
            maxHeaderSize: MAX_RESPONSE_HEADER_BYTES,
            policyTag,
          } as http.RequestOptions,
          (incoming) => collect(incoming, input.method, maxResponseBytes, finish),
        );
      } catch (error) {
        // Node refuses a header value it cannot send before any byte leaves.
        return finish(new EgressError('egress_invalid_request', { cause: error }));
      }
      outgoing.on('error', (error) => {
        finish(error instanceof EgressError ? error : new EgressError('egress_network', { cause: error }));
      });
      outgoing.end(body);
    });
  }

  return {
    request,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
