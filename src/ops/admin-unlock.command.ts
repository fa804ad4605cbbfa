import { loadConfig } from '../config/config.js';
import { isKnownStartupError } from '../platform/process-lifecycle.js';
import { createContainer, type ContainerOverrides } from '../container.js';
import { createLogger } from '../platform/logger.js';

/** Where the command writes: one result line to `stdout`, diagnostics and the service's log lines to `stderr`. */
export interface CommandIo {
  stdout(line: string): void;
  stderr(line: string): void;
}

/** Exit codes: done; no such account (or the environment refused to start); bad usage. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const USAGE = 'usage: npm run admin:unlock -- <email> [--enable]\n  --enable  also re-enable the account if an administrator disabled it';

/**
 * `npm run admin:unlock -- <email>`: the audited break-glass for a locked sole administrator. Builds
 * the same container as the service from the same environment, so it reaches the same database
 * with the same keys; on the embedded database it refuses while the service holds the data directory.
 */
export async function runAdminUnlock(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: CommandIo,
  overrides: Pick<ContainerOverrides, 'redisPrefix' | 'loadDataDir' | 'clock'> = {},
): Promise<number> {
  const flags = argv.filter((arg) => arg.startsWith('-'));
  const positional = argv.filter((arg) => !arg.startsWith('-'));
  if (flags.some((flag) => flag !== '--enable') || positional.length !== 1 || !positional[0]!.includes('@')) {
    io.stderr(USAGE);
    return EXIT.usage;
  }
  const email = positional[0]!;
  const enable = flags.includes('--enable');

  let container: Awaited<ReturnType<typeof createContainer>>;
  try {
    const config = loadConfig(env);
    // The service's log lines go to stderr so that stdout carries the one result line.
    const logger = createLogger(config.logLevel, { write: (line: string) => io.stderr(line.trimEnd()) });
    container = await createContainer(config, { logger, runJobs: false, ...overrides });
  } catch (error) {
    io.stderr(`admin:unlock: ${isKnownStartupError(error) ? error.message : String(error)}`);
    return EXIT.failed;
  }
  try {
    const result = await container.services.unlock.breakGlass(email, { enable });
    if (result.outcome === 'unknown-user') {
      io.stderr('admin:unlock: no account uses this email address; nothing changed');
      return EXIT.failed;
    }
    // The user id, not the address: the line may end up in a terminal log.
    const stays = result.status === 'active' ? '' : ` (the account stays ${result.status}; add --enable to re-enable it)`;
    io.stdout(
      `admin:unlock: user ${result.userId}: ${result.wasLocked ? 'lockout lifted' : 'was not locked'}${result.enabled ? ', re-enabled' : ''}; recorded as auth.account.unlocked${stays}`,
    );
    return EXIT.ok;
  } finally {
    await container.close();
  }
}
