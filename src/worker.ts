import { loadConfig } from './config/config.js';
import { createContainer } from './container.js';
import { onTerminationSignals, reportStartupFailure } from './platform/process-lifecycle.js';

/** Job-worker entry (server mode): the same container, no HTTP; processes queued jobs until stopped. */
async function main() {
  const config = loadConfig();
  if (config.mode !== 'server') {
    throw Object.assign(new Error('npm run worker is for server mode; the embedded service runs its jobs in-process'), { name: 'ConfigError' });
  }
  const container = await createContainer(config, { runJobs: true });
  onTerminationSignals(() => container.close(), container.logger);
  container.logger.info('worker started');
}

main().catch(reportStartupFailure);
