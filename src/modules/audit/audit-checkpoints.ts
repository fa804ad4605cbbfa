import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { Keyring } from '../../platform/crypto/keyring.js';

/** A signed statement "the chain's head at `seq` has hash `headHash`", as stored and as written to the log. */
export interface Checkpoint {
  seq: number;
  headHash: Buffer;
  keyVersion: number;
  signature: Buffer;
  signedAt: Date;
}

// DER wrappers of a raw Ed25519 seed (PKCS#8) and public key (SPKI), RFC 8410.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const privateKeyOf = (seed: Buffer): KeyObject => createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
const publicKeyOf = (raw: Buffer): KeyObject => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
const rawPublicKey = (key: KeyObject): Buffer => createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);

/**
 * What a checkpoint's signature covers: a domain tag, then seq, head hash (hex), key version and signing
 * time (ISO ms), one per line. The key version is inside so a signature cannot be relabelled.
 */
export const checkpointMessage = (checkpoint: Omit<Checkpoint, 'signature'>): Buffer =>
  Buffer.from(
    `vutf-audit-checkpoint-v1\n${checkpoint.seq}\n${checkpoint.headHash.toString('hex')}\n${checkpoint.keyVersion}\n${checkpoint.signedAt.toISOString()}`,
    'utf8',
  );

/** The public half of each keyring version: what goes into `audit_signing_keys`. */
export const publicKeysOf = (keyring: Keyring): Map<number, Buffer> =>
  new Map([...keyring.versions.entries()].map(([version, seed]) => [version, rawPublicKey(privateKeyOf(seed))]));

/**
 * Signs and verifies checkpoints with the AUDIT_SIGNING_KEY keyring: each 32-byte secret is an Ed25519
 * seed, the highest version signs. Verification takes the public keys of every version ever registered
 * (`audit_signing_keys`), so checkpoints signed by a retired key still verify; see `trustedKeys`.
 */
export function createCheckpointSigner(keyring: Keyring) {
  // Follows the keyring: a version added while the process runs (key rotation) signs from then on.
  let derivedFor = -1;
  let current = keyring.current;
  let privateKey = privateKeyOf(keyring.get(current));
  const ownPublicKeys = publicKeysOf(keyring);
  const refresh = () => {
    if (derivedFor === keyring.versions.size) return;
    current = keyring.current;
    privateKey = privateKeyOf(keyring.get(current));
    for (const [version, key] of publicKeysOf(keyring)) ownPublicKeys.set(version, key);
    derivedFor = keyring.versions.size;
  };
  refresh();

  return {
    /** The public half of every version of the keyring (live: grows with the keyring). */
    get publicKeys(): Map<number, Buffer> {
      refresh();
      return ownPublicKeys;
    },

    sign(seq: number, headHash: Buffer, signedAt: Date): Checkpoint {
      refresh();
      const unsigned = { seq, headHash, keyVersion: current, signedAt };
      return { ...unsigned, signature: sign(null, checkpointMessage(unsigned), privateKey) };
    },

    /**
     * The keys a verifier trusts: the keyring's own, and registered ones of versions the keyring no
     * longer holds (retired) but only below its current version: a key row someone slipped into the table
     * with a new version number does not make its checkpoints valid. A registered key that contradicts
     * the keyring's is ignored (the keyring wins).
     */
    trustedKeys(registered: ReadonlyMap<number, Buffer>): Map<number, Buffer> {
      refresh();
      const trusted = new Map(ownPublicKeys);
      for (const [version, key] of registered) if (!trusted.has(version) && version < current) trusted.set(version, key);
      return trusted;
    },
  };
}

export type CheckpointSigner = ReturnType<typeof createCheckpointSigner>;

/** Whether a checkpoint's signature holds under the trusted key of its version. */
export function verifyCheckpoint(checkpoint: Checkpoint, trusted: ReadonlyMap<number, Buffer>): boolean {
  const key = trusted.get(checkpoint.keyVersion);
  if (!key || key.length !== 32 || checkpoint.signature.length !== 64) return false;
  try {
    return verify(null, checkpointMessage(checkpoint), publicKeyOf(key), checkpoint.signature);
  } catch {
    return false;
  }
}

/** One JSON line of the embedded checkpoint file (and the fields of the server's log line). */
export const checkpointJson = (checkpoint: Checkpoint) => ({
  seq: checkpoint.seq,
  hash: checkpoint.headHash.toString('hex'),
  keyVersion: checkpoint.keyVersion,
  signedAt: checkpoint.signedAt.toISOString(),
  signature: checkpoint.signature.toString('base64'),
});

/** Parses one line of the checkpoint file; undefined when it is not a well-formed checkpoint. */
export function parseCheckpointLine(line: string): Checkpoint | undefined {
  try {
    const value = JSON.parse(line) as Record<string, unknown>;
    const { seq, hash, keyVersion, signedAt, signature } = value;
    if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(keyVersion)) return undefined;
    if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash) || typeof signedAt !== 'string' || typeof signature !== 'string') return undefined;
    const date = new Date(signedAt);
    if (Number.isNaN(date.getTime())) return undefined;
    return { seq: seq as number, headHash: Buffer.from(hash, 'hex'), keyVersion: keyVersion as number, signedAt: date, signature: Buffer.from(signature, 'base64') };
  } catch {
    return undefined;
  }
}
