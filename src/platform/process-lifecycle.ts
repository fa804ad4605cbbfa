import { flushLogs, type Logger } from './logger.js';

/**
 * Runs `shutdown` once on SIGTERM/SIGINT, then exits 0 (1 if shutdown failed or overran its
 * deadline). A second signal during shutdown is ignored: draining is already under way.
 */
export function onTerminationSignals(shutdown: () => Promise<void>, logger: Pick<Logger, 'info' | 'error' | 'flush'>, deadlineMs = 25_000) {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const exit = (code: number) => void flushLogs(logger).then(() => process.exit(code));
    const deadline = setTimeout(() => {
      logger.error({ deadlineMs }, 'shutdown overran its deadline');
      exit(1);
    }, deadlineMs);
    deadline.unref();
    shutdown().then(
      () => {
        logger.info('shutdown complete');
        exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}

const KNOWN_STARTUP_ERRORS: ReadonlySet<string> = new Set(['ConfigError', 'PolicyError', 'BootstrapError', 'DataDirLockedError', 'KeyringError']);

/** A configuration or environment problem an operator fixes from its message alone (no stack needed). */
export const isKnownStartupError = (error: unknown): error is Error => error instanceof Error && KNOWN_STARTUP_ERRORS.has(error.name);

/** Prints a start-up failure without a stack for known configuration problems. */
export function reportStartupFailure(error: unknown): never {
  const known = isKnownStartupError(error);
  process.stderr.write(`${known ? error.message : String((error as Error | undefined)?.stack ?? error)}\n`);
  process.exit(1);
}
