import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, seedDataDirFromSnapshot } from '../setup/service-process.js';

/**
 * Tracing as an operator turns it on: the service started with OTEL_EXPORTER_OTLP_ENDPOINT
 * pointing at a fake OTLP/HTTP collector (JSON bodies) exports a route-named server span for a
 * request, with the service name, without the request's credentials, and still stops promptly.
 */
const root = path.resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'vutf-otel-'));
const SECRET = 'secret-should-not-appear';
const QUERY_SECRET = 'query-secret-should-not-appear';

interface Received {
  url: string;
  contentType: string | undefined;
  body: string;
}
interface OtlpValue {
  stringValue?: string;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  name: string;
  kind: number;
  attributes?: OtlpAttribute[];
}
interface OtlpTraces {
  resourceSpans?: { resource?: { attributes?: OtlpAttribute[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

const received: Received[] = [];
let collector: Server;
let collectorPort: number;
let child: ChildProcess;
let exited: Promise<number | null>;
let output = '';
let port: number;


const status = async (url: string, headers: Record<string, string> = {}) => {
  try {
    return (await fetch(`http://127.0.0.1:${port}${url}`, { headers })).status;
  } catch {
    return 0;
  }
};

const attribute = (attributes: OtlpAttribute[] | undefined, key: string) => attributes?.find((entry) => entry.key === key)?.value.stringValue;

/** Every span received so far, with its resource's service.name. */
const receivedSpans = () =>
  received
    .filter((entry) => entry.url === '/v1/traces')
    .flatMap((entry) => (JSON.parse(entry.body) as OtlpTraces).resourceSpans ?? [])
    .flatMap((resourceSpans) =>
      (resourceSpans.scopeSpans ?? []).flatMap((scope) =>
        (scope.spans ?? []).map((span) => ({ ...span, serviceName: attribute(resourceSpans.resource?.attributes, 'service.name') })),
      ),
    );

const waitFor = async <T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
  const started = performance.now();
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (performance.now() - started > timeoutMs) throw new Error(`${what} not received within ${timeoutMs} ms; got ${JSON.stringify(receivedSpans().map((span) => span.name))}\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

// Compiled on the fly and started beside a busy suite: a generous bound for a hang, not a speed figure.
const READY_LIMIT_MS = 90_000;

beforeAll(async () => {
  collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ url: request.url ?? '', contentType: request.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  collectorPort = (collector.address() as AddressInfo).port;

  await seedDataDirFromSnapshot(dataDir);

  port = await freePort();
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      DATA_DIR: dataDir,
      PORT: String(port),
      LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const started = performance.now();
  while ((await status('/health/ready')) !== 200) {
    if (child.exitCode !== null || performance.now() - started > READY_LIMIT_MS) throw new Error(`service did not become ready:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, READY_LIMIT_MS + 30_000);

afterAll(async () => {
  if (child?.exitCode === null) child.kill('SIGKILL');
  await new Promise((resolve) => collector?.close(resolve));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('tracing with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
  it('exports a route-named server span for the request, with the service name', async () => {
    expect(await status('/health/live', { authorization: `Bearer ${SECRET}`, cookie: `session=${SECRET}` })).toBe(200);
    const span = await waitFor(() => receivedSpans().find((candidate) => candidate.name === 'GET /health/live'), 10_000, 'span GET /health/live');
    expect(span.serviceName).toBe('violentutf-api');
    expect(span.kind).toBe(2); // SERVER
    expect(attribute(span.attributes, 'http.route')).toBe('/health/live');
    expect(received.every((entry) => entry.contentType === 'application/json')).toBe(true);
  });

  it('records no header and no query value, and names spans without the query', async () => {
    // Rejected (no such query field), but still traced.
    await status(`/health/live?token=${QUERY_SECRET}`, { 'x-api-key': SECRET });
    const span = await waitFor(
      () => receivedSpans().find((candidate) => candidate.attributes?.some((entry) => entry.key === 'url.query')),
      10_000,
      'span with url.query',
    );
    expect(span.name).toBe('GET /health/live');
    expect(attribute(span.attributes, 'url.query')).toBe('token=REDACTED');
    const spans = receivedSpans();
    expect(spans.some((candidate) => candidate.attributes?.some((entry) => entry.key.startsWith('http.request.header.')))).toBe(false);
    for (const entry of received) {
      expect(entry.body).not.toContain(SECRET);
      expect(entry.body).not.toContain(QUERY_SECRET);
    }
  });

  it('exports traces only (metrics and logs off) and on SIGTERM flushes, exits 0 within seconds', async () => {
    const stopping = performance.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(performance.now() - stopping).toBeLessThan(5_000);
    expect(output).toContain('shutdown complete');
    expect(new Set(received.map((entry) => entry.url))).toEqual(new Set(['/v1/traces']));
    for (const entry of received) expect(entry.body).not.toContain(SECRET);
  });
});
