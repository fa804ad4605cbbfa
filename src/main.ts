import { loadConfig } from './config/config.js';
import { onTerminationSignals, reportStartupFailure } from './platform/process-lifecycle.js';

/** HTTP entry: config → (tracing) → container → app → listen; graceful shutdown on SIGTERM/SIGINT. */
async function main() {
  const config = loadConfig();
  // Tracing must hook Fastify, pg and ioredis before they are first imported, so everything past
  // config is imported dynamically, after it; without an endpoint nothing of OpenTelemetry loads.
  const telemetry = config.otelEndpoint ? await (await import('./platform/telemetry.js')).startTelemetry() : undefined;
  const { createContainer } = await import('./container.js');
  const { buildApp } = await import('./app.js');
  const container = await createContainer(config);
  const app = await buildApp(container).catch(async (error: unknown) => {
    await container.close();
    throw error;
  });
  onTerminationSignals(async () => {
    // Stop accepting and drain in-flight requests, then close pools, Redis and PGlite, then flush spans.
    await app.close();
    await container.close();
    await telemetry?.shutdown(container.logger);
  }, container.logger);
  await app.listen({ port: config.port, host: config.host }).catch(async (error: unknown) => {
    await container.close();
    throw error;
  });
}

main().catch(reportStartupFailure);
