/* global process, console, Buffer -- Node globals (the lint config declares none for .mjs files) */
// The ceilings for the benchmarks: bare Fastify on the same Fastify version as the service, with
// logging off. bench/run.mjs and bench/auth.mjs start it as its own process so it never shares an
// event loop with the service or the load generator.
//   GET  /health/live   {"status":"ok"}: the ceiling of any route.
//   POST /argon2/verify only with BASELINE_PASSWORD set: parses the same JSON body as the service's
//        login ({"email","password"}) and runs raw @node-rs/argon2 verify of the password against an
//        argon2id hash made at start with the parameters in BASELINE_ARGON2 ({"memoryCostKiB",
//        "timeCost","parallelism"}, the service's policy defaults if unset): 200 on a match, 401 else.
//        The ceiling of a login: the hash work alone, at the same concurrency and over the same HTTP.
//
//   node bench/baseline-server.mjs [--port N] [--host 127.0.0.1]    (or PORT / HOST in the env)
import { hash, verify } from '@node-rs/argon2';
import Fastify from 'fastify';

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  if (index !== -1 && process.argv[index + 1] !== undefined) return process.argv[index + 1];
  return fallback;
}

const port = Number(option('port', process.env.PORT ?? '8001'));
// Loopback only: this is a load target, never something to expose.
const host = option('host', process.env.HOST ?? '127.0.0.1');
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`baseline: invalid port ${String(port)}`);
  process.exit(2);
}

const app = Fastify({ logger: false });
app.get('/health/live', () => ({ status: 'ok' }));

const password = process.env.BASELINE_PASSWORD;
let argon2Params = null;
if (password) {
  argon2Params = { memoryCostKiB: 19_456, timeCost: 2, parallelism: 1, ...JSON.parse(process.env.BASELINE_ARGON2 ?? '{}') };
  // The PHC string the service stores: argon2id (algorithm 2), version 0x13 (1), 32-byte output, NFKC UTF-8 input.
  const options = { algorithm: 2, version: 1, memoryCost: argon2Params.memoryCostKiB, timeCost: argon2Params.timeCost, parallelism: argon2Params.parallelism, outputLen: 32 };
  const stored = await hash(Buffer.from(password.normalize('NFKC'), 'utf8'), options);
  const body = {
    type: 'object',
    required: ['email', 'password'],
    additionalProperties: false,
    properties: { email: { type: 'string', maxLength: 320 }, password: { type: 'string', maxLength: 1024 } },
  };
  app.post('/argon2/verify', { schema: { body } }, async (request, reply) => {
    const ok = await verify(stored, Buffer.from(request.body.password.normalize('NFKC'), 'utf8'));
    return reply.code(ok ? 200 : 401).send({ ok });
  });
}

let closing = false;
const shutdown = () => {
  if (closing) return;
  closing = true;
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

try {
  const address = await app.listen({ port, host });
  // One line on stdout so a parent can learn the port when it passed --port 0.
  console.log(JSON.stringify({ listening: address, argon2: argon2Params }));
} catch (error) {
  console.error(`baseline: cannot listen on ${host}:${port}: ${error.message}`);
  process.exit(1);
}
