import { randomBytes } from 'node:crypto';
import { chmod, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces a generated key file atomically: the new content goes to a temporary file in the same
 * directory (mode 0600, flushed to disk), which is then renamed over the old one. A crash leaves either
 * the old file or the new one, never half of each; the temporary name is random so two writers never
 * share it. Callers serialise writes of one file (keys.service.ts holds a queue).
 */
export async function writeKeyFileAtomically(file: string, content: string): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- under DATA_DIR/keys, name fixed by config/keys.ts
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- see above
  await chmod(temporary, 0o600);
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- see above
  await rename(temporary, file);
}
