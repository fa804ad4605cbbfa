import { systemContext } from '../modules/audit/audit.recorder.js';
import type { ColumnProgress, RotationResult } from '../modules/keys/key-rotation.service.js';
import type { RotationRun } from '../modules/keys/keys.service.js';
import { EXIT, withOperatorContainer, type CommandIo, type CommandOverrides } from './operator-command.js';
import { withServiceClient, type ServiceClient } from './service-client.js';

const USAGE = 'usage: npm run keys:rotate [-- --batch-size <1..500>]';
const POLL_MS = 500;

const progressLine = (progress: Readonly<ColumnProgress>) =>
  `keys:rotate: ${progress.key} ${progress.table}.${progress.column}: examined ${progress.examined}, rotated ${progress.rotated}, conflicts ${progress.conflicts}, failed ${progress.failed}`;

type Summary = Pick<RotationResult, 'encryptionVersion' | 'blindIndexVersion' | 'rotated' | 'failed' | 'conflicts' | 'failures' | 'interrupted'> & { columns: readonly ColumnProgress[] };

/** The end of a run: pinned columns, every listed failure by table/column/id, one summary line; the exit code. */
function report(result: Summary, io: CommandIo): number {
  for (const column of result.columns.filter((entry) => entry.pinned !== null)) io.stdout(`keys:rotate: pinned ${column.key} ${column.table}.${column.column}: ${column.pinned}`);
  for (const failure of result.failures) io.stderr(`keys:rotate: failed ${failure.table}.${failure.column} id ${failure.id}: ${failure.reason}`);
  if (result.failed > result.failures.length) io.stderr(`keys:rotate: ... ${result.failed - result.failures.length} more failures`);
  io.stdout(
    `keys:rotate: ${result.interrupted ? 'INTERRUPTED' : 'done'}: encryption version ${result.encryptionVersion}, blind-index version ${result.blindIndexVersion}; rotated ${result.rotated}, conflicts ${result.conflicts}, failures ${result.failed}`,
  );
  return result.failed === 0 && !result.interrupted ? EXIT.ok : EXIT.failed;
}

/** Embedded, while the service holds the data directory: the same sweep inside it, polled until it ends. */
async function throughService(client: ServiceClient, io: CommandIo, sleep: (ms: number) => Promise<void>): Promise<number> {
  type RunBody = Omit<RotationRun, 'startedAt' | 'finishedAt' | 'progress' | 'result'> & { columns: ColumnProgress[]; result: Omit<Summary, 'columns'> | null };
  let run = await client.json<RunBody>('POST', '/admin/keys/rotations');
  io.stdout(`keys:rotate: the service holds the data directory; run ${run.id} started inside it`);
  const printed = new Map<string, string>();
  for (;;) {
    for (const column of run.columns) {
      const line = progressLine(column);
      const name = `${column.key}.${column.table}.${column.column}`;
      if (printed.get(name) !== line) io.stdout(line);
      printed.set(name, line);
    }
    if (run.status !== 'running') break;
    await sleep(POLL_MS);
    run = await client.json<RunBody>('GET', `/admin/keys/rotations/${run.id}`);
  }
  if (!run.result) {
    io.stderr(`keys:rotate: run ${run.id} ended without a result (see the service log); run the command again to continue`);
    return EXIT.failed;
  }
  return report({ ...run.result, columns: run.columns }, io);
}

/**
 * `npm run keys:rotate`: re-encrypts every envelope column to the current ENCRYPTION_KEYRING version and
 * re-indexes the re-indexable blind indexes to the current BLIND_INDEX_KEY version, in bounded batches,
 * printing progress and a final failure count (exit 1 when any row failed). Server mode (or no service
 * running): opens the database itself. Embedded with the service running: asks the service to run the
 * same sweep (`VIOLENTUTF_API_KEY` of a platform super-admin) and polls its progress.
 */
export async function runKeysRotate(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: CommandIo,
  overrides: CommandOverrides = {},
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<number> {
  let batchSize: number | undefined;
  if (argv.length === 2 && argv[0] === '--batch-size' && /^\d{1,3}$/.test(argv[1]!) && Number(argv[1]) >= 1 && Number(argv[1]) <= 500) batchSize = Number(argv[1]);
  else if (argv.length > 0) {
    io.stderr(USAGE);
    return EXIT.usage;
  }
  return withOperatorContainer(
    'keys:rotate',
    env,
    io,
    overrides,
    async (container) => {
      const result = await container.keyRotation.service.rotateNow({ ...(batchSize ? { batchSize } : {}), onProgress: (progress) => io.stdout(progressLine(progress)) }, systemContext('keys:rotate'));
      return report(result, io);
    },
    () => withServiceClient('keys:rotate', env, io, (client) => throughService(client, io, sleep)),
  );
}
