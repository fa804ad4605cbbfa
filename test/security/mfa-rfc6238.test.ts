import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { base32Of, matchTotp, totpCodeAt } from '../../src/modules/mfa/totp.js';

/**
 * RFC 6238 Appendix B, pinned (issue 8 §8). mfa-totp.test.ts compares our codes with oathtool's at the
 * appendix's instants; this file also pins the oracle itself to the RFC's published SHA-1 table (all six
 * rows, 8 digits), so a wrong oracle could not agree with a wrong implementation unnoticed. A 6-digit
 * code is the same HOTP value mod 10^6: the last six digits of the published one.
 */

const RFC_SEED = Buffer.from('12345678901234567890', 'ascii');
/** Appendix B, mode SHA1: Unix time (s) → 8-digit TOTP. */
const RFC_SHA1_TABLE: ReadonlyArray<readonly [number, string]> = [
  [59, '94287082'],
  [1_111_111_109, '07081804'],
  [1_111_111_111, '14050471'],
  [1_234_567_890, '89005924'],
  [2_000_000_000, '69279037'],
  [20_000_000_000, '65353130'],
];

const oathtool = (seconds: number, digits: 6 | 8) =>
  execFileSync('oathtool', ['--totp=SHA1', `--digits=${digits}`, '-b', base32Of(RFC_SEED), '-N', `@${seconds}`], { encoding: 'utf8' }).trim();

describe('RFC 6238 Appendix B (SHA-1)', () => {
  it('[ASVS 6.5.5] oathtool reproduces every published 8-digit value, and our 6-digit code is its last six digits at each instant', () => {
    for (const [seconds, published] of RFC_SHA1_TABLE) {
      expect(oathtool(seconds, 8), `T=${seconds}`).toBe(published);
      expect(oathtool(seconds, 6), `T=${seconds}`).toBe(published.slice(2));
      expect(totpCodeAt(RFC_SEED, seconds * 1000), `T=${seconds}`).toBe(published.slice(2));
      expect(matchTotp(RFC_SEED, published.slice(2), seconds * 1000)).toBe(Math.floor(seconds / 30));
    }
  });

  it('[ASVS 6.5.5] a code lives for its 30-second step: the same within the step, another in the next', () => {
    // 1111111109 and 1111111111 straddle a step boundary (1111111110 = 37037037 × 30).
    expect(totpCodeAt(RFC_SEED, 1_111_111_080_000)).toBe(totpCodeAt(RFC_SEED, 1_111_111_109_000));
    expect(totpCodeAt(RFC_SEED, 1_111_111_110_000)).toBe(totpCodeAt(RFC_SEED, 1_111_111_111_000));
    expect(totpCodeAt(RFC_SEED, 1_111_111_109_000)).not.toBe(totpCodeAt(RFC_SEED, 1_111_111_110_000));
  });
});
