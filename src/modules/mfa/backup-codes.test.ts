import { describe, expect, it } from 'vitest';
import { createBlindIndex, generateKeyring } from '../../platform/crypto/index.js';
import { backupCodeCandidates, hashBackupCode, newBackupCodes, normaliseBackupCode } from './backup-codes.js';

describe('backup codes', () => {
  it('are 10 distinct grouped codes whose forgiving typed forms normalise to the same canonical code', () => {
    const codes = newBackupCodes();
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) {
      const canonical = code.replace(/-/g, '');
      expect(normaliseBackupCode(code.toLowerCase())).toBe(canonical);
      expect(normaliseBackupCode(` ${code.slice(0, 4)} ${code.slice(5)} `)).toBe(canonical);
    }
    expect(normaliseBackupCode('O0IL-1111-2222')).toBe('001111112222');
    expect(normaliseBackupCode('UUUU-UUUU-UUUU')).toBeUndefined();
    expect(normaliseBackupCode('ABC')).toBeUndefined();
  });

  it('hash per user: the same code of another user does not match', () => {
    const blindIndex = createBlindIndex(generateKeyring());
    const [code] = newBackupCodes(1);
    const stored = hashBackupCode(blindIndex, 'user-a', normaliseBackupCode(code!)!);
    expect(backupCodeCandidates(blindIndex, 'user-a', code!)[0]!.equals(stored)).toBe(true);
    expect(backupCodeCandidates(blindIndex, 'user-b', code!)[0]!.equals(stored)).toBe(false);
    expect(backupCodeCandidates(blindIndex, 'user-a', 'not a code')).toEqual([]);
  });
});
