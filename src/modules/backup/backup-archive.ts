import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Keyring } from '../../platform/crypto/keyring.js';
import { createSubkeys } from '../../platform/crypto/subkeys.js';

/**
 * The archive's outer format (issue 9 §3): a header, then AES-256-GCM frames.
 *
 *   header = magic "VUTFBAK\0" (8) | format u16 | key version u32 | archive salt (16)
 *   frame  = ciphertext length u32 | ciphertext | tag (16)
 *
 * The key of one archive is HKDF(backup subkey of the keyring's version, salt = archive salt), so the
 * frame nonce can simply be the frame index: it never repeats under one key. Each frame's additional
 * data is the header, its index (u64) and a final flag (u8): a reordered, dropped or flipped frame does
 * not open, a truncated archive lacks its final frame, and bytes after the final frame are refused.
 */
export const BACKUP_KEY_LABEL = 'violentutf/backup/aes-256-gcm/v1';
export const ARCHIVE_FORMAT = 1;
const MAGIC = Buffer.from('VUTFBAK\0', 'latin1');
const SALT_BYTES = 16;
export const HEADER_BYTES = MAGIC.length + 2 + 4 + SALT_BYTES;
const TAG_BYTES = 16;
/** Plaintext per frame: small enough to keep memory flat, large enough that framing costs nothing. */
export const FRAME_PLAINTEXT_BYTES = 64 * 1024;
/** A length field above this is corruption, not a frame to allocate. */
const MAX_FRAME_BYTES = FRAME_PLAINTEXT_BYTES * 4 + TAG_BYTES;

/** Why an archive was refused: the message names the problem, never a key or a value. */
export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}

function archiveKey(keyring: Keyring, version: number, salt: Buffer): Buffer {
  const subkey = createSubkeys(keyring, BACKUP_KEY_LABEL).get(version);
  if (!subkey) throw new ArchiveError(`the archive was written with encryption key version ${version}, which this keyring does not have`);
  return Buffer.from(hkdfSync('sha256', subkey, salt, BACKUP_KEY_LABEL, 32));
}

function nonceOf(index: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(index), 4);
  return nonce;
}

function additionalData(header: Buffer, index: number, final: boolean): Buffer {
  const tail = Buffer.alloc(9);
  tail.writeBigUInt64BE(BigInt(index), 0);
  tail.writeUInt8(final ? 1 : 0, 8);
  return Buffer.concat([header, tail]);
}

/**
 * Encrypts a plaintext byte stream into the archive format. Plaintext is regrouped into frames of
 * FRAME_PLAINTEXT_BYTES; the last frame (possibly empty) carries the final flag.
 */
export async function* encryptArchive(keyring: Keyring, plaintext: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const version = keyring.current;
  const salt = randomBytes(SALT_BYTES);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt16BE(ARCHIVE_FORMAT, MAGIC.length);
  header.writeUInt32BE(version, MAGIC.length + 2);
  salt.copy(header, MAGIC.length + 6);
  const key = archiveKey(keyring, version, salt);
  yield header;

  let index = 0;
  const seal = (bytes: Buffer, final: boolean): Buffer => {
    const cipher = createCipheriv('aes-256-gcm', key, nonceOf(index));
    cipher.setAAD(additionalData(header, index, final));
    const body = Buffer.concat([cipher.update(bytes), cipher.final(), cipher.getAuthTag()]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    index += 1;
    return Buffer.concat([length, body]);
  };

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of plaintext) {
    pending.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
    pendingBytes += piece.byteLength;
    while (pendingBytes >= FRAME_PLAINTEXT_BYTES) {
      const all = Buffer.concat(pending);
      yield seal(all.subarray(0, FRAME_PLAINTEXT_BYTES), false);
      const rest = all.subarray(FRAME_PLAINTEXT_BYTES);
      pending = [rest];
      pendingBytes = rest.length;
    }
  }
  yield seal(Buffer.concat(pending), true);
}

/** Pulls exact byte counts out of a chunked byte stream. */
function byteReader(source: AsyncIterable<Uint8Array>) {
  const iterator = source[Symbol.asyncIterator]();
  let buffered = Buffer.alloc(0);
  let done = false;
  async function fill(bytes: number): Promise<void> {
    while (buffered.length < bytes && !done) {
      const next = await iterator.next();
      if (next.done) done = true;
      else buffered = Buffer.concat([buffered, Buffer.from(next.value)]);
    }
  }
  return {
    /** Exactly `bytes` bytes, or fewer when the stream ended. */
    async read(bytes: number): Promise<Buffer> {
      await fill(bytes);
      const out = buffered.subarray(0, bytes);
      buffered = buffered.subarray(out.length);
      return out;
    },
    async atEnd(): Promise<boolean> {
      await fill(1);
      return buffered.length === 0;
    },
  };
}

/**
 * Decrypts an archive frame by frame, yielding plaintext only after its frame authenticated. Throws
 * ArchiveError on a wrong keyring, any altered, reordered or missing frame, or trailing bytes. The
 * caller must treat what it received as unverified until the generator completes.
 */
export async function* decryptArchive(keyring: Keyring, archive: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const reader = byteReader(archive);
  const header = await reader.read(HEADER_BYTES);
  if (header.length < HEADER_BYTES || !header.subarray(0, MAGIC.length).equals(MAGIC)) throw new ArchiveError('not a ViolentUTF backup archive');
  const format = header.readUInt16BE(MAGIC.length);
  if (format !== ARCHIVE_FORMAT) throw new ArchiveError(`archive format ${format} is not supported by this build (expected ${ARCHIVE_FORMAT})`);
  const version = header.readUInt32BE(MAGIC.length + 2);
  const key = archiveKey(keyring, version, Buffer.from(header.subarray(MAGIC.length + 6)));
  for (let index = 0; ; index++) {
    const lengthBytes = await reader.read(4);
    if (lengthBytes.length === 0) throw new ArchiveError('the archive is truncated: its final frame is missing');
    if (lengthBytes.length < 4) throw new ArchiveError(`the archive is truncated inside frame ${index}`);
    const length = lengthBytes.readUInt32BE(0);
    if (length < TAG_BYTES || length > MAX_FRAME_BYTES) throw new ArchiveError(`frame ${index} has an impossible length`);
    const body = await reader.read(length);
    if (body.length < length) throw new ArchiveError(`the archive is truncated inside frame ${index}`);
    const opened = openFrame(key, header, index, body);
    yield opened.plaintext;
    if (opened.final) {
      if (!(await reader.atEnd())) throw new ArchiveError('bytes follow the final frame of the archive');
      return;
    }
  }
}

/** Opens a frame as final or not final; the flag is authenticated, so only the true one opens. */
function openFrame(key: Buffer, header: Buffer, index: number, body: Buffer): { plaintext: Buffer; final: boolean } {
  for (const final of [false, true]) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, nonceOf(index));
      decipher.setAAD(additionalData(header, index, final));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      const plaintext = Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
      return { plaintext, final };
    } catch {
      // try the other flag; both failing is the refusal below
    }
  }
  throw new ArchiveError(`frame ${index} does not authenticate (altered, reordered, or written with another key)`);
}
