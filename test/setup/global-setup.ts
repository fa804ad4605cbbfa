import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/platform/db/database.js';
import { migrateToLatest } from '../../src/platform/db/migrator.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A migrated embedded database, dumped once; each test file starts its own copy from it. */
    pgliteSnapshotPath: string;
  }
}

/**
 * Runs once per `vitest run`: migrating PGlite takes seconds (initdb), loading a dump well under
 * one, so every test file starts from this snapshot (DESIGN §3).
 */
export default async function setup(project: TestProject) {
  const workDir = mkdtempSync(path.join(tmpdir(), 'vutf-snapshot-'));
  const database = await openDatabase({
    mode: 'embedded',
    dataDir: path.join(workDir, 'data'),
    databaseUrl: undefined,
    poolMax: 1,
    statementTimeoutMs: 60_000,
    breaker: { run: (fn) => fn() },
    logger: { warn: () => undefined },
  });
  const snapshotPath = path.join(workDir, 'migrated.tar.gz');
  try {
    await migrateToLatest(database.db as never);
    const dump = await database.dumpDataDir!();
    writeFileSync(snapshotPath, Buffer.from(await dump.arrayBuffer()));
  } finally {
    await database.close();
  }
  project.provide('pgliteSnapshotPath', snapshotPath);
  return () => rmSync(workDir, { recursive: true, force: true });
}
