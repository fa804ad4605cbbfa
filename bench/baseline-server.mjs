/* global process, console -- Node globals (the lint config declares none for .mjs files) */
// The ceiling for the benchmark: a bare Fastify hello-world on the same Fastify version as the
// service, with logging off and nothing registered but GET /health/live. bench/run.mjs starts it
// as its own process so it never shares an event loop with the service or the load generator.
//
//   node bench/baseline-server.mjs [--port N] [--host 127.0.0.1]    (or PORT / HOST in the env)
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
  console.log(JSON.stringify({ listening: address }));
} catch (error) {
  console.error(`baseline: cannot listen on ${host}:${port}: ${error.message}`);
  process.exit(1);
}
