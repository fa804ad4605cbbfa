/* global process, console, URL -- Node globals (the lint config declares none for .mjs files) */
// Load generator: one autocannon run against one URL, printed as one JSON line on stdout.
// bench/run.mjs starts it as a separate process (the service, the baseline and the load
// generator each get their own event loop, DESIGN §9 "Benchmarks").
//
//   node bench/load.mjs --url http://127.0.0.1:8000/health/live [--connections 50] [--duration 10]
//                       [--pipelining 1] [--timeout 10] [--header 'Name: value' ...]
//                       [--method POST] [--rate 1000]
//
// Headers and bodies holding secrets come from the environment instead of argv (argv is visible in ps):
//   LOAD_HEADERS='{"authorization":"Bearer ..."}' LOAD_BODY='{"email":...}' node bench/load.mjs --url ...
// A body is sent as application/json. --rate caps the offered load at that many requests per second
// over all connections (autocannon's overallRate): latency at a fixed rate instead of at saturation.
// Every `{{n}}` in the body becomes a value unique to the request (a random tag of this run plus a
// counter, lower-case letters and digits: valid in slugs and names), for writes that must not repeat.
//
// Output fields: requestsPerSec (autocannon's mean of per-second samples), latencyP50Ms,
// latencyP99Ms and latencyMeanMs (of 2xx responses, computed here from every response time at
// microsecond resolution: autocannon's own histogram has 1 ms buckets, so a fast endpoint's p50
// reads 0), non2xx, errors, timeouts, totalRequests, statusCodes.
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';

const UNIQUE = '{{n}}';

/** autocannon rebuilds a request whose `setupRequest` is a function before every send. */
function uniqueBodies(template) {
  const runTag = randomBytes(4).toString('hex');
  let counter = 0;
  return [{ setupRequest: (request) => ({ ...request, body: template.replaceAll(UNIQUE, `${runTag}${(counter++).toString(36)}`) }) }];
}

function parseArgs(argv) {
  const options = { headers: {} };
  for (let index = 0; index < argv.length; index += 1) {
    const name = argv[index];
    const value = argv[index + 1];
    if (!name.startsWith('--') || value === undefined) throw new Error(`unexpected argument ${name}`);
    index += 1;
    const key = name.slice(2);
    if (key === 'header') {
      const colon = value.indexOf(':');
      if (colon <= 0) throw new Error(`--header needs "Name: value", got ${value}`);
      options.headers[value.slice(0, colon).trim().toLowerCase()] = value.slice(colon + 1).trim();
    } else {
      options[key] = value;
    }
  }
  return options;
}

const round = (value) => Math.round(value * 1000) / 1000;

const positive = (value, name, fallback) => {
  const number = Number(value ?? fallback);
  if (!Number.isFinite(number) || number <= 0) throw new Error(`--${name} must be a positive number`);
  return number;
};

// Load only ever goes to this machine's loopback addresses.
function assertLoopback(url) {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return;
  throw new Error(`refusing to load ${url.origin}: only loopback addresses are allowed`);
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!options.url) throw new Error('--url is required');
  const url = new URL(options.url);
  assertLoopback(url);
  const headers = { ...options.headers };
  if (process.env.LOAD_HEADERS) {
    for (const [name, value] of Object.entries(JSON.parse(process.env.LOAD_HEADERS))) headers[name.toLowerCase()] = String(value);
  }
  const connections = Math.round(positive(options.connections, 'connections', 50));
  const duration = positive(options.duration, 'duration', 10);
  const pipelining = Math.round(positive(options.pipelining, 'pipelining', 1));
  const timeout = positive(options.timeout, 'timeout', 10);
  const method = (options.method ?? 'GET').toUpperCase();
  const overallRate = options.rate === undefined ? undefined : Math.round(positive(options.rate, 'rate'));
  const body = process.env.LOAD_BODY;
  if (body !== undefined) headers['content-type'] = 'application/json';

  // Every 2xx response time, as autocannon measures it (ms, float); bounded so a very long run
  // cannot exhaust memory (beyond the cap the percentiles come from the first MAX_SAMPLES).
  const MAX_SAMPLES = 20_000_000;
  let samples = new Float64Array(1 << 16);
  let count = 0;
  const requests = body?.includes(UNIQUE) ? uniqueBodies(body) : undefined;
  const instance = autocannon({ url: url.href, connections, duration, pipelining, timeout, headers, method, body, ...(requests ? { requests } : {}), ...(overallRate ? { overallRate } : {}) });
  instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
    if (statusCode < 200 || statusCode > 299 || count >= MAX_SAMPLES) return;
    if (count === samples.length) {
      const grown = new Float64Array(Math.min(samples.length * 2, MAX_SAMPLES));
      grown.set(samples);
      samples = grown;
    }
    samples[count] = responseTimeMs;
    count += 1;
  });
  const result = await instance;
  const sorted = samples.subarray(0, count).sort();
  const percentile = (p) => (count === 0 ? null : round(sorted[Math.min(count - 1, Math.ceil((p / 100) * count) - 1)]));
  let sum = 0;
  for (const value of sorted) sum += value;
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count]));
  console.log(
    JSON.stringify({
      url: url.href,
      connections,
      durationS: duration,
      pipelining,
      method,
      offeredRate: overallRate ?? null,
      requestsPerSec: result.requests.average,
      latencyP50Ms: percentile(50),
      latencyP99Ms: percentile(99),
      latencyMeanMs: count === 0 ? null : round(sum / count),
      latencyMaxMs: percentile(100),
      totalRequests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      statusCodes,
    }),
  );
}

main().catch((error) => {
  console.error(`load: ${error.message}`);
  process.exit(1);
});
