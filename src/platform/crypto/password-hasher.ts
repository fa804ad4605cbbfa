import { randomBytes } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify, parseOptions, type Algorithm, type Version } from '@node-rs/argon2';
import { utf8Bytes } from './utf8.js';

/** Argon2id cost parameters; changing them makes needsRehash true for every older hash. */
export interface PasswordHashParams {
  /** Memory per hash, in KiB (the PHC m= value). */
  readonly memoryCostKiB: number;
  /** Passes over memory (t=). */
  readonly timeCost: number;
  /** Lanes (p=). */
  readonly parallelism: number;
}

/** OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. */
export const DEFAULT_PASSWORD_HASH_PARAMS: PasswordHashParams = Object.freeze({ memoryCostKiB: 19456, timeCost: 2, parallelism: 1 });

/** Hashes and checks passwords; hashes are PHC strings ($argon2id$v=19$m=...,t=...,p=...$salt$hash). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** True only for a well-formed hash of this password; false, never a throw, for anything else. */
  verify(hash: string, password: string): Promise<boolean>;
  /** True when the hash was made with another algorithm or other parameters than the current ones. */
  needsRehash(hash: string): boolean;
  /**
   * The same verify work against a dummy hash with the current parameters, for logins of unknown users:
   * without it, "no such account" answers faster than "wrong password" and leaks which emails exist.
   */
  burn(password: string): Promise<void>;
}

// The package declares these as const enums, which isolatedModules cannot read; values from its index.d.ts.
const ARGON2ID = 2 as Algorithm;
const VERSION_0X13 = 1 as Version;
const OUTPUT_BYTES = 32;

function assertParams({ memoryCostKiB, timeCost, parallelism }: PasswordHashParams): void {
  const integer = (value: number, min: number, max: number) => Number.isInteger(value) && value >= min && value <= max;
  if (!integer(parallelism, 1, 255)) throw new RangeError('argon2 parallelism must be an integer from 1 to 255');
  if (!integer(timeCost, 1, 2 ** 32 - 1)) throw new RangeError('argon2 timeCost must be a positive integer');
  // Argon2 needs at least 8 KiB per lane.
  if (!integer(memoryCostKiB, 8 * parallelism, 2 ** 32 - 1)) throw new RangeError('argon2 memoryCostKiB must be at least 8 × parallelism');
}

/**
 * NFKC so the same password typed on another keyboard or OS still matches (NIST SP 800-63B); lone
 * surrogates are refused because UTF-8 encoding would merge distinct passwords into one.
 */
const passwordBytes = (password: string): Buffer => utf8Bytes(password.normalize('NFKC'));

export function createPasswordHasher(params: PasswordHashParams): PasswordHasher {
  assertParams(params);
  const options = {
    algorithm: ARGON2ID,
    version: VERSION_0X13,
    memoryCost: params.memoryCostKiB,
    timeCost: params.timeCost,
    parallelism: params.parallelism,
    outputLen: OUTPUT_BYTES,
  };
  // Made once, up front, so the first unknown-user login does not also pay for creating it.
  const dummyHash = argon2Hash(randomBytes(32), options);
  // A failure here surfaces on the first burn, not as an unhandled rejection at start.
  dummyHash.catch(() => undefined);

  const verify = async (hash: string, password: string): Promise<boolean> => {
    try {
      return await argon2Verify(hash, passwordBytes(password));
    } catch {
      // Malformed hash, or a password that could never have been hashed: both simply do not match.
      return false;
    }
  };

  return {
    // async so a refused password rejects the promise instead of throwing synchronously.
    hash: async (password) => await argon2Hash(passwordBytes(password), options),
    verify,
    needsRehash(hash) {
      try {
        const used = parseOptions(hash);
        return (
          used.algorithm !== ARGON2ID ||
          used.version !== VERSION_0X13 ||
          used.memoryCost !== params.memoryCostKiB ||
          used.timeCost !== params.timeCost ||
          used.parallelism !== params.parallelism ||
          used.outputLen !== OUTPUT_BYTES
        );
      } catch {
        return true;
      }
    },
    async burn(password) {
      await verify(await dummyHash, password);
    },
  };
}
