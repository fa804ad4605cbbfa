import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_BLOCKLIST_PATH, foldPassword, loadPasswordBlocklist, parseBlocklist } from './password-blocklist.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'vutf-blocklist-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('foldPassword', () => {
  it.each([
    ['PassWORD', 'password'],
    ['ＰＡＳＳｗｏｒｄ', 'password'],
    ['ﬁve', 'five'],
    ['Straße', 'strasse'],
    ['STRASSE', 'strasse'],
    ['ſecret', 'secret'],
    ['ΟΔΟΣ', 'οδοσ'],
    ['οδος', 'οδοσ'],
    ['cafe\u0301', 'café'],
    ['İstanbul', 'i\u0307stanbul'],
    ['🦊 紫色', '🦊 紫色'],
  ])('folds %j to %j', (input, expected) => {
    expect(foldPassword(input)).toBe(expected);
  });

  it('is idempotent, so folding the shipped (already folded) list again changes nothing', () => {
    for (const text of ['Straße', 'ＰＡＳＳ', 'ΟΔΟΣ', 'İ']) expect(foldPassword(foldPassword(text))).toBe(foldPassword(text));
  });
});

describe('parseBlocklist', () => {
  it('folds entries, accepts CRLF, drops blank lines and keeps the first of duplicates in order', () => {
    expect(parseBlocklist('Password\r\n123456\n\nPASSWORD\nｑｗｅｒｔｙ\n\r\n')).toEqual(['password', '123456', 'qwerty']);
  });
});

describe('loadPasswordBlocklist', () => {
  it('resolves the default path to data/passwords in the project root, from src/ and dist/ alike', () => {
    const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
    expect(JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8'))).toMatchObject({ name: 'violentutf-api' });
    expect(fileURLToPath(DEFAULT_BLOCKLIST_PATH)).toBe(path.join(projectRoot, 'data', 'passwords', 'common-passwords.txt'));
  });

  it('V6.2.4 loads the shipped list: 10,000 folded entries of the most common passwords', () => {
    const blocklist = loadPasswordBlocklist();
    expect(blocklist.size).toBe(10_000);
    for (const common of ['password', '12345678', 'qwerty', 'iloveyou', 'trustno1']) expect(blocklist.has(common)).toBe(true);
    expect([...blocklist].filter((entry) => entry !== foldPassword(entry))).toEqual([]);
  });

  it('folds entries of a hand-edited file on load', () => {
    const file = path.join(scratch, 'edited.txt');
    writeFileSync(file, 'Correct-Horse\r\nＴＲＯＵＢＡＤＯＲ\n');
    expect([...loadPasswordBlocklist(file)]).toEqual(['correct-horse', 'troubador']);
  });

  it('refuses an empty list, which would silently switch the rule off', () => {
    const file = path.join(scratch, 'empty.txt');
    writeFileSync(file, '\n\n');
    expect(() => loadPasswordBlocklist(file)).toThrow(/holds no entries/);
  });

  it('fails loudly when the file is missing', () => {
    expect(() => loadPasswordBlocklist(path.join(scratch, 'missing.txt'))).toThrow(/ENOENT/);
  });
});
