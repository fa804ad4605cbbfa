import { loadConfig } from './config/config.js';
import { onTerminationSignals, reportStartupFailure } from './platform/process-lifecycle.js';

/** Job-worker entry (server mode): the same container, no HTTP; processes queued jobs until stopped. */
async function main() {
  const config = loadConfig();
  if (config.mode !== 'server') {
    throw Object.assign(new Error('npm run worker is for server mode; the embedded service runs its jobs in-process'), { name: 'ConfigError' });
  }
  // As in main.ts: tracing first, then the instrumented modules (pg, ioredis, BullMQ).
  const telemetry = config.otelEndpoint ? await (await import('./platform/telemetry.js')).startTelemetry() : undefined;
  const { createContainer } = await import('./container.js');
  const container = await createContainer(config, { runJobs: true });
  onTerminationSignals(async () => {
    await container.close();
    await telemetry?.shutdown(container.logger);
  }, container.logger);
  container.logger.info('worker started');
}

main().catch(reportStartupFailure);
