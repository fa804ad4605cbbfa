import { randomFillSync } from 'node:crypto';

/**
 * CSPRNG bytes for frequent small draws that are not secrets: AES-GCM nonces and the random part of
 * ids. Each randomFillSync call costs about 5 µs whatever its size (a crossing into OpenSSL), and a
 * scan attempt draws about ten times (five nonces, its ids): 14% of a worker's CPU. So the bytes
 * come from a 4 KiB refill instead; they are the same CSPRNG output, and every byte is handed out
 * once and wiped from the pool as it goes (copied out, the offset moves past it). A process never
 * shares its pool: Node does not fork a running process, it starts new ones. Node's randomUUID
 * caches its entropy the same way. Secrets (tokens, keys) keep crypto.randomBytes.
 */
const POOL_BYTES = 4096;
/** Larger draws gain nothing from the pool and would drain it. */
const MAX_POOLED_DRAW = 64;

const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let offset = POOL_BYTES;

/** Fills `target` (at most 64 bytes) with CSPRNG bytes from the pool. */
export function fillFromPool(target: Uint8Array): Uint8Array {
  const size = target.length;
  if (size > MAX_POOLED_DRAW) return randomFillSync(target);
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  target.set(pool.subarray(offset, offset + size));
  pool.fill(0, offset, offset + size);
  offset += size;
  return target;
}

/** `size` fresh CSPRNG bytes from the pool, as a new Buffer. */
export const pooledRandomBytes = (size: number): Buffer => fillFromPool(Buffer.allocUnsafe(size)) as Buffer;
