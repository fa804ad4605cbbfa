import { generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';
import { SignJWT, base64url, decodeJwt, type JWTHeaderParameters } from 'jose';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { generateKeyring } from '../../src/platform/crypto/index.js';
import { AppError } from '../../src/platform/errors.js';
import { signingKeysFor } from '../../src/modules/auth/access-token.keys.js';
import { AccessTokenRejection, createAccessTokenService } from '../../src/modules/auth/access-token.service.js';

/**
 * Access-token verification against forged, altered and mis-targeted JWTs (ASVS 5.0 V9 self-contained
 * tokens, V10.3 resource server). Forgeries that need a valid signature use the real signing key, so
 * the one check under test is the one that has to refuse them.
 */
const ISSUER = 'https://vutf.example.test';
const AUDIENCE = 'https://vutf.example.test/api';
const START = new Date('2026-03-01T12:00:00Z');
const NOW = START.getTime() / 1000;

const keyring = generateKeyring();
const real = signingKeysFor(keyring).current;
const clock = createManualClock(START);
const tokens = createAccessTokenService({ keyring, issuer: ISSUER, audience: AUDIENCE, clock });
const attacker = generateKeyPairSync('ed25519');

const header = (extra: Record<string, unknown> = {}) => ({ alg: 'EdDSA', typ: 'at+jwt', kid: real.kid, ...extra });
const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: '01960000-0000-7000-8000-000000000001',
  sid: '01960000-0000-7000-8000-000000000002',
  orgId: '01960000-0000-7000-8000-000000000003',
  amr: ['pwd'],
  auth_time: NOW - 60,
  iat: NOW,
  exp: NOW + 600,
  jti: '01960000-0000-7000-8000-000000000004',
  ...extra,
});
const without = (name: string) => {
  const { [name]: _removed, ...rest } = claims();
  return rest;
};

const SIGNATURE = /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/;
const ALG = /ERR_JOSE_ALG_NOT_ALLOWED/;
const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
/** Compact JWS signed by hand, for headers jose itself would refuse to produce. */
const rawSign = (head: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject = real.privateKey) => {
  const input = `${encode(head)}.${encode(payload)}`;
  return `${input}.${base64url.encode(edSign(null, Buffer.from(input), key))}`;
};
const joseSign = (head: JWTHeaderParameters, payload: Record<string, unknown>, key: KeyObject | Uint8Array = real.privateKey) =>
  new SignJWT(payload).setProtectedHeader(head).sign(key);

/** Asserts the uniform 401; `because` (pattern or substring) pins the log-only reason, so a forgery refused by accident fails the test. */
async function expectInvalid(token: string | Promise<string>, because?: RegExp | string): Promise<AccessTokenRejection> {
  const error = await tokens.verify(await token).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(AppError);
  const appError = error as AppError;
  expect(appError.status).toBe(401);
  expect(appError.code).toBe('invalid_token');
  // ASVS 16.5.1: one generic message whichever check failed; the reason stays in the log-only cause.
  expect(appError.detail).toBe('The access token is invalid or has expired.');
  expect(appError.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  expect(appError.cause).toBeInstanceOf(AccessTokenRejection);
  const rejection = appError.cause as AccessTokenRejection;
  if (because) expect(rejection.reason).toMatch(because);
  return rejection;
}

describe('control', () => {
  it('accepts a hand-built token with the full claim set (the forgeries below differ from it in one thing)', async () => {
    await expect(tokens.verify(rawSign(header(), claims()))).resolves.toMatchObject({ sub: claims().sub, keyVersion: real.version });
    await expect(tokens.verify(await joseSign(header() as JWTHeaderParameters, claims()))).resolves.toBeDefined();
  });
});

describe('[ASVS 9.1.1] the signature is verified before any content is trusted', () => {
  it('[ASVS 9.1.1] refuses a tampered payload that keeps the original signature', async () => {
    const { token } = await tokens.sign({ sub: 'user-a', sid: 's', orgId: 'org-a', amr: ['pwd'], authTime: START });
    const [head, , signature] = token.split('.');
    const altered = { ...decodeJwt(token), sub: 'user-b', orgId: 'org-b' };
    await expectInvalid(`${head}.${encode(altered)}.${signature}`, SIGNATURE);
  });

  it('[ASVS 9.1.1] refuses a truncated, an emptied and a bit-flipped signature', async () => {
    const { token } = await tokens.sign({ sub: 'user-a', sid: 's', orgId: null, amr: ['pwd'], authTime: START });
    await expectInvalid(token.slice(0, -4), SIGNATURE);
    await expectInvalid(token.slice(0, token.lastIndexOf('.') + 1), SIGNATURE);
    const signature = Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url');
    signature[0] = (signature[0] ?? 0) ^ 1;
    await expectInvalid(`${token.slice(0, token.lastIndexOf('.') + 1)}${signature.toString('base64url')}`, SIGNATURE);
  });

  it('[ASVS 9.1.1] refuses a token signed by another Ed25519 key under our kid', async () => {
    await expectInvalid(rawSign(header(), claims(), attacker.privateKey), SIGNATURE);
  });

  it('[ASVS 9.1.1] refuses what is not a compact JWS: garbage, two or five segments, oversized', async () => {
    const notCompact = /Invalid Compact JWS/;
    await expectInvalid('not-a-token', notCompact);
    await expectInvalid(`${encode(header())}.${encode(claims())}`, notCompact);
    await expectInvalid(`${encode(header())}.a.b.c.d`, notCompact);
    await expectInvalid(rawSign(header(), claims({ pad: 'x'.repeat(5000) })), /oversized/);
    await expectInvalid('', /empty/);
  });
});

describe('[ASVS 9.1.2] only EdDSA is accepted', () => {
  it.each(['none', 'None', 'NONE'])('[ASVS 9.1.2] refuses alg "%s" (unsigned token)', async (alg) => {
    await expectInvalid(`${encode(header({ alg }))}.${encode(claims())}.`, ALG);
  });

  it('[ASVS 9.1.2] refuses HS256 keyed with the public key bytes (algorithm confusion)', async () => {
    const x = Buffer.from(real.publicJwk.x, 'base64url');
    const pem = real.publicKey.export({ format: 'pem', type: 'spki' });
    await expectInvalid(joseSign({ alg: 'HS256', typ: 'at+jwt', kid: real.kid }, claims(), x), ALG);
    await expectInvalid(joseSign({ alg: 'HS256', typ: 'at+jwt', kid: real.kid }, claims(), Buffer.from(pem)), ALG);
    await expectInvalid(joseSign({ alg: 'HS256', typ: 'at+jwt', kid: real.kid }, claims(), Buffer.from(JSON.stringify(real.publicJwk))), ALG);
  });

  it('[ASVS 9.1.2] refuses RS256 and ES256 tokens under our kid', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await expectInvalid(joseSign({ alg: 'RS256', typ: 'at+jwt', kid: real.kid }, claims(), rsa.privateKey), ALG);
    await expectInvalid(joseSign({ alg: 'ES256', typ: 'at+jwt', kid: real.kid }, claims(), ec.privateKey), ALG);
  });

  it('[ASVS 9.1.2] refuses the fully-specified "Ed25519" alg name too: the allowlist is exact', async () => {
    await expectInvalid(joseSign({ alg: 'Ed25519', typ: 'at+jwt', kid: real.kid }, claims()), ALG);
  });
});

describe('[ASVS 9.1.3] keys come only from the configured keyring', () => {
  it('[ASVS 9.1.3] refuses an unknown kid and a missing kid', async () => {
    await expectInvalid(rawSign(header({ kid: 'v99-AAAAAAAAAAAAAAAA' }), claims()), /kid/);
    await expectInvalid(rawSign(header({ kid: real.kid.replace(/^v\d+/, 'v2') }), claims()), /kid/);
    const { kid: _kid, ...noKid } = header();
    await expectInvalid(rawSign(noKid, claims()), /kid/);
  });

  it('[ASVS 9.1.3] refuses jku, x5u and x5c headers even on a genuinely signed token', async () => {
    await expectInvalid(joseSign(header({ jku: 'https://attacker.example/jwks.json' }) as JWTHeaderParameters, claims()), /"jku"/);
    await expectInvalid(joseSign(header({ x5u: 'https://attacker.example/cert.pem' }) as JWTHeaderParameters, claims()), /"x5u"/);
    await expectInvalid(joseSign(header({ x5c: ['MIIB'] }) as JWTHeaderParameters, claims()), /"x5c"/);
  });

  it('[ASVS 9.1.3] refuses an embedded jwk, whether it names our key or the attacker key that signed it', async () => {
    const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
    await expectInvalid(joseSign(header({ jwk: real.publicJwk }) as JWTHeaderParameters, claims()), /"jwk"/);
    await expectInvalid(joseSign(header({ jwk: attackerJwk }) as JWTHeaderParameters, claims(), attacker.privateKey), /"jwk"/);
  });

  it('[ASVS 9.1.3] refuses crit and any other header we never write', async () => {
    await expectInvalid(rawSign(header({ crit: ['exp'], exp: NOW + 600 }), claims()), /crit|Extension/);
    await expectInvalid(rawSign(header({ b64: false, crit: ['b64'] }), claims()), /b64|crit/);
    await expectInvalid(rawSign(header({ cty: 'JWT' }), claims()), /"cty"/);
  });

  it('[ASVS 9.1.3] refuses a wrong or missing issuer: the keys vouch for our issuer only', async () => {
    await expectInvalid(rawSign(header(), claims({ iss: 'https://attacker.example' })), /iss/);
    await expectInvalid(rawSign(header(), claims({ iss: `${ISSUER}/` })), /iss/);
    await expectInvalid(rawSign(header(), without('iss')), /iss/);
  });
});

describe('[ASVS 9.2.1] the validity period is enforced on the injected clock', () => {
  it('[ASVS 9.2.1] refuses an expired token once the 30 s leeway has passed', async () => {
    const { token } = await tokens.sign({ sub: 'u', sid: 's', orgId: null, amr: ['pwd'], authTime: START });
    try {
      clock.advance(630 * 1000);
      await expectInvalid(token, /ERR_JWT_EXPIRED/);
    } finally {
      clock.set(START);
    }
  });

  it('[ASVS 9.2.1] refuses nbf in the future, iat in the future, and a missing or non-numeric exp', async () => {
    await expectInvalid(rawSign(header(), claims({ nbf: NOW + 120 })), /nbf/);
    await expectInvalid(rawSign(header(), claims({ iat: NOW + 3600, exp: NOW + 4200, auth_time: NOW + 3600 })), /iat/);
    await expectInvalid(rawSign(header(), without('exp')), /exp/);
    await expectInvalid(rawSign(header(), claims({ exp: `${NOW + 600}` })), /exp/);
    await expectInvalid(rawSign(header(), claims({ exp: NOW - 3600 })), /ERR_JWT_EXPIRED/);
  });
});

describe('[ASVS 9.2.2] only access tokens are accepted as access tokens', () => {
  it.each([['JWT'], ['id_token+jwt'], ['logout+jwt'], [undefined]])('[ASVS 9.2.2] refuses typ %j', async (typ) => {
    const head: Record<string, unknown> = header({ typ });
    if (typ === undefined) delete head.typ;
    await expectInvalid(rawSign(head, claims()), /typ/);
  });
});

describe('[ASVS 9.2.3, 10.3.1] only tokens meant for this API are accepted', () => {
  it('[ASVS 9.2.3] [ASVS 10.3.1] refuses a wrong or missing audience', async () => {
    await expectInvalid(rawSign(header(), claims({ aud: 'https://other-service.example' })), /aud/);
    await expectInvalid(rawSign(header(), without('aud')), /aud/);
  });

  it('[ASVS 9.2.4] refuses a multi-audience token even when ours is in the list', async () => {
    await expectInvalid(rawSign(header(), claims({ aud: [AUDIENCE, 'https://other-service.example'] })), /aud/);
  });
});

describe('[ASVS 10.3.3, 10.3.4] identity, session and authentication claims are present and typed', () => {
  it.each(['sub', 'sid', 'orgId', 'amr', 'auth_time', 'iat', 'jti'])('[ASVS 10.3.3] [ASVS 10.3.4] refuses a token without %s', async (name) => {
    await expectInvalid(rawSign(header(), without(name)), `missing required "${name}"`);
  });

  it.each([
    ['sub', 42],
    ['sub', ''],
    ['sid', null],
    ['jti', ['x']],
    ['orgId', 7],
    ['amr', 'pwd'],
    ['amr', []],
    ['amr', ['pwd', 1]],
    ['auth_time', '1700000000'],
    ['auth_time', NOW + 3600],
    ['scope', ['scans:read']],
  ])('[ASVS 10.3.3] [ASVS 10.3.4] refuses %s = %j', async (name, value) => {
    await expectInvalid(rawSign(header(), claims({ [name]: value })), name);
  });
});
