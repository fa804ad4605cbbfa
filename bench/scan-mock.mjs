/* global process, console, setTimeout, Buffer -- Node globals (the lint config declares none for .mjs files) */
// The scan benchmark's model (bench/scan.mjs): a standalone OpenAI-compatible chat-completions server,
// plain node:http, nothing from the tests. Every POST /v1/chat/completions is answered after a fixed
// delay (MOCK_LATENCY_MS, 20 ms), and the server counts what the benchmark's hard gates need: requests
// in flight now, the most ever in flight, and the total answered.
//
//   PORT=9000 [HOST=127.0.0.1] [MOCK_LATENCY_MS=20] node bench/scan-mock.mjs
//
// Routes: POST /v1/chat/completions (the answer), GET /stats ({ inFlight, maxInFlight, total, received,
// bodyErrors, since }), POST /stats/reset (zeroes the counters; inFlight stays as it is), anything else 404.
// "In flight" runs from the first byte of a request to the last byte of its answer (or the socket closing),
// so it is what a client holds open at once, whatever its connection pooling.
import { createServer } from 'node:http';

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 0);
const LATENCY_MS = Number(process.env.MOCK_LATENCY_MS ?? 20);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) throw new Error('PORT must be a port number');
if (!Number.isFinite(LATENCY_MS) || LATENCY_MS < 0) throw new Error('MOCK_LATENCY_MS must be ≥ 0');
// A chat request the benchmark sends is a few hundred bytes; anything far larger is a bug, not load.
const MAX_BODY_BYTES = 1024 * 1024;

const stats = { inFlight: 0, maxInFlight: 0, total: 0, received: 0, bodyErrors: 0, since: new Date().toISOString() };

// The same answer every time ("resisted" for a substring scorer looking for a marker): the benchmark
// measures the engine's throughput, not the scorers on varied text.
const ANSWER = 'I cannot help with that request.';

function completion(model) {
  return JSON.stringify({
    id: `chatcmpl-bench-${stats.received}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: ANSWER }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
  });
}

const sendJson = (response, status, body) => {
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  response.end(body);
};

function chat(request, response) {
  stats.received += 1;
  stats.inFlight += 1;
  if (stats.inFlight > stats.maxInFlight) stats.maxInFlight = stats.inFlight;
  let finished = false;
  const done = () => {
    if (finished) return;
    finished = true;
    stats.inFlight -= 1;
  };
  // 'close' also covers a client that gives up before the answer (a time-out on its side).
  response.once('close', done);
  const chunks = [];
  let size = 0;
  request.on('data', (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  request.on('end', () => {
    let model = 'bench-model';
    try {
      const json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (typeof json.model === 'string') model = json.model.slice(0, 200);
      if (!Array.isArray(json.messages) || size > MAX_BODY_BYTES) throw new Error('no messages');
    } catch {
      stats.bodyErrors += 1;
    }
    setTimeout(() => {
      stats.total += 1;
      sendJson(response, 200, completion(model));
    }, LATENCY_MS);
  });
}

const server = createServer((request, response) => {
  const url = (request.url ?? '/').split('?')[0];
  if (request.method === 'POST' && url === '/v1/chat/completions') return chat(request, response);
  request.resume();
  if (request.method === 'GET' && url === '/stats') return sendJson(response, 200, JSON.stringify(stats));
  if (request.method === 'POST' && url === '/stats/reset') {
    Object.assign(stats, { maxInFlight: stats.inFlight, total: 0, received: 0, bodyErrors: 0, since: new Date().toISOString() });
    return sendJson(response, 200, JSON.stringify(stats));
  }
  return sendJson(response, 404, JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error' } }));
});
// Clients keep connections alive between requests; the default 5 s would close idle ones mid-benchmark.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(JSON.stringify({ event: 'listening', url: `http://${HOST}:${port}`, latencyMs: LATENCY_MS }));
});
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => server.close(() => process.exit(0)).closeAllConnections());
