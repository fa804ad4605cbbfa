import { randomBytes } from 'node:crypto';
import type { Config } from '../../config/config.js';
import { KEY_NAMES, type KeyName } from '../../config/config.schema.js';
import { generatedKeyFile, type Keys } from '../../config/keys.js';
import type { Clock } from '../../platform/clock.js';
import { KEY_BYTES, createKeyring, formatKeyring, type BlindIndex, type FieldCipher } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { AuditContext, AuditRecorder } from '../audit/audit.recorder.js';
import { writeKeyFileAtomically } from './key-file.js';
import type { KeyRotation, RotationOptions, RotationResult } from './key-rotation.service.js';
import { describeKeys, type KeyStatus } from './key-status.js';
import type { KeysRepo } from './keys.repo.js';

/** What the server-mode (or configured-key) answer tells an operator to do instead. */
export const CONFIGURED_KEY_PROCEDURE =
  'This key comes from configuration (a variable or *_FILE), which the service never rewrites. Add the new version (next number, 32 random bytes, base64) to that variable or file for every process, restart them all, and only then run `npm run keys:rotate`; see docs/operations/key-rotation.md.';

/** A rotation run inside the service (embedded: what `npm run keys:rotate` starts through the API). */
export interface RotationRun {
  id: string;
  status: 'running' | 'finished' | 'failed';
  startedAt: Date;
  finishedAt: Date | null;
  result: RotationResult | null;
  /** Latest progress per column while it runs (copies). */
  progress: RotationResult['columns'];
}

/** Runs kept for status polling; older finished ones are dropped. */
const KEPT_RUNS = 20;

/**
 * Key versions and rotation (issue 9 §1, ADR 0012): adds a version to a generated key file and to the
 * running keyring (embedded), answers what each version is still used by, and runs the re-encryption
 * sweep, recording each of these in the audit trail with its counts.
 */
export function createKeysService(deps: {
  db: Db;
  repo: KeysRepo;
  keys: Keys;
  config: Pick<Config, 'mode' | 'dataDir' | 'keySources'>;
  clock: Clock;
  recorder: Pick<AuditRecorder, 'recordNow'>;
  rotation: KeyRotation;
  cipher: FieldCipher;
  blindIndex: BlindIndex;
  /** Verification leeway of access tokens, added to their longest lifetime when judging a JWT version retirable. */
  accessTokenLeewaySeconds: number;
  /** Registers the audit keyring's public keys again (a new AUDIT_SIGNING_KEY version must be registered before it signs). */
  refreshAuditKeys: () => Promise<void>;
}) {
  const { db, repo, keys, clock } = deps;
  // One version addition at a time: the file write and the keyring growth are one step per process.
  let additions: Promise<unknown> = Promise.resolve();
  const runs = new Map<string, RotationRun>();

  async function addVersionNow(kind: KeyName, context: AuditContext): Promise<{ kind: KeyName; version: number }> {
    const file = generatedKeyFile(deps.config, kind);
    if (deps.config.mode === 'server' || !file) throw new AppError(409, 'key_from_configuration', { detail: CONFIGURED_KEY_PROCEDURE });
    const keyring = keys[kind];
    const version = keyring.current + 1;
    const secret = randomBytes(KEY_BYTES);
    // File first: a crash between the two leaves the version on disk (loaded at the next start) rather than
    // data sealed under a version no file holds.
    const next = createKeyring(new Map([...keyring.versions, [version, secret]]));
    await writeKeyFileAtomically(file, `${formatKeyring(next)}\n`);
    keyring.add(version, secret);
    if (kind === 'AUDIT_SIGNING_KEY') await deps.refreshAuditKeys();
    await repo.noteVersions(db, kind, [version], clock.now());
    await deps.recorder.recordNow(context, { action: 'keys.version.added', resourceId: kind, orgId: null, statusCode: 201, detail: { kind, version } });
    return { kind, version };
  }

  async function runAndRecord(options: RotationOptions, context: AuditContext, runId: string): Promise<RotationResult> {
    const result = await deps.rotation.run(options);
    const pinned = result.columns.filter((column) => column.pinned !== null).length;
    await deps.recorder.recordNow(context, {
      action: 'keys.rotation.completed',
      outcome: result.failed > 0 ? 'error' : 'success',
      resourceId: runId,
      orgId: null,
      detail: {
        encryptionVersion: result.encryptionVersion,
        blindIndexVersion: result.blindIndexVersion,
        rotated: result.rotated,
        failed: result.failed,
        conflicts: result.conflicts,
        pinnedColumns: pinned,
        interrupted: result.interrupted,
      },
    });
    return result;
  }

  return {
    /** Records the versions of the keyrings this process started with (first sighting only). */
    async noteConfiguredVersions(): Promise<void> {
      const now = clock.now();
      for (const kind of KEY_NAMES) await repo.noteVersions(db, kind, [...keys[kind].versions.keys()], now);
    },

    addVersion(kind: KeyName, context: AuditContext): Promise<{ kind: KeyName; version: number }> {
      const step = additions.then(() => addVersionNow(kind, context));
      additions = step.catch(() => undefined);
      return step;
    },

    status(): Promise<KeyStatus[]> {
      return describeKeys({ db, repo, keys, config: deps.config, now: clock.now(), cipher: deps.cipher, blindIndex: deps.blindIndex, accessTokenLeewaySeconds: deps.accessTokenLeewaySeconds });
    },

    /** A sweep in this process, awaited (the operator command with its own container). */
    rotateNow(options: RotationOptions, context: AuditContext): Promise<RotationResult> {
      return runAndRecord(options, context, newId());
    },

    /** Starts a sweep in the background and answers at once; one at a time per process. */
    startRun(context: AuditContext): RotationRun {
      if ([...runs.values()].some((run) => run.status === 'running')) {
        throw new AppError(409, 'rotation_running', { detail: 'A rotation run is already in progress; poll its status.' });
      }
      const run: RotationRun = { id: newId(), status: 'running', startedAt: clock.now(), finishedAt: null, result: null, progress: [] };
      runs.set(run.id, run);
      for (const id of [...runs.keys()].slice(0, Math.max(0, runs.size - KEPT_RUNS))) runs.delete(id);
      const latest = new Map<string, RotationResult['columns'][number]>();
      runAndRecord(
        {
          onProgress: (progress) => {
            latest.set(`${progress.table}.${progress.column}.${progress.key}`, { ...progress });
            run.progress = [...latest.values()];
          },
        },
        context,
        run.id,
      ).then(
        (result) => {
          Object.assign(run, { status: 'finished', finishedAt: clock.now(), result, progress: result.columns });
        },
        () => {
          Object.assign(run, { status: 'failed', finishedAt: clock.now() });
        },
      );
      return run;
    },

    run(id: string): RotationRun {
      const run = runs.get(id);
      if (!run) throw new AppError(404, 'not_found', { detail: 'No rotation run with this id in this process.' });
      return run;
    },
  };
}

export type KeysService = ReturnType<typeof createKeysService>;
