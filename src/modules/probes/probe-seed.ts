import type { Db } from '../../platform/db/database.js';
import { checkLibrary, ProbeLibraryError, readLibraryFiles, type LibraryCheckDeps, type ProbeLibrary } from './probe-library.js';
import { createProbesRepo, type ProbesRepo } from './probes.repo.js';

/**
 * Seeds a library version into the database once. Every process runs this at start (and
 * `npm run migrate` does too): inside one transaction under an advisory lock, so two processes
 * starting at once insert the version once, and the version row's ON CONFLICT is the backstop. A
 * version already seeded with other content is a developer's mistake (a probe changed without a
 * new libraryVersion): refused, because running plans and findings refer to the seeded content.
 */

/** Orders `2026.11.1` < `2026.11.10` < `2027.1.0`. */
export function compareLibraryVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let index = 0; index < Math.max(left.length, right.length); index += 1) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

export interface SeedResult {
  version: string;
  /** False when this version was already in the database (the usual start). */
  seeded: boolean;
  /** The newest seeded version, the one lists and selections use. */
  current: string;
}

export async function seedProbeLibrary(deps: { db: Db; repo: Pick<ProbesRepo, 'lockSeed' | 'findVersion' | 'insertVersion' | 'insertProbes' | 'listVersions' | 'setCurrent'>; now: () => Date }, library: ProbeLibrary): Promise<SeedResult> {
  const { repo } = deps;
  return deps.db.transaction().execute(async (tx) => {
    await repo.lockSeed(tx);
    const existing = await repo.findVersion(tx, library.version);
    let seeded = false;
    if (existing) {
      if (existing.contentHash !== library.contentHash) {
        throw new ProbeLibraryError([
          `libraryVersion ${library.version} is already seeded with other content (hash ${existing.contentHash.slice(0, 12)}…, files now ${library.contentHash.slice(0, 12)}…): bump libraryVersion in every data/probes/library/*.json file`,
        ]);
      }
    } else if (await repo.insertVersion(tx, { version: library.version, contentHash: library.contentHash, probeCount: library.probes.length }, deps.now())) {
      await repo.insertProbes(tx, library.version, library.probes, deps.now());
      seeded = true;
    }
    const versions = await repo.listVersions(tx);
    const newest = versions.map((row) => row.version).sort(compareLibraryVersions).at(-1)!;
    if (!versions.some((row) => row.version === newest && row.isCurrent)) await repo.setCurrent(tx, newest);
    return { version: library.version, seeded, current: newest };
  });
}

/** Reads, checks and seeds the shipped library (startup and `npm run migrate`). */
export async function seedShippedLibrary(db: Db, checks: LibraryCheckDeps, options: { dir?: URL; now?: () => Date } = {}): Promise<SeedResult> {
  const library = checkLibrary(readLibraryFiles(options.dir), checks);
  return seedProbeLibrary({ db, repo: createProbesRepo({ db }), now: options.now ?? (() => new Date()) }, library);
}
