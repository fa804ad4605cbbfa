import { loadConfig } from '../config/config.js';
import { createContainer, type Container, type ContainerOverrides } from '../container.js';
import { createLogger } from '../platform/logger.js';
import { DataDirLockedError } from '../platform/db/data-dir-lock.js';
import { isKnownStartupError } from '../platform/process-lifecycle.js';

/** Where a command writes: its result lines to `stdout`, diagnostics and the service's log lines to `stderr`. */
export interface CommandIo {
  stdout(line: string): void;
  stderr(line: string): void;
}

/** Exit codes of every operator command: done; failed (or the environment refused to start); bad usage. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** What tests may hand an operator command instead of the environment's defaults. */
export type CommandOverrides = Pick<ContainerOverrides, 'redisPrefix' | 'loadDataDir' | 'clock'>;

/**
 * Builds the service's container from the same environment (same database, same keys; on the embedded
 * database it refuses while the service holds the data directory), runs no jobs, hands it to `use` and
 * closes it. A start-up refusal is one `name: reason` line and exit 1.
 */
export async function withOperatorContainer(
  name: string,
  env: NodeJS.ProcessEnv,
  io: CommandIo,
  overrides: CommandOverrides,
  use: (container: Container) => Promise<number>,
  /** Embedded only: what to do instead when the running service holds the data directory (call its API). */
  whenLocked?: () => Promise<number>,
): Promise<number> {
  let container: Container;
  try {
    const config = loadConfig(env);
    const logger = createLogger(config.logLevel, { write: (line: string) => io.stderr(line.trimEnd()) });
    container = await createContainer(config, { logger, runJobs: false, ...overrides });
  } catch (error) {
    if (whenLocked && error instanceof DataDirLockedError) return whenLocked();
    io.stderr(`${name}: ${isKnownStartupError(error) ? error.message : String(error)}`);
    return EXIT.failed;
  }
  try {
    return await use(container);
  } finally {
    await container.close();
  }
}

/** The process entry of a command: argv and environment in, the exit code out, a crash as one stderr line. */
export function runAsProcess(name: string, run: (argv: readonly string[], env: NodeJS.ProcessEnv, io: CommandIo) => Promise<number>): void {
  run(process.argv.slice(2), process.env, {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${name}: ${String((error as Error | undefined)?.stack ?? error)}\n`);
      process.exitCode = 1;
    },
  );
}
