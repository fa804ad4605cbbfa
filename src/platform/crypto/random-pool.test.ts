import { describe, expect, it } from 'vitest';
import { fillFromPool, pooledRandomBytes } from './random-pool.js';

describe('random pool', () => {
  it('[ASVS 11.5.1] hands out every byte once: 100,000 nonces across many refills are all distinct and never the wiped zeros', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i += 1) {
      const nonce = pooledRandomBytes(12);
      expect(nonce).toHaveLength(12);
      seen.add(nonce.toString('hex'));
    }
    expect(seen.size).toBe(100_000);
    expect(seen.has('00'.repeat(12))).toBe(false);
  });

  it('draws sizes that do not divide the pool across the refill boundary, and larger ones directly', () => {
    // 4096 = 273 × 15 + 1: the 274th draw needs a refill; a reused (wiped) region would read as zeros.
    const draws = Array.from({ length: 600 }, () => pooledRandomBytes(15));
    expect(draws.filter((draw) => draw.every((byte) => byte === 0))).toHaveLength(0);
    const large = fillFromPool(new Uint8Array(4096));
    expect(large.some((byte) => byte !== 0)).toBe(true);
    expect(new Set(draws.map((draw) => draw.toString('hex'))).size).toBe(600);
  });

  it('gives roughly uniform bytes (every value appears; no value over 1.5× its share in 256 KiB)', () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 4_096; i += 1) for (const byte of pooledRandomBytes(64)) counts[byte]! += 1;
    const share = (4_096 * 64) / 256;
    expect(Math.min(...counts)).toBeGreaterThan(share * 0.5);
    expect(Math.max(...counts)).toBeLessThan(share * 1.5);
  });
});
