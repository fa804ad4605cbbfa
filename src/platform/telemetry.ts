import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { register } from 'node:module';
import { context, type Attributes, type Span } from '@opentelemetry/api';
import { getNodeAutoInstrumentations, type InstrumentationConfigMap } from '@opentelemetry/auto-instrumentations-node';
import { NodeSDK, core } from '@opentelemetry/sdk-node';
import type { FastifyInstance } from 'fastify';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import type { Logger } from './logger.js';

/**
 * OpenTelemetry tracing, started only when OTEL_EXPORTER_OTLP_ENDPOINT is set (DESIGN §3, §7).
 *
 * Import this module dynamically and call `startTelemetry()` BEFORE importing anything that should
 * be instrumented (Fastify, pg, ioredis, pino): in ESM the instrumentations patch modules through
 * the import-in-the-middle loader hook, which sees only imports that happen after it is registered.
 * When the variable is unset, main never imports this module, so nothing of OpenTelemetry loads.
 *
 * Traces go by OTLP/HTTP (protobuf; `OTEL_EXPORTER_OTLP_PROTOCOL=http/json` for JSON) to
 * `${OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`; the standard OTEL_* variables tune the exporter,
 * the batch processor and the sampler. Metrics and logs export stay off unless OTEL_METRICS_EXPORTER
 * / OTEL_LOGS_EXPORTER are set: a collector that takes only traces would otherwise make shutdown wait.
 *
 * Secrets: no request or response header is recorded (headersToSpanAttributes empty on both sides),
 * span names carry the route pattern (`GET /api/v1/orgs/:orgId`), never the URL or its query, query
 * values are replaced by REDACTED in `url.query` / `url.full`, Redis statements are reduced to the
 * command name, and pg records the parameterised SQL text without its values.
 */

export const DEFAULT_SERVICE_NAME = 'violentutf-api';
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 2_000;
const REDACTED = 'REDACTED';
const NO_HEADERS = { requestHeaders: [] as string[], responseHeaders: [] as string[] };

export interface Telemetry {
  /** Flushes pending spans and stops the SDK, giving up after `timeoutMs`; never rejects. */
  shutdown(logger?: Pick<Logger, 'warn'>, timeoutMs?: number): Promise<'flushed' | 'timed-out' | 'failed'>;
}

/** Keeps the parameter names of a query string (with or without its `?`) and replaces every value. */
export function redactQuery(query: string): string {
  const redacted = new URLSearchParams();
  for (const key of new URLSearchParams(query).keys()) redacted.append(key, REDACTED);
  return redacted.toString();
}

/** `url.query` (and `url.full` when given the part before the `?`) with every value redacted. */
export function redactedUrlAttributes(pathWithQuery: string | undefined, base?: string): Attributes {
  const at = pathWithQuery?.indexOf('?') ?? -1;
  if (pathWithQuery === undefined || at < 0) return {};
  const query = redactQuery(pathWithQuery.slice(at + 1));
  return {
    'url.query': query,
    ...(base === undefined ? {} : { 'url.full': `${base}${pathWithQuery.slice(0, at)}?${query}` }),
  };
}

/** Per-instrumentation settings: what is recorded, and the noisy instrumentations turned off. */
export function instrumentationConfig(): InstrumentationConfigMap {
  return {
    // One span per file, lookup or socket: noise that buries the request spans.
    '@opentelemetry/instrumentation-fs': { enabled: false },
    '@opentelemetry/instrumentation-dns': { enabled: false },
    '@opentelemetry/instrumentation-net': { enabled: false },
    // Metrics-only; metrics export is off by default.
    '@opentelemetry/instrumentation-runtime-node': { enabled: false },
    '@opentelemetry/instrumentation-host-metrics': { enabled: false },
    '@opentelemetry/instrumentation-http': {
      headersToSpanAttributes: { server: NO_HEADERS, client: NO_HEADERS },
      startIncomingSpanHook: (request: IncomingMessage) => redactedUrlAttributes(request.url),
      requestHook: (span: Span, request: ClientRequest | IncomingMessage) => {
        if (!('getHeader' in request)) return; // incoming: handled by startIncomingSpanHook
        const host = request.getHeader('host');
        span.setAttributes(redactedUrlAttributes(request.path, `${request.protocol}//${typeof host === 'string' ? host : request.host}`));
      },
    },
    '@opentelemetry/instrumentation-undici': {
      headersToSpanAttributes: NO_HEADERS,
      startSpanHook: (request) => redactedUrlAttributes(request.path, request.origin),
    },
    '@opentelemetry/instrumentation-pg': { enhancedDatabaseReporting: false },
    '@opentelemetry/instrumentation-ioredis': { dbStatementSerializer: (command) => command },
    // Trace ids in log lines for correlation; the log lines themselves are not exported.
    '@opentelemetry/instrumentation-pino': { disableLogSending: true },
  };
}

/**
 * auto-instrumentations-node 0.81 no longer ships a Fastify instrumentation; Fastify's own
 * diagnostics channel lets the HTTP server span take the matched route pattern as its name and
 * `http.route` (unmatched requests stay plain `GET`, so no raw path or query reaches the name).
 */
function nameServerSpansByRoute() {
  subscribe('fastify.initialization', (message) => {
    const { fastify } = message as { fastify: FastifyInstance };
    fastify.addHook('onRequest', (request, _reply, done) => {
      const rpc = core.getRPCMetadata(context.active());
      const route = request.routeOptions.url;
      if (rpc?.type === core.RPCType.HTTP && route !== undefined) rpc.route = route;
      done();
    });
  });
}

/** Registers the ESM loader hook, starts the NodeSDK and resolves once the hook knows every module to patch. */
export async function startTelemetry(options: { serviceName?: string } = {}): Promise<Telemetry> {
  // "none" unless the operator asked for them (DESIGN §3: otherwise shutdown waits ~8 s on a missing collector).
  for (const name of ['OTEL_METRICS_EXPORTER', 'OTEL_LOGS_EXPORTER']) {
    if (!process.env[name]?.trim()) process.env[name] = 'none';
  }
  // Only the modules an instrumentation hooks are wrapped, not every module of the service.
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  nameServerSpansByRoute();
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME?.trim() || options.serviceName || DEFAULT_SERVICE_NAME,
    instrumentations: [getNodeAutoInstrumentations(instrumentationConfig())],
  });
  sdk.start();
  await waitForAllMessagesAcknowledged();

  return {
    async shutdown(logger, timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timed-out'>((resolve) => {
        timer = setTimeout(() => resolve('timed-out'), timeoutMs);
        timer.unref();
      });
      const outcome = await Promise.race([
        sdk.shutdown().then(
          () => 'flushed' as const,
          (error: unknown) => {
            logger?.warn({ err: error }, 'telemetry shutdown failed');
            return 'failed' as const;
          },
        ),
        timedOut,
      ]);
      clearTimeout(timer);
      if (outcome === 'timed-out') logger?.warn({ timeoutMs }, 'telemetry shutdown timed out; unsent spans dropped');
      return outcome;
    },
  };
}
