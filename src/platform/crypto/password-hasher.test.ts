import * as argon2 from '@node-rs/argon2';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_PASSWORD_HASH_PARAMS, createPasswordHasher, type PasswordHashParams } from './password-hasher.js';

// Pass-through spy: burn must do real argon2 verify work, which only the library call can show.
vi.mock('@node-rs/argon2', async (importOriginal) => {
  const actual = await importOriginal<typeof argon2>();
  return { ...actual, verify: vi.fn(actual.verify) };
});

// Small enough for fast tests; one test below runs the production defaults.
const FAST: PasswordHashParams = { memoryCostKiB: 1024, timeCost: 1, parallelism: 1 };
const hasher = createPasswordHasher(FAST);
const password = 'correct horse battery staple';

describe('createPasswordHasher', () => {
  it('hashes to an argon2id PHC string with the configured parameters and a fresh salt', async () => {
    const first = await hasher.hash(password);
    const second = await hasher.hash(password);
    expect(first).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(second).not.toBe(first);
    expect(first).not.toContain(password);
  });

  it('verifies the right password and rejects others', async () => {
    const hash = await hasher.hash(password);
    expect(await hasher.verify(hash, password)).toBe(true);
    expect(await hasher.verify(hash, `${password} `)).toBe(false);
    expect(await hasher.verify(hash, 'Correct horse battery staple')).toBe(false);
    expect(await hasher.verify(hash, '')).toBe(false);
  });

  it('treats compatibility-equivalent spellings as the same password (NFKC)', async () => {
    const hash = await hasher.hash('ｐａｓｓｗｏｒｄ－ﬁve-Ⅻ');
    expect(await hasher.verify(hash, 'password-five-XII')).toBe(true);
  });

  it('returns false, never throws, for a malformed hash or an unencodable password', async () => {
    const good = await hasher.hash(password);
    const malformed = ['', 'garbage', good.slice(0, -10), good.replace('$argon2id$', '$argon9$'), '$2b$10$abcdefghijklmnopqrstuu5ZJ4M9.4P6v6zR9l2wQ1y9uYVx0U2a'];
    for (const hash of malformed) await expect(hasher.verify(hash, password)).resolves.toBe(false);
    await expect(hasher.verify(good, 'lone \uD800')).resolves.toBe(false);
  });

  it('refuses to hash a password with a lone surrogate, which UTF-8 would merge with others', async () => {
    await expect(hasher.hash('a\uD800')).rejects.toThrow(TypeError);
  });

  it('still verifies hashes made with older parameters, and flags them for rehash', async () => {
    const old = await createPasswordHasher({ memoryCostKiB: 512, timeCost: 2, parallelism: 1 }).hash(password);
    expect(await hasher.verify(old, password)).toBe(true);
    expect(hasher.needsRehash(old)).toBe(true);
  });

  it('needsRehash is false only for argon2id hashes with exactly the current parameters', async () => {
    expect(hasher.needsRehash(await hasher.hash(password))).toBe(false);
    for (const other of [
      { ...FAST, memoryCostKiB: 2048 },
      { ...FAST, timeCost: 2 },
      { ...FAST, parallelism: 2 },
    ]) {
      expect(hasher.needsRehash(await createPasswordHasher(other).hash(password))).toBe(true);
    }
    expect(hasher.needsRehash(await argon2.hash(password, { memoryCost: 1024, timeCost: 1, parallelism: 1, algorithm: 1 as argon2.Algorithm }))).toBe(true);
    expect(hasher.needsRehash(await argon2.hash(password, { memoryCost: 1024, timeCost: 1, parallelism: 1, outputLen: 16 }))).toBe(true);
    expect(hasher.needsRehash('not a hash')).toBe(true);
  });

  it('burn does a verify against a dummy hash made with the current parameters, and never throws', async () => {
    const verify = vi.mocked(argon2.verify);
    verify.mockClear();
    await expect(hasher.burn(password)).resolves.toBeUndefined();
    await expect(hasher.burn('')).resolves.toBeUndefined();
    expect(verify).toHaveBeenCalledTimes(2);
    const [dummy] = verify.mock.calls[0] ?? [];
    expect(String(dummy)).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    // The same dummy every time: no per-call hashing that would make unknown users slower.
    expect(verify.mock.calls[1]?.[0]).toBe(dummy);
    expect(await hasher.verify(String(dummy), password)).toBe(false);
  });

  it('rejects impossible parameters at creation', () => {
    expect(() => createPasswordHasher({ ...FAST, memoryCostKiB: 4 })).toThrow(RangeError);
    expect(() => createPasswordHasher({ ...FAST, parallelism: 4, memoryCostKiB: 16 })).toThrow(RangeError);
    expect(() => createPasswordHasher({ ...FAST, timeCost: 0 })).toThrow(RangeError);
    expect(() => createPasswordHasher({ ...FAST, parallelism: 1.5 })).toThrow(RangeError);
    expect(() => createPasswordHasher({ ...FAST, parallelism: 256 })).toThrow(RangeError);
  });

  it('works end to end with the production defaults (19 MiB, t=2, p=1)', async () => {
    expect(DEFAULT_PASSWORD_HASH_PARAMS).toEqual({ memoryCostKiB: 19456, timeCost: 2, parallelism: 1 });
    const production = createPasswordHasher(DEFAULT_PASSWORD_HASH_PARAMS);
    const hash = await production.hash(password);
    expect(hash.startsWith('$argon2id$v=19$m=19456,t=2,p=1$')).toBe(true);
    expect(await production.verify(hash, password)).toBe(true);
    expect(await production.verify(hash, 'wrong')).toBe(false);
    expect(production.needsRehash(hash)).toBe(false);
    expect(hasher.needsRehash(hash)).toBe(true);
    await production.burn(password);
  });
});
