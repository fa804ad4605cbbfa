import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

/**
 * PGlite is single-process: the embedded service holds DATA_DIR/service.lock exclusively, and
 * maintenance commands refuse to open the data directory while a live process holds it.
 * A lock left by a dead process (same host, pid gone) is taken over.
 */
export class DataDirLockedError extends Error {
  constructor(readonly holderPid: number, lockFile: string) {
    super(
      `the data directory is in use by process ${holderPid} (${lockFile}); stop the service or use its API ` +
        'for this operation',
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly file: string;
  release(): void;
}

const LOCK_FILE = 'service.lock';

export const lockFileOf = (dataDir: string) => path.join(dataDir, LOCK_FILE);

/** The pid of the live process holding the lock, or undefined when it is free or stale. */
export function lockHolder(dataDir: string): number | undefined {
  let content: { pid?: unknown; host?: unknown };
  try {
    content = JSON.parse(readFileSync(lockFileOf(dataDir), 'utf8')) as typeof content;
  } catch {
    return undefined;
  }
  if (typeof content.pid !== 'number') return undefined;
  if (content.host !== hostname()) return content.pid; // cannot check another host's pids: assume live
  return isAlive(content.pid) ? content.pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function acquireDataDirLock(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = lockFileOf(dataDir);
  const body = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, body, { flag: 'wx', mode: 0o600 });
      let released = false;
      return {
        file,
        release() {
          if (released) return;
          released = true;
          try {
            unlinkSync(file);
          } catch {
            // already gone: nothing to release
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = lockHolder(dataDir);
      if (holder !== undefined && holder !== process.pid) throw new DataDirLockedError(holder, file);
      if (holder === process.pid) throw new DataDirLockedError(holder, file);
      unlinkSync(file); // stale lock of a dead process
    }
  }
  throw new Error(`could not take the data-directory lock ${file}`);
}
