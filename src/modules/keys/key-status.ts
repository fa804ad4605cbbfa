import type { Config } from '../../config/config.js';
import { KEY_NAMES, type KeyName } from '../../config/config.schema.js';
import { generatedKeyFile, type Keys } from '../../config/keys.js';
import { normaliseEmail, type BlindIndex, type FieldCipher } from '../../platform/crypto/index.js';
import type { Db } from '../../platform/db/database.js';
import { BLIND_INDEX_COLUMNS, ENVELOPE_COLUMNS } from './key-registry.js';
import type { KeysRepo } from './keys.repo.js';

/**
 * The longest access-token lifetime the policy allows (policy.schema.ts, tokens.accessTtlSeconds
 * maximum). The bound, not the current setting: a token issued before the policy was lowered lives on.
 */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 3600;
const SCAN_BATCH = 500;

export interface ColumnRows {
  table: string;
  column: string;
  rows: number;
}

export interface VersionStatus {
  version: number;
  current: boolean;
  /** When this database first saw the version (added through the API, or found at a start). */
  firstSeenAt: string | null;
  /** Rows (checkpoints for the audit key) that use this version, per table/column; never key material. */
  usage: ColumnRows[];
  /** Whether the version can leave the keyring now. */
  retirable: boolean;
  /** Why not (or, for a retirable version, what stays behind); null when there is nothing to say. */
  reason: string | null;
}

export interface KeyStatus {
  kind: KeyName;
  /** `data-dir`: generated in DATA_DIR/keys, versions added through the API; `configuration`: a variable or file. */
  source: 'data-dir' | 'configuration';
  current: number;
  versions: VersionStatus[];
  /** Columns that are never rewritten by the sweep, with how many rows they hold and why. */
  pinned: Array<ColumnRows & { note: string }>;
}

interface StatusDeps {
  db: Db;
  repo: KeysRepo;
  keys: Keys;
  config: Pick<Config, 'dataDir' | 'keySources'>;
  now: Date;
  cipher: FieldCipher;
  blindIndex: BlindIndex;
  accessTokenLeewaySeconds: number;
}

const describeUsage = (usage: ColumnRows[]) => usage.map((entry) => `${entry.table}.${entry.column}: ${entry.rows}`).join('; ');

/** Per version: rows of every envelope column. Pinned audit columns count too: they keep old versions alive. */
async function encryptionStatus(deps: StatusDeps, base: Omit<KeyStatus, 'versions' | 'pinned'>): Promise<KeyStatus> {
  const perVersion = new Map<number, ColumnRows[]>();
  const pinned: KeyStatus['pinned'] = [];
  for (const entry of ENVELOPE_COLUMNS) {
    const usage = await deps.repo.envelopeUsage(deps.db, entry.table, entry.column);
    for (const [version, rows] of usage) perVersion.set(version, [...(perVersion.get(version) ?? []), { table: entry.table, column: entry.column, rows }]);
    if (entry.pinned) pinned.push({ table: entry.table, column: entry.column, rows: [...usage.values()].reduce((a, b) => a + b, 0), note: entry.pinned });
  }
  const versions = [...deps.keys.ENCRYPTION_KEYRING.versions.keys()].sort((a, b) => a - b).map((version) => {
    const usage = perVersion.get(version) ?? [];
    const isCurrent = version === base.current;
    const pinnedOnly = usage.length > 0 && usage.every((entry) => pinned.some((p) => p.table === entry.table && p.column === entry.column));
    const reason = isCurrent
      ? 'current version'
      : usage.length === 0
        ? null
        : `${pinnedOnly ? 'only pinned rows use it (kept until retention purges them)' : 'rows still use it; run npm run keys:rotate'}: ${describeUsage(usage)}`;
    return { version, current: isCurrent, usage, retirable: !isCurrent && usage.length === 0, reason };
  });
  return { ...base, versions: versions.map((v) => ({ ...v, firstSeenAt: null })), pinned };
}

/** Re-indexable columns are matched row by row against every version; one-way ones cannot be told apart. */
async function blindIndexStatus(deps: StatusDeps, base: Omit<KeyStatus, 'versions' | 'pinned'>): Promise<KeyStatus> {
  const ordered = [...deps.keys.BLIND_INDEX_KEY.versions.keys()].sort((a, b) => b - a);
  const perVersion = new Map<number, ColumnRows[]>();
  const pinned: KeyStatus['pinned'] = [];
  for (const entry of BLIND_INDEX_COLUMNS) {
    const rotation = entry.rotation;
    if (rotation.how !== 'reindex') {
      const rows = await deps.repo.countRows(deps.db, entry.table, entry.column);
      pinned.push({ table: entry.table, column: entry.column, rows, note: rotation.note });
      continue;
    }
    const counts = new Map<number, number>();
    let after: string | null = null;
    for (;;) {
      const rows = await deps.repo.indexBatch(deps.db, entry.table, entry.column, rotation.from, after, SCAN_BATCH);
      for (const row of rows) {
        if (!row.source) continue;
        try {
          const plaintext = deps.cipher.decrypt(row.source, { table: entry.table, column: rotation.fromAad, rowId: row.id }).toString('utf8');
          const index = deps.blindIndex.computeAll(normaliseEmail(plaintext), rotation.purpose).findIndex((candidate) => candidate.equals(row.value));
          if (index >= 0) counts.set(ordered[index]!, (counts.get(ordered[index]!) ?? 0) + 1);
        } catch {
          // A row that does not open is the sweep's failure to report; status only counts what it can tell.
        }
      }
      if (rows.length < SCAN_BATCH) break;
      after = rows[rows.length - 1]!.id;
    }
    for (const [version, rows] of counts) perVersion.set(version, [...(perVersion.get(version) ?? []), { table: entry.table, column: entry.column, rows }]);
  }
  const oneWay = pinned.filter((entry) => entry.rows > 0);
  const versions = [...ordered].reverse().map((version) => {
    const usage = perVersion.get(version) ?? [];
    const isCurrent = version === base.current;
    const reasons = [
      ...(usage.length > 0 ? [`rows still use it; run npm run keys:rotate: ${describeUsage(usage)}`] : []),
      ...(oneWay.length > 0 ? [`one-way or pinned indexes may still use it (re-indexed when presented, or kept until replaced): ${describeUsage(oneWay)}`] : []),
    ];
    return {
      version,
      current: isCurrent,
      firstSeenAt: null,
      usage,
      retirable: !isCurrent && reasons.length === 0,
      reason: isCurrent ? 'current version' : reasons.length > 0 ? reasons.join('. ') : null,
    };
  });
  return { ...base, versions, pinned };
}

/** A JWT version can go once every token it signed has expired: the newer version has been current long enough. */
function jwtStatus(deps: StatusDeps, base: Omit<KeyStatus, 'versions' | 'pinned'>, seen: Map<number, Date>): KeyStatus {
  const all = [...deps.keys.JWT_SIGNING_KEYS.versions.keys()].sort((a, b) => a - b);
  const versions = all.map((version) => {
    const isCurrent = version === base.current;
    const successor = all.find((candidate) => candidate > version);
    const supersededAt = successor === undefined ? undefined : seen.get(successor);
    const retirableAt = supersededAt ? new Date(supersededAt.getTime() + (MAX_ACCESS_TOKEN_TTL_SECONDS + deps.accessTokenLeewaySeconds) * 1000) : undefined;
    const retirable = !isCurrent && retirableAt !== undefined && deps.now >= retirableAt;
    const reason = isCurrent
      ? 'current version'
      : !retirableAt
        ? 'unknown when a newer version became current'
        : retirable
          ? null
          : `tokens it signed may still be valid until ${retirableAt.toISOString()} (longest access-token lifetime after version ${successor} became current)`;
    return { version, current: isCurrent, firstSeenAt: null, usage: [], retirable, reason };
  });
  return { ...base, versions, pinned: [] };
}

/** Old audit versions stop signing at once; their public keys stay registered so their checkpoints verify. */
async function auditStatus(deps: StatusDeps, base: Omit<KeyStatus, 'versions' | 'pinned'>): Promise<KeyStatus> {
  const usage = await deps.repo.checkpointUsage(deps.db);
  const versions = [...deps.keys.AUDIT_SIGNING_KEY.versions.keys()].sort((a, b) => a - b).map((version) => {
    const isCurrent = version === base.current;
    const rows = usage.get(version) ?? 0;
    return {
      version,
      current: isCurrent,
      firstSeenAt: null,
      usage: rows > 0 ? [{ table: 'audit_checkpoints', column: 'key_version', rows }] : [],
      retirable: !isCurrent,
      reason: isCurrent ? 'current version' : 'no longer signs; its public key stays in audit_signing_keys so the checkpoints it signed still verify',
    };
  });
  return { ...base, versions, pinned: [] };
}

export async function describeKeys(deps: StatusDeps): Promise<KeyStatus[]> {
  const seenRows = await deps.repo.versionsSeen(deps.db);
  const statuses: KeyStatus[] = [];
  for (const kind of KEY_NAMES) {
    const seen = new Map(seenRows.filter((row) => row.kind === kind).map((row) => [row.version, row.firstSeenAt]));
    const base = { kind, source: generatedKeyFile(deps.config, kind) ? ('data-dir' as const) : ('configuration' as const), current: deps.keys[kind].current };
    const status =
      kind === 'ENCRYPTION_KEYRING'
        ? await encryptionStatus(deps, base)
        : kind === 'BLIND_INDEX_KEY'
          ? await blindIndexStatus(deps, base)
          : kind === 'JWT_SIGNING_KEYS'
            ? jwtStatus(deps, base, seen)
            : await auditStatus(deps, base);
    statuses.push({ ...status, versions: status.versions.map((version) => ({ ...version, firstSeenAt: seen.get(version.version)?.toISOString() ?? null })) });
  }
  return statuses;
}
