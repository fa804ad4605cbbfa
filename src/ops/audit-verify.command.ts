import type { AuditVerifier } from '../modules/audit/audit-verify.service.js';
import { EXIT, withOperatorContainer, type CommandIo, type CommandOverrides } from './operator-command.js';

/**
 * Verifies the whole chain and every checkpoint, prints a summary on stdout (problems on stderr) and
 * returns the exit code. The command's logic, apart from building the container, so tests run it on
 * their own container.
 */
export async function reportAuditVerify(verifier: Pick<AuditVerifier, 'verifyAll'>, options: { checkpointFile?: string }, io: CommandIo): Promise<number> {
  const result = await verifier.verifyAll(options);
  const file = result.fileCheckpoints === null ? 'no checkpoint file' : `${result.fileCheckpoints} in the checkpoint file`;
  // After a retention purge the stored chain starts after the purge horizon (ADR 0013).
  const purged = result.checkedFrom > 1 ? `; seq 1..${result.checkedFrom - 1} purged by retention` : '';
  const range = (result.checkedTo === null ? 'no sealed events' : `seq ${result.checkedFrom}..${result.checkedTo}`) + purged;
  const counts = `${result.events} events recomputed (${range}); checkpoints: ${result.tableCheckpoints} in the table, ${file}; ${result.unsealed} unsealed`;
  if (result.ok) {
    io.stdout(`audit:verify: intact: ${counts}`);
    return EXIT.ok;
  }
  for (const problem of result.problems) io.stderr(`audit:verify: ${problem.reason}${problem.seq === null ? '' : ` at seq ${problem.seq}`}`);
  if (result.problemCount > result.problems.length) io.stderr(`audit:verify: ... ${result.problemCount - result.problems.length} more problems`);
  io.stdout(`audit:verify: BROKEN: first bad seq ${result.firstBadSeq ?? 'n/a'} (${result.reason ?? 'unknown'}); ${counts}`);
  return EXIT.failed;
}

/**
 * `npm run audit:verify`: the whole chain from seq 1 (keyset batches, bounded memory) and every
 * checkpoint, in the table and, embedded, in DATA_DIR/audit-checkpoints.jsonl. Builds the service's
 * container from the same environment (same database, same keys; on the embedded database it refuses
 * while the service holds the data directory) and runs no jobs.
 */
export async function runAuditVerify(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: CommandIo,
  overrides: CommandOverrides = {},
): Promise<number> {
  if (argv.length > 0) {
    io.stderr('usage: npm run audit:verify');
    return EXIT.usage;
  }
  return withOperatorContainer('audit:verify', env, io, overrides, (container) =>
    reportAuditVerify(container.audit.verifier, container.audit.checkpointFile ? { checkpointFile: container.audit.checkpointFile } : {}, io),
  );
}
