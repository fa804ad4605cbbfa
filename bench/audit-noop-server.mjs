// The service with its audit sink replaced by a no-op: the benchmark-only wiring of issue 4's write
// benchmark (bench/audit-write.mjs). Everything else is the built service as dist/main.js starts it
// (same config, container, app, shutdown); only `createContainer`'s `auditRepo` override differs, so
// the product itself has no switch that turns auditing off. Needs `npm run build` first.
//
//   node bench/audit-noop-server.mjs          (configured by the same environment as dist/main.js)
import { buildApp } from '../dist/app.js';
import { loadConfig } from '../dist/config/config.js';
import { createContainer } from '../dist/container.js';
import { onTerminationSignals, reportStartupFailure } from '../dist/platform/process-lifecycle.js';

/** Accepts every event and keeps none: what the request path costs without the audit insert. */
const noopAuditRepo = { insert: () => Promise.resolve() };

async function main() {
  const config = loadConfig();
  const container = await createContainer(config, { auditRepo: noopAuditRepo });
  const app = await buildApp(container).catch(async (error) => {
    await container.close();
    throw error;
  });
  onTerminationSignals(async () => {
    await app.close();
    await container.close();
  }, container.logger);
  container.logger.warn({}, 'benchmark wiring: audit events are discarded (bench/audit-noop-server.mjs)');
  await app.listen({ port: config.port, host: config.host }).catch(async (error) => {
    await container.close();
    throw error;
  });
}

main().catch(reportStartupFailure);
