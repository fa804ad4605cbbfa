import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inject } from 'vitest';
import { openDatabase } from '../../src/platform/db/database.js';

/** A port nothing listens on right now (for tests that start the service as a real process). */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });

/** Seeds an embedded data directory from the migrated snapshot, so a spawned service skips initdb. */
export async function seedDataDirFromSnapshot(dataDir: string): Promise<void> {
  const seed = await openDatabase({
    mode: 'embedded',
    dataDir,
    databaseUrl: undefined,
    poolMax: 1,
    statementTimeoutMs: 5000,
    breaker: { run: (fn) => fn() },
    logger: { warn: () => undefined },
    loadDataDir: new Blob([readFileSync(inject('pgliteSnapshotPath'))]),
  });
  await seed.close();
}
