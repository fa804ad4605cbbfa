import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Db } from '../../platform/db/database.js';
import { chainHash, GENESIS_HASH } from './audit-chain.js';
import type { AuditChainRepo } from './audit-chain.repo.js';
import { parseCheckpointLine, verifyCheckpoint, type Checkpoint, type CheckpointSigner } from './audit-checkpoints.js';

/** Rows per keyset batch of a verification scan (memory stays bounded whatever the chain's length). */
export const VERIFY_BATCH = 5_000;
const CHECKPOINT_BATCH = 1_000;
const MAX_PROBLEMS = 20;

/** What the API's check can find. */
export type ChainReason = 'event-missing' | 'hash-mismatch' | 'checkpoint-signature-invalid' | 'checkpoint-mismatch' | 'checkpoint-beyond-head';
/** What the full check can find besides: problems of the embedded checkpoint file. */
export type VerifyReason = ChainReason | 'checkpoint-file-malformed' | 'checkpoint-file-contradicts-table';

export interface Problem<R extends VerifyReason = VerifyReason> {
  /** The first chain position the problem makes untrustworthy; null when it is about a checkpoint alone. */
  seq: number | null;
  reason: R;
}

/** What GET /audit/verify answers. */
export interface VerifyResult {
  ok: boolean;
  checkedFrom: number | null;
  checkedTo: number | null;
  events: number;
  firstBadSeq: number | null;
  reason: ChainReason | null;
  checkpoint: { seq: number; signedAt: Date; keyVersion: number } | null;
  unsealed: number;
}

/** Problems found by a full check: counted, the first few kept, the smallest chain position tracked. */
function createProblems() {
  const kept: Problem[] = [];
  let count = 0;
  let first: Problem | undefined;
  return {
    add(problem: Problem) {
      count += 1;
      if (kept.length < MAX_PROBLEMS) kept.push(problem);
      if (problem.seq !== null && (!first || first.seq === null || problem.seq < first.seq)) first = problem;
      else first ??= problem;
    },
    summary: () => ({ ok: count === 0, firstBadSeq: first?.seq ?? null, reason: first?.reason ?? null, problems: kept, problemCount: count }),
  };
}

type Problems = ReturnType<typeof createProblems>;

interface ScanResult {
  events: number;
  /** The last position whose hash recomputed (fromSeq - 1 when none did). */
  lastGood: number;
  problem?: Problem<ChainReason>;
}

/**
 * Verification of the audit chain (ADR 0007): the API's check from the last checkpoint and the
 * operator's check of everything (`npm run audit:verify`). Both stream the chain in keyset batches by
 * seq and recompute each hash from the previous one; the first position that is missing or does not
 * recompute is the first bad sequence number.
 */
export function createAuditVerifier(deps: { db: Db; repo: AuditChainRepo; signer: Pick<CheckpointSigner, 'trustedKeys'> }, options: { batch?: number } = {}) {
  const { db, repo } = deps;
  const batch = options.batch ?? VERIFY_BATCH;

  /** Recomputes the chain from `fromSeq` (whose predecessor's hash is `previous`) to the head. */
  async function scanChain(fromSeq: number, previous: Buffer): Promise<ScanResult> {
    let expected = fromSeq;
    let hash = previous;
    for (;;) {
      const rows = await repo.scan(db, expected, batch);
      for (const row of rows) {
        if (row.seq !== expected) return { events: expected - fromSeq, lastGood: expected - 1, problem: { seq: expected, reason: 'event-missing' } };
        const computed = chainHash(hash, row);
        if (!computed.equals(row.hash)) return { events: expected - fromSeq, lastGood: expected - 1, problem: { seq: expected, reason: 'hash-mismatch' } };
        hash = computed;
        expected += 1;
      }
      if (rows.length < batch) return { events: expected - fromSeq, lastGood: expected - 1 };
    }
  }

  /** Position `position` is missing: a cut-off tail when the chain ends before it, else a gap. */
  const missing = async (position: number): Promise<Problem<ChainReason>> => {
    const max = await repo.maxSeq(db);
    return max === null || max < position ? { seq: (max ?? 0) + 1, reason: 'checkpoint-beyond-head' } : { seq: position, reason: 'event-missing' };
  };

  const trustedKeys = async () => deps.signer.trustedKeys(await repo.registeredKeys(db));

  /**
   * Where the stored chain begins (ADR 0013). Without a purge: seq 1 after the genesis hash. After a
   * purge through horizon h: seq h+1 after the hash the signed checkpoint at h states, and only when
   * that checkpoint is in the table, verifies under a trusted key and agrees with the recorded
   * horizon; otherwise the first kept position is untrustworthy. Rows at or below h that a running
   * purge has not deleted yet are not evidence any more and are not read. A prefix deleted any other
   * way (no horizon row, which only the purge function writes) still fails as `event-missing` at 1.
   */
  async function chainStart(trusted: Map<number, Buffer>): Promise<{ from: number; previous: Buffer; horizon: number; problem?: Problem<ChainReason> }> {
    const horizon = await repo.purgeHorizon(db);
    if (!horizon) return { from: 1, previous: GENESIS_HASH, horizon: 0 };
    const from = horizon.throughSeq + 1;
    const anchor = (await repo.checkpointsAt(db, [horizon.throughSeq])).get(horizon.throughSeq);
    if (!anchor || !verifyCheckpoint(anchor, trusted)) return { from, previous: horizon.headHash, horizon: horizon.throughSeq, problem: { seq: from, reason: 'checkpoint-signature-invalid' } };
    if (!anchor.headHash.equals(horizon.headHash)) return { from, previous: anchor.headHash, horizon: horizon.throughSeq, problem: { seq: from, reason: 'checkpoint-mismatch' } };
    return { from, previous: anchor.headHash, horizon: horizon.throughSeq };
  }

  /** The API's check: the newest checkpoint's signature, its row, then every row after it. */
  async function verifyFromCheckpoint(): Promise<VerifyResult> {
    const unsealed = await repo.countUnsealed(db);
    const checkpoint = await repo.latestCheckpoint(db);
    const result = (scan: Partial<ScanResult> & { from: number | null; to: number | null }, problem?: Problem<ChainReason>): VerifyResult => ({
      ok: !problem,
      checkedFrom: scan.from,
      checkedTo: scan.to,
      events: scan.events ?? 0,
      firstBadSeq: problem?.seq ?? null,
      reason: problem?.reason ?? null,
      checkpoint: checkpoint ? { seq: checkpoint.seq, signedAt: checkpoint.signedAt, keyVersion: checkpoint.keyVersion } : null,
      unsealed,
    });
    if (!checkpoint) {
      const scan = await scanChain(1, GENESIS_HASH);
      return result({ ...scan, from: 1, to: scan.lastGood >= 1 ? scan.lastGood : null }, scan.problem);
    }
    if (!verifyCheckpoint(checkpoint, await trustedKeys())) return result({ from: null, to: null }, { seq: null, reason: 'checkpoint-signature-invalid' });

    // The checkpoint's own row is recomputed too, from its predecessor's stored hash (or, right after
    // a purge horizon, from the signed anchor checkpoint's hash).
    let previous = GENESIS_HASH;
    const start = checkpoint.seq > 1 ? await chainStart(await trustedKeys()) : undefined;
    if (start && start.horizon > 0 && checkpoint.seq === start.from) {
      if (start.problem) return result({ from: checkpoint.seq, to: null }, start.problem);
      previous = start.previous;
    } else if (checkpoint.seq > 1) {
      const stored = (await repo.hashesAt(db, [checkpoint.seq - 1])).get(checkpoint.seq - 1);
      if (!stored) return result({ from: checkpoint.seq, to: null }, await missing(checkpoint.seq - 1));
      previous = stored;
    }
    const scan = await scanChain(checkpoint.seq, previous);
    const checked = { ...scan, from: checkpoint.seq, to: scan.lastGood >= checkpoint.seq ? scan.lastGood : null };
    if (scan.problem) return result(checked, scan.problem);
    if (scan.lastGood < checkpoint.seq) return result(checked, { seq: scan.lastGood + 1, reason: 'checkpoint-beyond-head' });
    const atCheckpoint = (await repo.hashesAt(db, [checkpoint.seq])).get(checkpoint.seq);
    if (!atCheckpoint?.equals(checkpoint.headHash)) return result(checked, { seq: checkpoint.seq, reason: 'checkpoint-mismatch' });
    return result(checked);
  }

  /**
   * Checks checkpoints against a chain verified up to `lastGood` (stored hash = recomputed hash there):
   * each must be signed by a trusted key and name the hash the chain has at its position; one beyond
   * the last row means the tail was cut off. Positions past a chain problem cannot be judged.
   */
  async function checkCheckpoints(checkpoints: readonly Checkpoint[], scan: ScanResult, trusted: Map<number, Buffer>, problems: Problems, horizon: number) {
    // At or below a purge horizon there are no rows to compare with: only signatures are checked there.
    const judged = checkpoints.filter((checkpoint) => checkpoint.seq > horizon && (!scan.problem || checkpoint.seq < scan.problem.seq!));
    const hashes = await repo.hashesAt(
      db,
      judged.filter((checkpoint) => checkpoint.seq <= scan.lastGood).map((checkpoint) => checkpoint.seq),
    );
    for (const checkpoint of checkpoints) {
      if (!verifyCheckpoint(checkpoint, trusted)) problems.add({ seq: null, reason: 'checkpoint-signature-invalid' });
    }
    for (const checkpoint of judged) {
      if (checkpoint.seq > scan.lastGood) problems.add({ seq: scan.lastGood + 1, reason: 'checkpoint-beyond-head' });
      else if (!hashes.get(checkpoint.seq)?.equals(checkpoint.headHash)) problems.add({ seq: checkpoint.seq, reason: 'checkpoint-mismatch' });
    }
  }

  /** File checkpoints must also be in the table, identical (the table is append-only). */
  async function checkFileAgainstTable(checkpoints: readonly Checkpoint[], problems: Problems) {
    const table = await repo.checkpointsAt(
      db,
      checkpoints.map((checkpoint) => checkpoint.seq),
    );
    for (const checkpoint of checkpoints) {
      const stored = table.get(checkpoint.seq);
      const same =
        stored &&
        stored.headHash.equals(checkpoint.headHash) &&
        stored.signature.equals(checkpoint.signature) &&
        stored.keyVersion === checkpoint.keyVersion &&
        stored.signedAt.getTime() === checkpoint.signedAt.getTime();
      if (!same) problems.add({ seq: checkpoint.seq, reason: 'checkpoint-file-contradicts-table' });
    }
  }

  /** The operator's check: the whole stored chain (from seq 1, or from a purge horizon), every checkpoint in the table and in the file. */
  async function verifyAll(options: { checkpointFile?: string } = {}) {
    const unsealed = await repo.countUnsealed(db);
    const trusted = await trustedKeys();
    const start = await chainStart(trusted);
    const scan: ScanResult = start.problem ? { events: 0, lastGood: start.from - 1, problem: start.problem } : await scanChain(start.from, start.previous);
    const problems = createProblems();
    if (scan.problem) problems.add(scan.problem);
    let tableCheckpoints = 0;
    for (let after = 0; ; ) {
      const page = await repo.checkpointsAfter(db, after, CHECKPOINT_BATCH);
      tableCheckpoints += page.length;
      await checkCheckpoints(page, scan, trusted, problems, start.horizon);
      if (page.length < CHECKPOINT_BATCH) break;
      after = page[page.length - 1]!.seq;
    }
    let fileCheckpoints: number | null = null;
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the checkpoint file under the configured DATA_DIR
    if (options.checkpointFile && existsSync(options.checkpointFile)) {
      fileCheckpoints = 0;
      let pending: Checkpoint[] = [];
      const flush = async () => {
        await checkCheckpoints(pending, scan, trusted, problems, start.horizon);
        await checkFileAgainstTable(pending, problems);
        pending = [];
      };
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- the checkpoint file under the configured DATA_DIR
      for await (const line of createInterface({ input: createReadStream(options.checkpointFile, 'utf8'), crlfDelay: Infinity })) {
        if (line.trim() === '') continue;
        const checkpoint = parseCheckpointLine(line);
        if (!checkpoint) problems.add({ seq: null, reason: 'checkpoint-file-malformed' });
        else pending.push(checkpoint);
        fileCheckpoints += 1;
        if (pending.length >= CHECKPOINT_BATCH) await flush();
      }
      await flush();
    }
    return {
      ...problems.summary(),
      events: scan.events,
      checkedFrom: start.from,
      checkedTo: scan.lastGood >= start.from ? scan.lastGood : null,
      tableCheckpoints,
      fileCheckpoints,
      unsealed,
    };
  }

  return { verifyFromCheckpoint, verifyAll };
}

export type AuditVerifier = ReturnType<typeof createAuditVerifier>;
export type VerifyAllResult = Awaited<ReturnType<AuditVerifier['verifyAll']>>;
