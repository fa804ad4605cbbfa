import { createHash, type Hash } from 'node:crypto';
import type { BackupRepo, Executor, TableInfo } from './backup.repo.js';
import { ArchiveError } from './backup-archive.js';

/**
 * The archive's plaintext (inside the encryption): JSON lines.
 *
 *   {"kind":"begin", format, createdAt, database, migrations, tables: [TableInfo...]}   (parents first)
 *   {"kind":"table", name} then one JSON array per row (every column as text or null) then
 *   {"kind":"table-end", name, rows, sha256}                                            per table
 *   {"kind":"manifest", tables: [{name, rows, sha256}]}                                  last
 *
 * A table's sha256 is over its row lines exactly as written (each with its "\n"), in primary-key order,
 * so a restore can recompute it from the loaded table and compare.
 */
export const CONTENT_FORMAT = 1;
/** Rows per keyset batch: evidence rows can be 1 MiB or more, so a batch stays small. */
export const BATCH_ROWS = 100;

export interface TableDigest {
  name: string;
  rows: number;
  sha256: string;
}

export interface ArchiveBegin {
  kind: 'begin';
  format: number;
  createdAt: string;
  database: 'pglite' | 'postgres';
  migrations: string[];
  tables: TableInfo[];
}

export interface ArchiveManifest {
  kind: 'manifest';
  tables: TableDigest[];
}

type Row = Array<string | null>;
const line = (value: unknown) => Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');

/** Rows of one table in keyset batches (bounded memory: one batch at a time). */
export async function* tableRows(repo: BackupRepo, db: Executor, table: TableInfo, batchRows = BATCH_ROWS): AsyncGenerator<Row> {
  const keyIndexes = table.primaryKey.map((name) => table.columns.findIndex((column) => column.name === name));
  let after: Row | null = null;
  for (;;) {
    const batch = await repo.readBatch(db, table, after, batchRows);
    yield* batch;
    if (batch.length < batchRows) return;
    const last = batch[batch.length - 1]!;
    after = keyIndexes.map((index) => last[index] ?? null);
  }
}

/** Counts and hashes a table as the archive does (a restore's final check). */
export async function digestTable(repo: BackupRepo, db: Executor, table: TableInfo): Promise<TableDigest> {
  const hash = createHash('sha256');
  let rows = 0;
  for await (const row of tableRows(repo, db, table)) {
    hash.update(line(row));
    rows += 1;
  }
  return { name: table.name, rows, sha256: hash.digest('hex') };
}

/** The plaintext of a dump of `db` (which should be one repeatable-read transaction), line by line. */
export async function* dumpLines(
  repo: BackupRepo,
  db: Executor,
  head: Omit<ArchiveBegin, 'kind' | 'format' | 'tables' | 'migrations'>,
  onManifest: (manifest: ArchiveManifest) => Promise<void>,
): AsyncGenerator<Buffer> {
  const tables = await repo.tables(db);
  const begin: ArchiveBegin = { kind: 'begin', format: CONTENT_FORMAT, ...head, migrations: await repo.appliedMigrations(db), tables };
  yield line(begin);
  const digests: TableDigest[] = [];
  for (const table of tables) {
    yield line({ kind: 'table', name: table.name });
    const hash = createHash('sha256');
    let rows = 0;
    for await (const row of tableRows(repo, db, table)) {
      const bytes = line(row);
      hash.update(bytes);
      rows += 1;
      yield bytes;
    }
    const digest = { name: table.name, rows, sha256: hash.digest('hex') };
    digests.push(digest);
    yield line({ kind: 'table-end', ...digest });
  }
  const manifest: ArchiveManifest = { kind: 'manifest', tables: digests };
  yield line(manifest);
  // Before the generator ends (and so before the final frame is sealed): a backup whose audit event
  // did not commit is never complete.
  await onManifest(manifest);
}

/** What reading the plaintext hands its consumer: the begin record, each table's rows, the manifest. */
export type ContentEvent =
  | { kind: 'begin'; begin: ArchiveBegin }
  | { kind: 'rows'; table: TableInfo; rows: Row[] }
  | { kind: 'table-end'; table: TableInfo; digest: TableDigest }
  | { kind: 'manifest'; manifest: ArchiveManifest };

/**
 * Parses and checks the plaintext: structure (begin, each table in the begin's order, manifest last),
 * row shape, and every table's count and hash against its table-end and the manifest. Rows come out
 * in batches of at most `batchRows`; any inconsistency throws ArchiveError.
 */
export async function* readContent(plaintext: AsyncIterable<Buffer>, batchRows = BATCH_ROWS): AsyncGenerator<ContentEvent> {
  let begin: ArchiveBegin | undefined;
  let tableIndex = -1;
  let current: { table: TableInfo; hash: Hash; rows: number; batch: Row[] } | undefined;
  const digests: TableDigest[] = [];
  let manifest: ArchiveManifest | undefined;

  for await (const text of lines(plaintext)) {
    if (manifest) throw new ArchiveError('content follows the manifest');
    if (current && text.startsWith('[')) {
      const row = JSON.parse(text) as unknown;
      if (!Array.isArray(row) || row.length !== current.table.columns.length || !row.every((value) => value === null || typeof value === 'string')) {
        throw new ArchiveError(`a row of ${current.table.name} does not match its columns`);
      }
      current.hash.update(`${text}\n`);
      current.rows += 1;
      current.batch.push(row as Row);
      if (current.batch.length >= batchRows) {
        yield { kind: 'rows', table: current.table, rows: current.batch };
        current.batch = [];
      }
      continue;
    }
    const record = JSON.parse(text) as { kind?: unknown; name?: unknown; rows?: unknown; sha256?: unknown };
    if (!begin) {
      if (record.kind !== 'begin' || (record as ArchiveBegin).format !== CONTENT_FORMAT) throw new ArchiveError('the archive content does not start with a supported begin record');
      begin = record as ArchiveBegin;
      yield { kind: 'begin', begin };
    } else if (record.kind === 'table' && !current) {
      const expected = begin.tables[++tableIndex];
      if (!expected || expected.name !== record.name) throw new ArchiveError(`unexpected table section ${String(record.name)}`);
      current = { table: expected, hash: createHash('sha256'), rows: 0, batch: [] };
    } else if (record.kind === 'table-end' && current && record.name === current.table.name) {
      if (current.batch.length > 0) yield { kind: 'rows', table: current.table, rows: current.batch };
      const digest = { name: current.table.name, rows: current.rows, sha256: current.hash.digest('hex') };
      if (record.rows !== digest.rows || record.sha256 !== digest.sha256) throw new ArchiveError(`table ${digest.name}: rows or hash do not match its record`);
      digests.push(digest);
      yield { kind: 'table-end', table: current.table, digest };
      current = undefined;
    } else if (record.kind === 'manifest' && !current) {
      manifest = record as ArchiveManifest;
      const listed = manifest.tables ?? [];
      const same = listed.length === digests.length && digests.length === begin.tables.length && listed.every((entry, i) => entry.name === digests[i]!.name && entry.rows === digests[i]!.rows && entry.sha256 === digests[i]!.sha256);
      if (!same) throw new ArchiveError('the manifest does not match the tables in the archive');
      yield { kind: 'manifest', manifest };
    } else {
      throw new ArchiveError('the archive content is out of order');
    }
  }
  if (!manifest) throw new ArchiveError('the archive content has no manifest');
}

/** UTF-8 lines of a byte stream (JSON escapes newlines inside values, so "\n" only ends records). */
async function* lines(source: AsyncIterable<Buffer>): AsyncGenerator<string> {
  let carry = Buffer.alloc(0);
  for await (const piece of source) {
    let data = carry.length > 0 ? Buffer.concat([carry, piece]) : piece;
    let start = 0;
    for (let end = data.indexOf(0x0a, start); end >= 0; end = data.indexOf(0x0a, start)) {
      yield data.toString('utf8', start, end);
      start = end + 1;
    }
    data = data.subarray(start);
    carry = Buffer.from(data);
  }
  if (carry.length > 0) throw new ArchiveError('the archive content ends inside a record');
}
