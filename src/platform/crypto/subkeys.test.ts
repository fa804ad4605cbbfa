import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeyringError, createKeyring, type Keyring } from './keyring.js';
import { createSubkeys } from './subkeys.js';

const secret = () => randomBytes(32);

describe('createSubkeys', () => {
  const keyring = createKeyring(
    new Map([
      [1, secret()],
      [3, secret()],
      [2, secret()],
    ]),
  );

  it('derives a distinct key per label and per version, never the secret itself', () => {
    const a = createSubkeys(keyring, 'label/a');
    const b = createSubkeys(keyring, 'label/b');
    expect(a.current.version).toBe(3);
    expect(a.current.key.equals(b.current.key)).toBe(false);
    expect(a.current.key.equals(keyring.get(3))).toBe(false);
    expect(a.get(1)?.equals(a.get(2) ?? Buffer.alloc(0))).toBe(false);
    expect(createSubkeys(keyring, 'label/a').current.key.equals(a.current.key)).toBe(true);
    expect(a.get(4)).toBeUndefined();
  });

  it('lists versions current first, then newest to oldest', () => {
    expect(createSubkeys(keyring, 'x').all().map(({ version }) => version)).toEqual([3, 2, 1]);
  });

  it('follows a version added at run time: current at once, older ones still there', () => {
    const growing = createKeyring(new Map([[1, secret()]]));
    const subkeys = createSubkeys(growing, 'x');
    const first = subkeys.current.key;
    growing.add(2, secret());
    expect(subkeys.current.version).toBe(2);
    expect(subkeys.all().map(({ version }) => version)).toEqual([2, 1]);
    expect(subkeys.get(1)).toEqual(first);
    expect(() => growing.add(2, secret())).toThrow(KeyringError);
  });

  it('refuses a hand-built keyring whose current version has no key', () => {
    const broken: Keyring = { current: 2, versions: new Map([[1, secret()]]), get: () => secret(), add: () => undefined };
    expect(() => createSubkeys(broken, 'x')).toThrow(KeyringError);
  });
});
