import { EXIT, withOperatorContainer, type CommandIo, type CommandOverrides } from './operator-command.js';

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
  overrides: CommandOverrides = {},
): Promise<number> {
  const flags = argv.filter((arg) => arg.startsWith('-'));
  const positional = argv.filter((arg) => !arg.startsWith('-'));
  if (flags.some((flag) => flag !== '--enable') || positional.length !== 1 || !positional[0]!.includes('@')) {
    io.stderr(USAGE);
    return EXIT.usage;
  }
  const email = positional[0]!;
  const enable = flags.includes('--enable');

  return withOperatorContainer('admin:unlock', env, io, overrides, async (container) => {
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
  });
}
