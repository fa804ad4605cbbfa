import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_BLOCKLIST_PATH, parseBlocklist } from '../modules/auth/password-blocklist.js';

/**
 * Maintainer command, not part of the service: rebuilds data/passwords/common-passwords.txt from an
 * upstream list (default ../shared/passwords/10k-most-common.txt, SecLists, MIT). It folds entries
 * exactly as the password policy folds candidates (it calls the same parseBlocklist), so the shipped
 * file needs no work at start-up beyond a check. Run: `npx tsx src/ops/build-password-blocklist.ts [source]`.
 * Prints the hashes to record in data/passwords/README.md.
 */
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

function main(): void {
  const source = process.argv[2] ?? fileURLToPath(new URL('../../../shared/passwords/10k-most-common.txt', import.meta.url));
  const sourceBytes = readFileSync(source);
  // fatal: a list that is not UTF-8 must stop the build, not become U+FFFD entries.
  const entries = parseBlocklist(new TextDecoder('utf-8', { fatal: true }).decode(sourceBytes));
  const output = `${entries.join('\n')}\n`;
  writeFileSync(DEFAULT_BLOCKLIST_PATH, output, 'utf8');
  process.stdout.write(
    [
      `source ${source}: ${sourceBytes.length} bytes, sha256 ${sha256(sourceBytes)}`,
      `wrote ${fileURLToPath(DEFAULT_BLOCKLIST_PATH)}: ${entries.length} entries, ${Buffer.byteLength(output)} bytes, sha256 ${sha256(output)}`,
      '',
    ].join('\n'),
  );
}

main();
