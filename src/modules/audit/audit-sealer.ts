import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { definePeriodicJob } from '../../platform/jobs.js';
import type { Logger } from '../../platform/logger.js';
import { chainHash, GENESIS_HASH } from './audit-chain.js';
import type { AuditChainRepo } from './audit-chain.repo.js';
import { checkpointJson, type Checkpoint, type CheckpointSigner } from './audit-checkpoints.js';

/** Rows sealed per transaction (DESIGN §5: bounded batches). */
export const SEAL_BATCH = 500;
/** Batches per run: a run stays short (about 10 s at most); the next run, 2 s later, continues. */
const MAX_BATCHES_PER_RUN = 40;
export const CHECKPOINT_FILE = 'audit-checkpoints.jsonl';

export interface SealerOptions {
  /** A new checkpoint once the last is this old (default 30 s)... */
  checkpointEveryMs?: number;
  /** ...or this many events behind the head (default 10,000), whichever comes first. */
  checkpointEveryEvents?: number;
}

/**
 * The single sealer (ADR 0007). Each batch runs in one transaction holding a PostgreSQL advisory
 * transaction lock, so sealers in other processes skip instead of racing: it reads the head, takes the
 * oldest unsealed events, gives them the next sequence numbers and their chained hashes, and writes
 * them in one UPDATE.
 *
 * Checkpoints: at most one per run, and only when the head moved past the last checkpoint and that
 * checkpoint is `checkpointEveryMs` old or `checkpointEveryEvents` behind (the first one at once). A
 * run that seals nothing still checkpoints a head an earlier run left uncovered, so the tail is
 * covered within one interval of going quiet. Events after the last checkpoint can be cut off without
 * a trace: that window is what the interval bounds. Every checkpoint goes into `audit_checkpoints` and
 * out of the database: in embedded mode a JSON line appended to DATA_DIR/audit-checkpoints.jsonl
 * (0600), in server mode one info log line `audit checkpoint` (the log stream).
 */
export function createAuditSealer(
  deps: {
    db: Db;
    clock: Clock;
    logger: Pick<Logger, 'info' | 'error'>;
    repo: AuditChainRepo;
    signer: CheckpointSigner;
    mode: 'embedded' | 'server';
    dataDir: string;
  },
  options: SealerOptions = {},
) {
  const everyMs = options.checkpointEveryMs ?? 30_000;
  const everyEvents = options.checkpointEveryEvents ?? 10_000;
  const { db, repo } = deps;
  let keysRegistered: Promise<void> | undefined;

  /** Registers the keyring's public keys once per process; refuses a keyring that contradicts the table. */
  function registerKeys(): Promise<void> {
    keysRegistered ??= (async () => {
      await repo.registerKeys(db, deps.signer.publicKeys, deps.clock.now());
      const registered = await repo.registeredKeys(db);
      for (const [version, key] of deps.signer.publicKeys) {
        if (!registered.get(version)?.equals(key)) {
          throw new Error(`AUDIT_SIGNING_KEY version ${version} differs from the key registered for that version; add a new version instead of replacing one`);
        }
      }
    })().catch((error: unknown) => {
      keysRegistered = undefined;
      throw error;
    });
    return keysRegistered;
  }

  /** One batch in one transaction; undefined when another sealer holds the lock. */
  async function sealBatch(): Promise<number | undefined> {
    return db.transaction().execute(async (tx) => {
      if (!(await repo.tryLockSealer(tx))) return undefined;
      const head = await repo.head(tx);
      const rows = await repo.unsealedBatch(tx, SEAL_BATCH);
      let previous = head?.hash ?? GENESIS_HASH;
      let seq = head?.seq ?? 0;
      const sealed = rows.map((row) => {
        seq += 1;
        previous = chainHash(previous, { ...row, seq });
        return { id: row.id, seq, hash: previous };
      });
      await repo.seal(tx, sealed);
      return sealed.length;
    });
  }

  async function maybeCheckpoint(force: boolean): Promise<Checkpoint | undefined> {
    const checkpoint = await db.transaction().execute(async (tx) => {
      if (!(await repo.tryLockSealer(tx))) return undefined;
      const head = await repo.head(tx);
      const last = await repo.latestCheckpoint(tx);
      if (!head || (last && head.seq <= last.seq)) return undefined;
      const now = deps.clock.now();
      const due = !last || force || now.getTime() - last.signedAt.getTime() >= everyMs || head.seq - last.seq >= everyEvents;
      if (!due) return undefined;
      const signed = deps.signer.sign(head.seq, head.hash, now);
      await repo.insertCheckpoint(tx, signed);
      return signed;
    });
    if (checkpoint) await publish(checkpoint);
    return checkpoint;
  }

  /** Outside the database, after the commit: a failure here leaves the table's copy, and is loud. */
  async function publish(checkpoint: Checkpoint): Promise<void> {
    const json = checkpointJson(checkpoint);
    if (deps.mode === 'server') {
      deps.logger.info({ auditCheckpoint: json }, 'audit checkpoint');
      return;
    }
    try {
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- fixed file name under the configured DATA_DIR
      await appendFile(path.join(deps.dataDir, CHECKPOINT_FILE), `${JSON.stringify(json)}\n`, { mode: 0o600 });
    } catch (error) {
      deps.logger.error({ err: (error as Error).message, seq: checkpoint.seq }, 'audit checkpoint not appended to the checkpoint file');
    }
  }

  return {
    registerKeys,

    /** Registers the keyring's public keys again: after a version was added while the process runs. */
    refreshKeys(): Promise<void> {
      keysRegistered = undefined;
      return registerKeys();
    },

    /**
     * Seals what is pending (bounded: MAX_BATCHES_PER_RUN batches), then maybe checkpoints.
     * `forceCheckpoint` skips the interval (tests, benchmarks); `signal` stops between batches.
     */
    async sealPending(options: { forceCheckpoint?: boolean; signal?: AbortSignal } = {}): Promise<{ sealed: number; checkpoint?: Checkpoint }> {
      await registerKeys();
      let sealed = 0;
      for (let batch = 0; batch < MAX_BATCHES_PER_RUN && !options.signal?.aborted; batch += 1) {
        const count = await sealBatch();
        if (count === undefined) return { sealed };
        sealed += count;
        if (count < SEAL_BATCH) break;
      }
      const checkpoint = await maybeCheckpoint(options.forceCheckpoint === true);
      return checkpoint ? { sealed, checkpoint } : { sealed };
    },
  };
}

export type AuditSealer = ReturnType<typeof createAuditSealer>;

/** `audit.seal`: periodic (every 2 s); idempotent (a second run finds nothing unsealed). */
export const auditSealJob = (sealer: Pick<AuditSealer, 'sealPending'>) =>
  definePeriodicJob('audit.seal', (signal) => sealer.sealPending({ signal }));
