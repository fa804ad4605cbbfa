import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { systemContext } from '../modules/audit/audit.recorder.js';
import { EXIT, withOperatorContainer, type CommandIo, type CommandOverrides } from './operator-command.js';
import { withServiceClient, ServiceCallError } from './service-client.js';

const USAGE = 'usage: npm run backup -- <archive file>\n  writes an encrypted archive of the whole database (mode 0600); the file must not exist yet';

/**
 * Writes `source` to `file` through a temporary file in the same directory (mode 0600, created
 * exclusively), flushed to disk and renamed into place: a crash or a dropped stream never leaves a
 * half archive under the final name.
 */
export async function writeArchiveFile(file: string, source: AsyncIterable<Uint8Array>): Promise<number> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.partial-${process.pid}`);
  let bytes = 0;
  let out: WriteStream | undefined;
  try {
    out = createWriteStream(temp, { flags: 'wx', mode: 0o600 });
    const counted = Readable.from(source).on('data', (chunk: Buffer) => (bytes += chunk.length));
    await pipeline(counted, out);
    const handle = await open(temp, 'r');
    await handle.sync();
    await handle.close();
    await rename(temp, file);
    return bytes;
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * `npm run backup -- <file>`: an encrypted, integrity-checked archive of the whole database (issue 9 §3).
 * Server mode, or embedded with the service stopped: builds the service's container and dumps the
 * database itself. Embedded with the service running (it holds the data directory): downloads the
 * archive from `POST /api/v1/admin/backups` with VIOLENTUTF_API_KEY (a super-admin key).
 */
export async function runBackup(argv: readonly string[], env: NodeJS.ProcessEnv, io: CommandIo, overrides: CommandOverrides = {}): Promise<number> {
  if (argv.length !== 1 || argv[0]!.startsWith('-')) {
    io.stderr(USAGE);
    return EXIT.usage;
  }
  const file = path.resolve(argv[0]!);
  if (existsSync(file)) {
    io.stderr(`backup: ${file} exists; an archive is never overwritten: choose another name`);
    return EXIT.failed;
  }
  const done = (bytes: number, how: string) => {
    io.stdout(`backup: wrote ${file} (${bytes} bytes, ${how}); recorded as backup.created`);
    return EXIT.ok;
  };
  const fail = (error: unknown) => {
    io.stderr(`backup: ${error instanceof ServiceCallError ? error.message : error instanceof Error ? error.message : String(error)}; no archive written`);
    return EXIT.failed;
  };

  return withOperatorContainer(
    'backup',
    env,
    io,
    overrides,
    async (container) => {
      try {
        return done(await writeArchiveFile(file, container.backup.service.archive(systemContext('npm run backup'))), `read from the ${container.database.kind} database`);
      } catch (error) {
        return fail(error);
      }
    },
    () =>
      withServiceClient('backup', env, io, async (client) => {
        const response = await client.fetch('POST', '/admin/backups');
        if (!response.ok || !response.body) {
          const problem = (await response.json().catch(() => ({}))) as { code?: string; detail?: string };
          return fail(new ServiceCallError(response.status, problem.code, problem.detail ?? 'no detail'));
        }
        try {
          return done(await writeArchiveFile(file, response.body), 'streamed by the running service');
        } catch (error) {
          return fail(error);
        }
      }),
  );
}
