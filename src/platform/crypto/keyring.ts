import { randomBytes } from 'node:crypto';

/**
 * A versioned set of 32-byte secrets. Text form: "version:base64" entries separated by commas or
 * new lines, e.g. "1:Zm9v...,2:YmFy...". The highest version is current: new data uses it; older
 * versions stay readable until rotation has moved every row off them.
 */
export interface Keyring {
  readonly current: number;
  readonly versions: ReadonlyMap<number, Buffer>;
  /** The secret of one version; throws KeyringError when it is unknown. */
  get(version: number): Buffer;
  /**
   * Adds a version above the current one while the process runs (key rotation in embedded mode); it is
   * current at once for every primitive built on this keyring. Synchronous, so no request can observe a
   * half-added version; a version that is not the highest, or already present, is refused.
   */
  add(version: number, secret: Buffer): void;
}

export const KEY_BYTES = 32;

export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

export function createKeyring(versions: Map<number, Buffer>): Keyring {
  if (versions.size === 0) throw new KeyringError('a keyring needs at least one key');
  let current = Math.max(...versions.keys());
  return {
    get current() {
      return current;
    },
    versions,
    get(version) {
      const key = versions.get(version);
      if (!key) throw new KeyringError(`key version ${version} is not in the keyring`);
      return key;
    },
    add(version, secret) {
      if (!Number.isInteger(version) || version <= current || version > 0xffff_ffff) {
        throw new KeyringError(`a new key version must be an integer above the current one (${current})`);
      }
      if (secret.length !== KEY_BYTES) throw new KeyringError(`key version ${version} must be ${KEY_BYTES} bytes`);
      versions.set(version, Buffer.from(secret));
      current = version;
    },
  };
}

export function parseKeyring(text: string): Keyring {
  const versions = new Map<number, Buffer>();
  for (const entry of text.split(/[\s,]+/).filter(Boolean)) {
    const match = /^(\d{1,6}):([A-Za-z0-9+/_-]+={0,2})$/.exec(entry);
    if (!match) throw new KeyringError('each entry must look like "version:base64"');
    const version = Number(match[1]);
    const key = Buffer.from(match[2] ?? '', 'base64');
    if (version < 1) throw new KeyringError('key versions start at 1');
    if (key.length !== KEY_BYTES) throw new KeyringError(`key version ${version} must be ${KEY_BYTES} bytes`);
    if (key.every((byte) => byte === key[0])) throw new KeyringError(`key version ${version} is a placeholder, not a secret`);
    if (versions.has(version)) throw new KeyringError(`key version ${version} appears twice`);
    versions.set(version, key);
  }
  return createKeyring(versions);
}

export function formatKeyring(keyring: Keyring): string {
  return [...keyring.versions.entries()]
    .sort(([a], [b]) => a - b)
    .map(([version, key]) => `${version}:${key.toString('base64')}`)
    .join(',');
}

/** A new keyring with one random version, for embedded first start and for tests. */
export const generateKeyring = (version = 1): Keyring => createKeyring(new Map([[version, randomBytes(KEY_BYTES)]]));
