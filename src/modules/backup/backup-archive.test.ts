import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { generateKeyring } from '../../platform/crypto/keyring.js';
import { decryptArchive, encryptArchive, FRAME_PLAINTEXT_BYTES, HEADER_BYTES } from './backup-archive.js';

const keyring = generateKeyring(3);

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

const encrypt = (plaintext: Buffer) => collect(encryptArchive(keyring, Readable.from([plaintext.subarray(0, 1000), plaintext.subarray(1000)])));
const decrypt = (archive: Buffer) => collect(decryptArchive(keyring, Readable.from([archive])));

/** Splits an archive into its header and length-prefixed frames. */
function frames(archive: Buffer): { header: Buffer; frames: Buffer[] } {
  const list: Buffer[] = [];
  for (let offset = HEADER_BYTES; offset < archive.length; ) {
    const length = archive.readUInt32BE(offset);
    list.push(archive.subarray(offset, offset + 4 + length));
    offset += 4 + length;
  }
  return { header: archive.subarray(0, HEADER_BYTES), frames: list };
}

describe('[ASVS 11.3.3] backup archive frames', () => {
  it('round-trips in frames of at most 64 KiB under the keyring version named in the header', async () => {
    const plaintext = randomBytes(FRAME_PLAINTEXT_BYTES * 2 + 123);
    const archive = await encrypt(plaintext);
    expect(archive.readUInt32BE(10)).toBe(3);
    expect(frames(archive).frames).toHaveLength(3);
    expect((await decrypt(archive)).equals(plaintext)).toBe(true);
    // A fresh salt per archive: the same content never encrypts the same way twice.
    expect((await encrypt(plaintext)).equals(archive)).toBe(false);
  });

  it('refuses reordered and dropped frames, and a final frame moved earlier', async () => {
    const { header, frames: list } = frames(await encrypt(randomBytes(FRAME_PLAINTEXT_BYTES * 3 + 5)));
    expect(list).toHaveLength(4);
    await expect(decrypt(Buffer.concat([header, list[1]!, list[0]!, list[2]!, list[3]!]))).rejects.toThrow(/frame 0 does not authenticate/);
    await expect(decrypt(Buffer.concat([header, list[0]!, list[2]!, list[3]!]))).rejects.toThrow(/frame 1 does not authenticate/);
    await expect(decrypt(Buffer.concat([header, list[0]!, list[1]!, list[2]!]))).rejects.toThrow(/final frame is missing/);
    await expect(decrypt(Buffer.concat([header, list[0]!, list[3]!]))).rejects.toThrow(/frame 1 does not authenticate/);
  });

  it('refuses an altered header (it is bound into every frame) and another keyring', async () => {
    const archive = await encrypt(randomBytes(100));
    const altered = Buffer.from(archive);
    altered[HEADER_BYTES - 1]! ^= 0x80; // the salt
    await expect(decrypt(altered)).rejects.toThrow(/does not authenticate/);
    await expect(collect(decryptArchive(generateKeyring(3), Readable.from([archive])))).rejects.toThrow(/does not authenticate/);
    await expect(collect(decryptArchive(generateKeyring(2), Readable.from([archive])))).rejects.toThrow(/key version 3/);
  });
});
