import { runAdminUnlock } from './admin-unlock.command.js';

/** `npm run admin:unlock -- <email> [--enable]` (see admin-unlock.command.ts). */
runAdminUnlock(process.argv.slice(2), process.env, {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`admin:unlock: ${String((error as Error | undefined)?.stack ?? error)}\n`);
    process.exitCode = 1;
  },
);
