import { randomInt } from 'node:crypto';
import type { BlindIndex } from '../../platform/crypto/index.js';

/**
 * Backup codes (lookup secrets, ASVS 6.5): 10 codes of 12 characters from Crockford's base32
 * alphabet (no I, L, O, U: nothing to misread), 60 bits each from the CSPRNG, shown as
 * `XXXX-XXXX-XXXX`. Typing is forgiving: case, spaces and hyphens do not matter, and O/I/L read as 0/1.
 *
 * Stored as HMAC-SHA-256 under BLIND_INDEX_KEY (a key that is not in the database) with the user id
 * bound in, rather than argon2: a stolen table alone cannot be brute-forced without the key, and a
 * login attempt does not cost up to 10 password hashes (argon2 per stored code would hand an
 * attacker a CPU lever). Online guessing of 60-bit codes is bounded by the challenge's 5 tries and the
 * account lockout. ASVS 6.5.2 asks for a salted password hash below 112 bits: the keyed hash is our
 * documented deviation (the key plays the role the salt and work factor play against a dump).
 */
export const BACKUP_CODE_COUNT = 10;
const CODE_LENGTH = 12;
const GROUP = 4;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const PURPOSE = 'mfa.backup-code';

export function newBackupCodes(count = BACKUP_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    let raw = '';
    for (let i = 0; i < CODE_LENGTH; i += 1) raw += ALPHABET[randomInt(ALPHABET.length)];
    return raw.match(new RegExp(`.{${GROUP}}`, 'g'))!.join('-');
  });
}

/** The canonical form of a typed code, or undefined when it cannot be one. */
export function normaliseBackupCode(input: string): string | undefined {
  const raw = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (raw.length !== CODE_LENGTH) return undefined;
  for (const char of raw) if (!ALPHABET.includes(char)) return undefined;
  return raw;
}

/** The stored hash of a code for a user (current key version). */
export const hashBackupCode = (blindIndex: Pick<BlindIndex, 'compute'>, userId: string, canonical: string): Buffer =>
  blindIndex.compute(`${userId}:${canonical}`, PURPOSE);

/** Every key version's hash of a typed code, to look up during a key rotation. */
export function backupCodeCandidates(blindIndex: Pick<BlindIndex, 'computeAll'>, userId: string, input: string): Buffer[] {
  const canonical = normaliseBackupCode(input);
  return canonical ? blindIndex.computeAll(`${userId}:${canonical}`, PURPOSE) : [];
}
