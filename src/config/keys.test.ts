import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatKeyring, generateKeyring, parseKeyring } from '../platform/crypto/keyring.js';
import { ConfigError, loadConfig } from './config.js';
import { KEY_NAMES } from './config.schema.js';
import { resolveKeys, type Keys } from './keys.js';

let root: string;
let dataDir: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'vutf-keys-'));
  // Not created yet: the first start makes DATA_DIR and DATA_DIR/keys itself.
  dataDir = path.join(root, 'data');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const FILE_NAMES = {
  JWT_SIGNING_KEYS: 'jwt-signing-keys',
  ENCRYPTION_KEYRING: 'encryption-keyring',
  BLIND_INDEX_KEY: 'blind-index-key',
  AUDIT_SIGNING_KEY: 'audit-signing-key',
} as const;

const modeOf = (file: string) => statSync(file).mode & 0o777;
const material = (keys: Keys) => Object.fromEntries(KEY_NAMES.map((name) => [name, formatKeyring(keys[name])]));
const configFor = (env: Record<string, string> = {}) => loadConfig({ DATA_DIR: dataDir, ...env });

function problemsOf(env: Record<string, string>): string[] {
  try {
    resolveKeys(configFor(env));
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('resolveKeys accepted the keys');
}

describe('embedded mode without keys', () => {
  it('generates each keyring once into DATA_DIR/keys, files 0600 in a 0700 directory', () => {
    const keys = resolveKeys(configFor());
    const keysDir = path.join(dataDir, 'keys');
    expect(modeOf(keysDir)).toBe(0o700);
    for (const name of KEY_NAMES) {
      const file = path.join(keysDir, FILE_NAMES[name]);
      expect(modeOf(file)).toBe(0o600);
      const stored = parseKeyring(readFileSync(file, 'utf8'));
      expect(formatKeyring(stored)).toBe(formatKeyring(keys[name]));
      expect(keys[name].current).toBe(1);
      expect(keys[name].get(1)).toHaveLength(32);
    }
    // Four independent secrets, not one reused.
    expect(new Set(Object.values(material(keys))).size).toBe(KEY_NAMES.length);
  });

  it('reuses the generated keys on the next start', () => {
    const first = material(resolveKeys(configFor()));
    const before = Object.fromEntries(KEY_NAMES.map((name) => [name, statSync(path.join(dataDir, 'keys', FILE_NAMES[name])).mtimeMs]));
    const second = material(resolveKeys(configFor()));
    expect(second).toEqual(first);
    for (const name of KEY_NAMES) expect(statSync(path.join(dataDir, 'keys', FILE_NAMES[name])).mtimeMs).toBe(before[name]);
  });

  it('generates only the keys not supplied', () => {
    const supplied = formatKeyring(generateKeyring());
    const keys = resolveKeys(configFor({ ENCRYPTION_KEYRING: supplied }));
    expect(formatKeyring(keys.ENCRYPTION_KEYRING)).toBe(supplied);
    expect(() => statSync(path.join(dataDir, 'keys', FILE_NAMES.ENCRYPTION_KEYRING))).toThrow(/ENOENT/);
    expect(modeOf(path.join(dataDir, 'keys', FILE_NAMES.JWT_SIGNING_KEYS))).toBe(0o600);
  });

  it('refuses a corrupted generated key file instead of replacing it', () => {
    resolveKeys(configFor());
    const file = path.join(dataDir, 'keys', FILE_NAMES.AUDIT_SIGNING_KEY);
    writeFileSync(file, 'garbage');
    expect(problemsOf({})).toEqual([expect.stringMatching(/^AUDIT_SIGNING_KEY: /)]);
    expect(readFileSync(file, 'utf8')).toBe('garbage');
  });
});

describe('supplied keys', () => {
  it('takes the variable over a generated file', () => {
    const generated = material(resolveKeys(configFor()));
    const supplied = formatKeyring(generateKeyring());
    const keys = resolveKeys(configFor({ JWT_SIGNING_KEYS: supplied }));
    expect(formatKeyring(keys.JWT_SIGNING_KEYS)).toBe(supplied);
    expect(formatKeyring(keys.JWT_SIGNING_KEYS)).not.toBe(generated.JWT_SIGNING_KEYS);
    expect(formatKeyring(keys.BLIND_INDEX_KEY)).toBe(generated.BLIND_INDEX_KEY);
  });

  it('reads a *_FILE, several versions with the highest current', () => {
    const a = generateKeyring(1);
    const b = generateKeyring(2);
    const file = path.join(root, 'encryption.keys');
    writeFileSync(file, `${formatKeyring(a)}\n${formatKeyring(b)}\n`);
    const keys = resolveKeys(configFor({ ENCRYPTION_KEYRING_FILE: file }));
    expect(keys.ENCRYPTION_KEYRING.current).toBe(2);
    expect(keys.ENCRYPTION_KEYRING.get(1).equals(a.get(1))).toBe(true);
    expect(keys.ENCRYPTION_KEYRING.get(2).equals(b.get(2))).toBe(true);
  });

  it('uses supplied keys in server mode without touching DATA_DIR', () => {
    const env = Object.fromEntries(KEY_NAMES.map((name) => [name, formatKeyring(generateKeyring())]));
    const config = loadConfig({ DATA_DIR: dataDir, DATABASE_URL: 'postgres://db/x', REDIS_URL: 'redis://cache', ...env });
    expect(material(resolveKeys(config))).toEqual(env);
    expect(() => statSync(dataDir)).toThrow(/ENOENT/);
  });
});

describe('bad key material', () => {
  const good = () => formatKeyring(generateKeyring());
  /** base64 of `length` random bytes, or of one byte repeated (a placeholder). */
  const bytes = (length: number, fill?: number) => (fill === undefined ? randomBytes(length) : Buffer.alloc(length, fill)).toString('base64');

  it.each([
    ['not a keyring', 'hunter2'],
    ['a short key', `1:${bytes(16)}`],
    ['a placeholder key (all one byte)', `1:${bytes(32, 0)}`],
    ['version 0', `0:${bytes(32)}`],
    ['a repeated version', `1:${bytes(32)},1:${bytes(32)}`],
  ])('refuses %s with a line naming the variable', (_label, value) => {
    const problems = problemsOf({ BLIND_INDEX_KEY: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^BLIND_INDEX_KEY: \S/);
    // The message never echoes the material it refused.
    expect(problems[0]).not.toContain(value);
  });

  it('reports every bad key at once, one line each, and never generates a replacement', () => {
    const problems = problemsOf({
      JWT_SIGNING_KEYS: 'nonsense',
      ENCRYPTION_KEYRING_FILE: path.join(root, 'missing.keys'),
      BLIND_INDEX_KEY: good(),
      AUDIT_SIGNING_KEY: `1:${bytes(32, 0xaa)}`,
    });
    expect(problems).toEqual([
      expect.stringMatching(/^JWT_SIGNING_KEYS: /),
      'ENCRYPTION_KEYRING_FILE: file not found',
      expect.stringMatching(/^AUDIT_SIGNING_KEY: .*placeholder/),
    ]);
  });

  it('names the *_FILE variable when a key file is missing', () => {
    expect(problemsOf({ JWT_SIGNING_KEYS_FILE: path.join(root, 'nope') })).toEqual(['JWT_SIGNING_KEYS_FILE: file not found']);
  });

  it('names the *_FILE variable when a key file holds bad material', () => {
    const file = path.join(root, 'audit.keys');
    writeFileSync(file, `1:${bytes(8)}`);
    expect(problemsOf({ AUDIT_SIGNING_KEY_FILE: file })).toEqual([expect.stringMatching(/^AUDIT_SIGNING_KEY_FILE: .*32 bytes/)]);
  });
});
