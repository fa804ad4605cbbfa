import { loadConfig } from './config/config.js';
import { createContainer } from './container.js';
import { buildApp } from './app.js';
import { onTerminationSignals, reportStartupFailure } from './platform/process-lifecycle.js';

/** HTTP entry: config → container → app → listen; graceful shutdown on SIGTERM/SIGINT. */
async function main() {
  const config = loadConfig();
  const container = await createContainer(config);
  const app = await buildApp(container).catch(async (error: unknown) => {
    await container.close();
    throw error;
  });
  onTerminationSignals(async () => {
    // Stop accepting and drain in-flight requests, then close pools, Redis and PGlite.
    await app.close();
    await container.close();
  }, container.logger);
  await app.listen({ port: config.port, host: config.host }).catch(async (error: unknown) => {
    await container.close();
    throw error;
  });
}

main().catch(reportStartupFailure);
