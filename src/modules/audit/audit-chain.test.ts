import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyring, generateKeyring } from '../../platform/crypto/keyring.js';
import { canonicalEventBytes, chainHash, GENESIS_HASH, type ChainRow } from './audit-chain.js';
import { checkpointJson, createCheckpointSigner, parseCheckpointLine, verifyCheckpoint } from './audit-checkpoints.js';

const row: ChainRow = {
  seq: 1,
  id: '01960000-0000-7000-8000-000000000001',
  occurredAt: new Date('2026-03-01T12:00:00.123Z'),
  actorType: 'user',
  actorId: '01960000-0000-7000-8000-000000000002',
  actorUserId: '01960000-0000-7000-8000-000000000002',
  orgId: null,
  action: 'user.read',
  resourceType: 'user',
  resourceId: 'abc',
  subjectIndex: null,
  outcome: 'success',
  statusCode: 200,
  requestId: 'req-1',
  clientIp: Buffer.from([1, 2, 3]),
  userAgent: null,
  changedFields: ['name', 'slug'],
  detail: { b: 1, a: 'x' },
};

describe('audit chain canonical bytes', () => {
  it('is deterministic and pinned (a change of encoding must be a new version, not an accident)', () => {
    expect(canonicalEventBytes(row).equals(canonicalEventBytes({ ...row }))).toBe(true);
    const first = chainHash(GENESIS_HASH, row);
    expect(first.equals(createHash('sha256').update(GENESIS_HASH).update(canonicalEventBytes(row)).digest())).toBe(true);
    expect(canonicalEventBytes(row).subarray(0, 19).toString('ascii')).toBe('vutf-audit-event-v1');
    expect(first.toString('hex')).toBe('ed00ca48e8487a3acdbcb8d18c63caba1efcd112a6951cf0f52be074f2d47b9a');
  });

  it('does not depend on jsonb key order (what PostgreSQL and PGlite hand back may differ)', () => {
    expect(canonicalEventBytes({ ...row, detail: { a: 'x', b: 1 } }).equals(canonicalEventBytes(row))).toBe(true);
  });

  it('tells NULL from the empty string and cannot be shifted across field boundaries', () => {
    const variants: ChainRow[] = [
      { ...row, orgId: '' },
      { ...row, resourceType: 'use', resourceId: 'rabc' },
      { ...row, userAgent: Buffer.alloc(0) },
      { ...row, clientIp: Buffer.from([1, 2]), userAgent: Buffer.from([3]) },
      { ...row, statusCode: null },
      { ...row, changedFields: ['name,slug'] },
    ];
    const encodings = new Set([row, ...variants].map((variant) => canonicalEventBytes(variant).toString('hex')));
    expect(encodings.size).toBe(variants.length + 1);
  });

  it('binds the position and the previous hash', () => {
    const base = chainHash(GENESIS_HASH, row);
    expect(chainHash(GENESIS_HASH, { ...row, seq: 2 }).equals(base)).toBe(false);
    expect(chainHash(Buffer.alloc(32, 1), row).equals(base)).toBe(false);
    expect(chainHash(GENESIS_HASH, { ...row, occurredAt: new Date(row.occurredAt.getTime() + 1) }).equals(base)).toBe(false);
  });
});

describe('audit checkpoints (Ed25519 with the audit keyring)', () => {
  const at = new Date('2026-03-01T12:00:00.000Z');

  it('signs with the current version and verifies under the trusted keys; a changed field fails', () => {
    const signer = createCheckpointSigner(generateKeyring(3));
    const checkpoint = signer.sign(42, Buffer.alloc(32, 7), at);
    const trusted = signer.trustedKeys(new Map());
    expect(checkpoint.keyVersion).toBe(3);
    expect(verifyCheckpoint(checkpoint, trusted)).toBe(true);
    expect(verifyCheckpoint({ ...checkpoint, seq: 43 }, trusted)).toBe(false);
    expect(verifyCheckpoint({ ...checkpoint, headHash: Buffer.alloc(32, 8) }, trusted)).toBe(false);
    expect(verifyCheckpoint({ ...checkpoint, signedAt: new Date(at.getTime() + 1) }, trusted)).toBe(false);
    expect(verifyCheckpoint({ ...checkpoint, keyVersion: 2 }, trusted)).toBe(false);
    expect(verifyCheckpoint({ ...checkpoint, signature: Buffer.alloc(64) }, trusted)).toBe(false);
  });

  it('trusts retired versions from the table but not a newer version the keyring does not know', () => {
    const old = generateKeyring(1);
    const oldSigner = createCheckpointSigner(old);
    const checkpoint = oldSigner.sign(1, Buffer.alloc(32, 1), at);
    const current = createCheckpointSigner(createKeyring(new Map([[2, generateKeyring(2).get(2)]])));
    expect(verifyCheckpoint(checkpoint, current.trustedKeys(new Map()))).toBe(false);
    expect(verifyCheckpoint(checkpoint, current.trustedKeys(oldSigner.publicKeys))).toBe(true);

    const intruder = createCheckpointSigner(generateKeyring(9));
    const forged = intruder.sign(1, Buffer.alloc(32, 1), at);
    expect(verifyCheckpoint(forged, current.trustedKeys(new Map([...oldSigner.publicKeys, ...intruder.publicKeys])))).toBe(false);
  });

  it('round-trips through the checkpoint file line', () => {
    const signer = createCheckpointSigner(generateKeyring());
    const checkpoint = signer.sign(7, Buffer.alloc(32, 9), at);
    const parsed = parseCheckpointLine(JSON.stringify(checkpointJson(checkpoint)));
    expect(parsed).toEqual(checkpoint);
    expect(parseCheckpointLine('{"seq":"7"}')).toBeUndefined();
    expect(parseCheckpointLine('not json')).toBeUndefined();
  });
});
