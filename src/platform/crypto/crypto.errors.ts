/**
 * Why a sealed value could not be opened. Coarse on purpose: precise reasons would help an attacker
 * probe the format, and none of them is a reason to trust the bytes.
 */
export type IntegrityFailure = 'malformed' | 'unknown_key_version' | 'authentication_failed' | 'invalid_content';

const MESSAGES: Readonly<Record<IntegrityFailure, string>> = {
  malformed: 'encrypted value is malformed or truncated',
  unknown_key_version: 'encrypted value names a key version that is not in the keyring',
  authentication_failed: 'encrypted value failed authentication (tampered, wrong key, or moved to another row, column or table)',
  invalid_content: 'encrypted value decrypted to content of the wrong kind for its column',
};

/**
 * Thrown instead of ever returning unauthenticated or garbled plaintext. The message comes from a fixed
 * table so it can be logged as is: it never carries key material, plaintext or ciphertext.
 */
export class IntegrityError extends Error {
  readonly reason: IntegrityFailure;

  constructor(reason: IntegrityFailure) {
    super(MESSAGES[reason]);
    this.name = 'IntegrityError';
    this.reason = reason;
  }
}

export const isIntegrityError = (value: unknown): value is IntegrityError => value instanceof IntegrityError;
