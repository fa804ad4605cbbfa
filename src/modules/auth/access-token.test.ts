import { randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../platform/clock.js';
import { createKeyring, generateKeyring, type Keyring } from '../../platform/crypto/index.js';
import { AppError } from '../../platform/errors.js';
import { isUuid } from '../../platform/ids.js';
import { signingKeysFor } from './access-token.keys.js';
import { createAccessTokenService, DEFAULT_ACCESS_TOKEN_TTL_SECONDS, type AccessTokenClaims } from './access-token.service.js';

const ISSUER = 'https://vutf.example.test';
const AUDIENCE = 'https://vutf.example.test/api';
const START = new Date('2026-03-01T12:00:00Z');
const claims: AccessTokenClaims = {
  sub: '01960000-0000-7000-8000-000000000001',
  sid: '01960000-0000-7000-8000-000000000002',
  orgId: '01960000-0000-7000-8000-000000000003',
  amr: ['pwd', 'otp'],
  authTime: new Date(START.getTime() - 60_000),
};

const service = (keyring: Keyring, clock = createManualClock(START), ttlSeconds?: () => number) =>
  createAccessTokenService({ keyring, issuer: ISSUER, audience: AUDIENCE, clock, ...(ttlSeconds ? { ttlSeconds } : {}) });

const refusal = async (promise: Promise<unknown>): Promise<AppError> => {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
};

describe('access token service', () => {
  it('round-trips: what it signs, it verifies with the same claims', async () => {
    const tokens = service(generateKeyring());
    const signed = await tokens.sign({ ...claims, scope: 'scans:read' });
    const verified = await tokens.verify(signed.token);
    expect(verified).toEqual({
      sub: claims.sub,
      sid: claims.sid,
      orgId: claims.orgId,
      amr: ['pwd', 'otp'],
      authTime: claims.authTime,
      scope: 'scans:read',
      jti: signed.jti,
      issuedAt: START,
      expiresAt: new Date(START.getTime() + DEFAULT_ACCESS_TOKEN_TTL_SECONDS * 1000),
      keyVersion: 1,
    });
  });

  it('writes the DESIGN §6 header and claims, with a UUIDv7 jti and the default 600 s lifetime', async () => {
    const keyring = generateKeyring();
    const signed = await service(keyring).sign({ ...claims, orgId: null });
    expect(decodeProtectedHeader(signed.token)).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: signingKeysFor(keyring).current.kid });
    const iat = START.getTime() / 1000;
    expect(decodeJwt(signed.token)).toEqual({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: claims.sub,
      sid: claims.sid,
      orgId: null,
      amr: ['pwd', 'otp'],
      auth_time: iat - 60,
      iat,
      exp: iat + 600,
      jti: signed.jti,
    });
    expect(signed.expiresIn).toBe(600);
    expect(isUuid(signed.jti)).toBe(true);
  });

  it('reads the lifetime per token, so a policy change applies to the next token', async () => {
    let ttl = 300;
    const tokens = service(generateKeyring(), createManualClock(START), () => ttl);
    expect((await tokens.sign(claims)).expiresIn).toBe(300);
    ttl = 120;
    const signed = await tokens.sign(claims);
    expect(signed.expiresIn).toBe(120);
    expect(decodeJwt(signed.token).exp).toBe(START.getTime() / 1000 + 120);
    ttl = 0;
    await expect(tokens.sign(claims)).rejects.toThrow(/TTL/);
  });

  it('refuses to sign without an authentication method or with a future auth_time', async () => {
    const tokens = service(generateKeyring());
    await expect(tokens.sign({ ...claims, amr: [] })).rejects.toThrow(/amr/);
    await expect(tokens.sign({ ...claims, authTime: new Date(START.getTime() + 60_000) })).rejects.toThrow(/auth_time/);
  });

  it('derives the same keys and kid from the same secret (every instance publishes one JWKS)', () => {
    const secret = randomBytes(32);
    const a = service(createKeyring(new Map([[1, secret]]))).jwks();
    const b = service(createKeyring(new Map([[1, Buffer.from(secret)]]))).jwks();
    expect(a).toEqual(b);
    expect(a.keys[0]?.kid).toMatch(/^v1-[A-Za-z0-9_-]{16}$/);
  });

  it('does not use the raw secret as the Ed25519 seed (HKDF with a purpose label)', () => {
    const secret = randomBytes(32);
    const keys = signingKeysFor(createKeyring(new Map([[1, secret]])));
    const raw = keys.current.privateKey.export({ format: 'der', type: 'pkcs8' });
    expect(raw.subarray(-32).equals(secret)).toBe(false);
  });
});

describe('rotation', () => {
  const v1 = randomBytes(32);
  const v2 = randomBytes(32);
  const before = createKeyring(new Map([[1, v1]]));
  const during = createKeyring(new Map([[1, v1], [2, v2]]));
  const after = createKeyring(new Map([[2, v2]]));

  it('signs with the newest version and still verifies tokens of an older configured one', async () => {
    const old = await service(before).sign(claims);
    const rotated = service(during);
    const fresh = await rotated.sign(claims);
    expect(decodeProtectedHeader(fresh.token).kid).toMatch(/^v2-/);
    expect((await rotated.verify(fresh.token)).keyVersion).toBe(2);
    expect((await rotated.verify(old.token)).keyVersion).toBe(1);
  });

  it('refuses tokens of a version removed from the keyring', async () => {
    const old = await service(before).sign(claims);
    const error = await refusal(service(after).verify(old.token));
    expect([error.status, error.code]).toEqual([401, 'invalid_token']);
  });

  it('publishes every configured version, current first, and never a private member', () => {
    const { keys } = service(during).jwks();
    expect(keys.map((key) => key.kid.split('-')[0])).toEqual(['v2', 'v1']);
    for (const key of keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
  });

  it('hands out copies: a caller cannot change the published key set', () => {
    const tokens = service(during);
    tokens.jwks().keys.pop();
    expect(tokens.jwks().keys).toHaveLength(2);
    expect(() => {
      (tokens.jwks().keys[0] as { x: string }).x = 'tampered';
    }).toThrow(TypeError);
  });
});

describe('time', () => {
  it('accepts a token until exp plus the 30 s leeway, then refuses it', async () => {
    const clock = createManualClock(START);
    const tokens = service(generateKeyring(), clock);
    const { token } = await tokens.sign(claims);
    clock.advance((600 + 29) * 1000);
    await expect(tokens.verify(token)).resolves.toBeDefined();
    clock.advance(1000);
    expect((await refusal(tokens.verify(token))).code).toBe('invalid_token');
  });

  it('serves a remembered verification only while a fresh one would pass: not after expiry, not on a clock set back', async () => {
    const clock = createManualClock(START);
    const tokens = service(generateKeyring(), clock);
    const { token } = await tokens.sign(claims);
    const first = await tokens.verify(token);
    // A caller changing its result does not change what the next verification returns.
    first.amr.push('tampered');
    expect((await tokens.verify(token)).amr).toEqual(claims.amr);
    clock.set(new Date(START.getTime() - 31_000));
    expect((await refusal(tokens.verify(token))).code).toBe('invalid_token');
    clock.set(START);
    await expect(tokens.verify(token)).resolves.toMatchObject({ sub: claims.sub });
    clock.advance((600 + 30) * 1000);
    expect((await refusal(tokens.verify(token))).code).toBe('invalid_token');
  });

  it('refuses a token whose iat is more than the leeway in the future (signed by a clock far ahead)', async () => {
    const keyring = generateKeyring();
    const ahead = createManualClock(new Date(START.getTime() + 5 * 60_000));
    const { token } = await service(keyring, ahead).sign({ ...claims, authTime: START });
    expect((await refusal(service(keyring).verify(token))).code).toBe('invalid_token');
  });
});
