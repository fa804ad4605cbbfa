import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEgressClient, type EgressClient, type EgressClientDeps, type EgressPolicy, type Resolver } from './egress-client.js';
import { isEgressError, type EgressErrorCode } from './egress-error.js';

const received: Array<{ method: string; url: string; host: string | undefined }> = [];
let server: Server;
let base: string;
let port: number;

function route(request: IncomingMessage, response: ServerResponse): void {
  received.push({ method: request.method ?? '', url: request.url ?? '', host: request.headers.host });
  const path = (request.url ?? '').split('?')[0];
  if (path === '/ok') {
    response.end('hello');
  } else if (path === '/redirect') {
    response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
  } else if (path === '/slow') {
    response.writeHead(200);
    response.write('partial');
    // never ends: only the client's deadline finishes this exchange
  } else if (path === '/endless') {
    response.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(512, 0x61);
    const pump = () => {
      while (!response.destroyed && response.write(chunk));
      if (!response.destroyed) response.once('drain', pump);
    };
    pump();
  } else if (path === '/declared-large') {
    response.writeHead(200, { 'content-length': '100000' }).end(Buffer.alloc(100_000));
  } else if (path === '/echo') {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      response.writeHead(201, { 'content-type': 'application/json', 'x-seen-signature': String(request.headers['x-signature']) });
      response.end(JSON.stringify({ method: request.method, body: Buffer.concat(chunks).toString('utf8') }));
    });
  } else {
    response.writeHead(404).end();
  }
}

const policyOf = (overrides: Partial<EgressPolicy> = {}): EgressPolicy => ({
  allowPrivateNetworks: [],
  responseLimitBytes: 64 * 1024,
  timeoutMs: 5_000,
  ...overrides,
});

const clients: EgressClient[] = [];
const clientOf = (deps: Partial<EgressClientDeps> & { policy?: () => EgressPolicy } = {}): EgressClient => {
  const client = createEgressClient({ mode: 'embedded', policy: () => policyOf(), ...deps });
  clients.push(client);
  return client;
};

const fixedResolver =
  (answers: Record<string, string[]>): Resolver =>
  (hostname) =>
    Promise.resolve((answers[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));

async function failure(promise: Promise<unknown>): Promise<{ code: EgressErrorCode; message: string }> {
  try {
    await promise;
  } catch (error) {
    expect(isEgressError(error)).toBe(true);
    return error as { code: EgressErrorCode; message: string };
  }
  throw new Error('expected the request to fail');
}

beforeAll(async () => {
  server = createServer(route);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  received.length = 0;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('createEgressClient: destination checks', () => {
  it('[ASVS 1.3.6] embedded mode reaches loopback, by IP literal and by name', async () => {
    const client = clientOf();
    const byIp = await client.request({ method: 'GET', url: `${base}/ok` });
    expect(byIp.status).toBe(200);
    expect(byIp.body.toString()).toBe('hello');
    const byName = await clientOf({ resolve: fixedResolver({ localhost: ['127.0.0.1'] }) }).request({
      method: 'GET',
      url: `http://localhost:${port}/ok`,
    });
    expect(byName.status).toBe(200);
  });

  it('[ASVS 1.3.6] server mode refuses loopback by IP literal and by name, without connecting', async () => {
    const client = clientOf({ mode: 'server' });
    expect((await failure(client.request({ method: 'GET', url: `${base}/ok` }))).code).toBe('egress_denied_address');
    expect((await failure(client.request({ method: 'GET', url: `http://localhost:${port}/ok` }))).code).toBe('egress_denied_address');
    expect((await failure(client.request({ method: 'GET', url: `http://[::1]:${port}/ok` }))).code).toBe('egress_denied_address');
    expect((await failure(client.request({ method: 'GET', url: `http://0x7f.1:${port}/ok` }))).code).toBe('egress_denied_address');
    expect(received).toHaveLength(0);
  });

  it('[ASVS 13.2.4] server mode reaches loopback once an admin allowlists 127.0.0.0/8', async () => {
    const client = clientOf({
      mode: 'server',
      policy: () => policyOf({ allowPrivateNetworks: ['127.0.0.0/8'] }),
      resolve: fixedResolver({ 'internal.test': ['127.0.0.1'] }),
    });
    expect((await client.request({ method: 'GET', url: `${base}/ok` })).status).toBe(200);
    expect((await client.request({ method: 'GET', url: `http://internal.test:${port}/ok` })).status).toBe(200);
  });

  it('[ASVS 1.3.6] a name resolving to the metadata address is refused in every mode, even when allowlisted', async () => {
    const resolve = fixedResolver({ 'metadata.test': ['169.254.169.254'], 'aws6.test': ['fd00:ec2::254'] });
    const logger = { warn: vi.fn() };
    for (const mode of ['embedded', 'server'] as const) {
      const client = clientOf({ mode, resolve, logger, policy: () => policyOf({ allowPrivateNetworks: ['169.254.0.0/16', '::/0'] }) });
      const error = await failure(client.request({ method: 'GET', url: 'http://metadata.test/latest/meta-data/?token=s3cr3t' }));
      expect(error.code).toBe('egress_denied_address');
      expect(error.message).not.toContain('s3cr3t');
      expect(error.message).not.toContain('169.254');
      expect((await failure(client.request({ method: 'GET', url: 'http://aws6.test/' }))).code).toBe('egress_denied_address');
    }
    expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ host: 'metadata.test', address: '169.254.169.254' }), expect.any(String));
    expect(JSON.stringify(logger.warn.mock.calls)).not.toContain('s3cr3t');
  });

  it('[ASVS 1.3.6] a name is refused when any of its addresses is denied, and IPv4-mapped IPv6 is unwrapped', async () => {
    const resolve = fixedResolver({ 'mixed.test': ['93.184.216.34', '10.0.0.5'], 'mapped.test': ['::ffff:169.254.169.254'] });
    const client = clientOf({ mode: 'server', resolve });
    expect((await failure(client.request({ method: 'GET', url: 'http://mixed.test/' }))).code).toBe('egress_denied_address');
    expect((await failure(clientOf({ resolve }).request({ method: 'GET', url: 'http://mapped.test/' }))).code).toBe('egress_denied_address');
  });

  it('[ASVS 1.3.6] connects to the address the checked lookup returned, with no second resolution', async () => {
    const resolve = vi.fn(fixedResolver({ 'rebind.test': ['127.0.0.1'] }));
    const response = await clientOf({ resolve }).request({ method: 'GET', url: `http://rebind.test:${port}/ok` });
    expect(response.status).toBe(200);
    expect(resolve).toHaveBeenCalledTimes(1);
    // rebind.test exists in no DNS: reaching the server proves the socket used the checked answer.
    expect(received).toEqual([{ method: 'GET', url: '/ok', host: `rebind.test:${port}` }]);
  });

  it('[ASVS 1.3.6] IP literals that are always denied never reach a socket', async () => {
    const client = clientOf({ policy: () => policyOf({ allowPrivateNetworks: ['0.0.0.0/0'] }) });
    for (const url of ['http://169.254.169.254/', 'http://0.0.0.0/', 'http://[::]/', 'http://[fe80::1]/', 'http://[::ffff:a9fe:a9fe]/', 'http://100.100.100.200/']) {
      expect((await failure(client.request({ method: 'GET', url }))).code).toBe('egress_denied_address');
    }
  });

  it('[ASVS 1.3.6] https goes through the same checked lookup', async () => {
    const resolve = vi.fn(fixedResolver({ 'tls.test': ['127.0.0.1'], 'metadata.test': ['169.254.169.254'] }));
    const denied = await failure(clientOf({ resolve }).request({ method: 'GET', url: 'https://metadata.test/' }));
    expect(denied.code).toBe('egress_denied_address');
    // The local server speaks plain HTTP, so the handshake fails after the checked lookup connected it.
    const handshake = await failure(clientOf({ resolve }).request({ method: 'GET', url: `https://tls.test:${port}/ok` }));
    expect(handshake.code).toBe('egress_network');
    expect(resolve.mock.calls).toEqual([['metadata.test'], ['tls.test']]);
  });

  it('reports an unreachable destination as egress_network', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const client = clientOf({ resolve: fixedResolver({}) });
    expect((await failure(client.request({ method: 'GET', url: `http://127.0.0.1:${closedPort}/` }))).code).toBe('egress_network');
    expect((await failure(client.request({ method: 'GET', url: 'http://nowhere.test/' }))).code).toBe('egress_network');
  });
});

describe('createEgressClient: request validation', () => {
  it('[ASVS 1.3.6] refuses URLs with credentials and schemes other than http and https', async () => {
    const client = clientOf();
    const urls = [
      `http://user:pass@127.0.0.1:${port}/ok`,
      `http://user@127.0.0.1:${port}/ok`,
      'file:///etc/passwd',
      'ftp://127.0.0.1/file',
      'gopher://127.0.0.1:6379/_INFO',
      'data:text/plain,hello',
      'javascript:alert(1)',
      'not a url',
      `http://127.0.0.1/${'a'.repeat(9000)}`,
    ];
    for (const url of urls) {
      const error = await failure(client.request({ method: 'GET', url }));
      expect(error.code).toBe('egress_invalid_url');
      expect(error.message).not.toContain('pass');
    }
    expect(received).toHaveLength(0);
  });

  it('[ASVS 4.2.5] refuses framing headers, control characters, unknown methods and oversized bodies', async () => {
    const client = clientOf({ requestLimitBytes: 1024 });
    const url = `${base}/echo`;
    const attempts = [
      client.request({ method: 'POST', url, headers: { host: 'other.test' } }),
      client.request({ method: 'POST', url, headers: { 'Transfer-Encoding': 'chunked' } }),
      client.request({ method: 'POST', url, headers: { 'x-note': 'a\r\nx-injected: 1' } }),
      client.request({ method: 'POST', url, headers: { 'bad name': 'x' } }),
      client.request({ method: 'TRACE' as 'GET', url }),
      client.request({ method: 'POST', url, body: 'x'.repeat(1025) }),
      client.request({ method: 'GET', url, timeoutMs: 0 }),
      client.request({ method: 'GET', url, maxResponseBytes: -1 }),
    ];
    for (const attempt of attempts) expect((await failure(attempt)).code).toBe('egress_invalid_request');
    expect(received).toHaveLength(0);
  });

  it('sends a body and headers and returns the response as bytes', async () => {
    const client = clientOf();
    const text = await client.request({ method: 'POST', url: `${base}/echo`, headers: { 'x-signature': 'sha256=abc' }, body: '{"a":1}' });
    expect(text.status).toBe(201);
    expect(text.headers['content-type']).toBe('application/json');
    expect(text.headers['x-seen-signature']).toBe('sha256=abc');
    expect(JSON.parse(text.body.toString('utf8'))).toEqual({ method: 'POST', body: '{"a":1}' });
    const bytes = await client.request({ method: 'PUT', url: `${base}/echo`, body: Buffer.from('héllo', 'utf8') });
    expect(JSON.parse(bytes.body.toString('utf8'))).toEqual({ method: 'PUT', body: 'héllo' });
  });
});

describe('createEgressClient: redirects and limits', () => {
  it('[ASVS 15.3.2] returns a 302 as is and never follows it', async () => {
    const response = await clientOf().request({ method: 'GET', url: `${base}/redirect` });
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('http://169.254.169.254/latest/meta-data/');
    expect(received).toHaveLength(1);
  });

  it('[ASVS 13.2.6] aborts a response slower than the deadline', async () => {
    const started = Date.now();
    const error = await failure(clientOf().request({ method: 'GET', url: `${base}/slow`, timeoutMs: 200 }));
    expect(error.code).toBe('egress_timeout');
    expect(Date.now() - started).toBeLessThan(3_000);
    const byPolicy = clientOf({ policy: () => policyOf({ timeoutMs: 150 }) });
    expect((await failure(byPolicy.request({ method: 'GET', url: `${base}/slow`, timeoutMs: 60_000 }))).code).toBe('egress_timeout');
  });

  it('ends the exchange when the caller aborts, and refuses an already aborted request without connecting', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = failure(clientOf().request({ method: 'GET', url: `${base}/slow`, timeoutMs: 60_000, signal: controller.signal }));
    setTimeout(() => controller.abort(), 100);
    expect((await pending).code).toBe('egress_aborted');
    expect(Date.now() - started).toBeLessThan(3_000);
    const before = received.length;
    expect((await failure(clientOf().request({ method: 'GET', url: `${base}/ok`, signal: AbortSignal.abort() }))).code).toBe('egress_aborted');
    expect(received).toHaveLength(before);
  });

  it('fails an endless body at the size limit instead of truncating it', async () => {
    const client = clientOf({ policy: () => policyOf({ responseLimitBytes: 4096 }) });
    expect((await failure(client.request({ method: 'GET', url: `${base}/endless` }))).code).toBe('egress_response_too_large');
    const tighter = await failure(clientOf().request({ method: 'GET', url: `${base}/endless`, maxResponseBytes: 1024 }));
    expect(tighter.code).toBe('egress_response_too_large');
  });

  it('fails at once when the declared length is over the limit, except for a HEAD', async () => {
    const client = clientOf({ policy: () => policyOf({ responseLimitBytes: 1024 }) });
    expect((await failure(client.request({ method: 'GET', url: `${base}/declared-large` }))).code).toBe('egress_response_too_large');
    const head = await client.request({ method: 'HEAD', url: `${base}/declared-large` });
    expect(head).toMatchObject({ status: 200, headers: { 'content-length': '100000' } });
    expect(head.body).toHaveLength(0);
    const exact = await clientOf().request({ method: 'GET', url: `${base}/ok`, maxResponseBytes: 5 });
    expect(exact.body.toString()).toBe('hello');
  });
});
