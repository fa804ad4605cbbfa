import { SignJWT, errors as joseErrors, jwtVerify, type CompactJWSHeaderParameters, type JWTPayload } from 'jose';
import type { Keyring } from '../../platform/crypto/index.js';
import type { Clock } from '../../platform/clock.js';
import { AppError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { JWT_ALG, signingKeysFor, type Ed25519PublicJwk } from './access-token.keys.js';

/** RFC 9068 media type of JWT access tokens: an ID token or any other JWT we might sign is never accepted here. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 600;
/**
 * Skew tolerated on exp, nbf, iat and auth_time. Instances of one deployment are NTP-synced and
 * usually verify their own tokens; 30 s covers a lagging peer and stays 5 % of the default lifetime.
 */
export const CLOCK_LEEWAY_SECONDS = 30;
/** Ours are well under 1 KB; anything this long is refused before any parsing or crypto. */
const MAX_TOKEN_LENGTH = 4096;
/**
 * An allowlist, not a denylist of jku/jwk/x5u/x5c/crit: the key comes only from our keyring
 * (ASVS 9.1.3), and a header we never write means the token was not minted by us.
 */
const ALLOWED_HEADER_PARAMETERS = new Set(['alg', 'typ', 'kid']);
const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'sid', 'orgId', 'amr', 'auth_time', 'iat', 'exp', 'jti'];
const GENERIC_DETAIL = 'The access token is invalid or has expired.';
/**
 * Verified tokens remembered per process, keyed by the exact token string. Verification is a pure
 * function of the token, the keyring, issuer and audience (fixed for this service's life) and the
 * time, so a hit is only served while a fresh verification would also pass (see `cachedUntil`).
 * Only successes are remembered; revocation is checked per request elsewhere, never cached here.
 */
const VERIFIED_CACHE_MAX_ENTRIES = 10_000;

export interface AccessTokenClaims {
  /** The user id. */
  sub: string;
  /** The session (refresh-token family or cookie session) the token belongs to. */
  sid: string;
  /** The organisation the token acts in; null before one is selected. */
  orgId: string | null;
  /** RFC 8176 authentication method references; at least one. */
  amr: string[];
  authTime: Date;
  scope?: string;
}

export interface SignedAccessToken {
  token: string;
  /** Seconds until exp, as returned in the token response. */
  expiresIn: number;
  jti: string;
}

export interface VerifiedAccessToken {
  sub: string;
  sid: string;
  orgId: string | null;
  amr: string[];
  authTime: Date;
  scope: string | undefined;
  jti: string;
  issuedAt: Date;
  expiresAt: Date;
  /** Keyring version that signed the token (for rotation metrics and logs). */
  keyVersion: number;
}

export interface Jwks {
  keys: Ed25519PublicJwk[];
}

export interface AccessTokenService {
  sign(claims: AccessTokenClaims): Promise<SignedAccessToken>;
  /** Resolves only for a token this service could have signed; anything else throws 401 `invalid_token`. */
  verify(token: string): Promise<VerifiedAccessToken>;
  /** Public keys of every configured version, current first. */
  jwks(): Jwks;
}

export interface AccessTokenServiceDeps {
  /** JWT_SIGNING_KEYS. */
  keyring: Keyring;
  /** PUBLIC_URL; the OAuth2/OIDC server later signs with the same issuer and keys. */
  issuer: string;
  audience: string;
  clock: Clock;
  /** Read per token so a policy reload applies without restart. */
  ttlSeconds?: () => number;
}

/** Why a token was refused: for logs only, never for the client (it would be an oracle). */
export class AccessTokenRejection extends Error {
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`access token rejected: ${reason}`, options);
    this.name = 'AccessTokenRejection';
  }
}

/** The one error every refusal becomes: same status, code and detail whichever check failed. */
export function invalidToken(rejection: AccessTokenRejection): AppError {
  return new AppError(401, 'invalid_token', {
    detail: GENERIC_DETAIL,
    // RFC 6750 §3: the error code a bearer client reacts to (refresh, then re-authenticate).
    headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    cause: rejection,
  });
}

const toRejection = (error: unknown): AccessTokenRejection => {
  if (error instanceof AccessTokenRejection) return error;
  const reason = error instanceof joseErrors.JOSEError ? `${error.code}: ${error.message}` : 'verification failed';
  return new AccessTokenRejection(reason, { cause: error });
};

const seconds = (date: Date): number => Math.floor(date.getTime() / 1000);
const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** Returns the kid once the whole protected header is one we could have written. */
function checkHeader(header: CompactJWSHeaderParameters): string {
  for (const name of Object.keys(header)) {
    if (!ALLOWED_HEADER_PARAMETERS.has(name)) throw new AccessTokenRejection(`header parameter "${name}" is not allowed`);
  }
  // jose already enforces the algorithm allowlist; repeated so this function states the whole header contract.
  if (header.alg !== JWT_ALG) throw new AccessTokenRejection('alg is not EdDSA');
  // Exact match: jose would also take "application/at+jwt", which we never write.
  if (header.typ !== ACCESS_TOKEN_TYP) throw new AccessTokenRejection('typ is not at+jwt');
  if (!isNonEmptyString(header.kid)) throw new AccessTokenRejection('kid is missing');
  return header.kid;
}

/** Type and consistency checks jose leaves to the application (it checks iss, aud, exp, nbf and presence). */
function readClaims(payload: JWTPayload, nowSeconds: number): Omit<VerifiedAccessToken, 'keyVersion'> {
  const { sub, sid, jti, orgId, amr, auth_time: authTime, iat, exp, aud, scope } = payload;
  if (!isNonEmptyString(sub) || !isNonEmptyString(sid) || !isNonEmptyString(jti)) throw new AccessTokenRejection('sub, sid or jti is not a string');
  // A list of audiences would let a token minted for several services be replayed here (ASVS 9.2.4).
  if (typeof aud !== 'string') throw new AccessTokenRejection('aud is not a single string');
  if (orgId !== null && !isNonEmptyString(orgId)) throw new AccessTokenRejection('orgId is neither a string nor null');
  if (!Array.isArray(amr) || amr.length === 0 || !amr.every(isNonEmptyString)) throw new AccessTokenRejection('amr is not a list of strings');
  if (scope !== undefined && typeof scope !== 'string') throw new AccessTokenRejection('scope is not a string');
  if (!isNumericDate(iat) || !isNumericDate(exp) || !isNumericDate(authTime)) throw new AccessTokenRejection('iat, exp or auth_time is not a NumericDate');
  if (iat > nowSeconds + CLOCK_LEEWAY_SECONDS) throw new AccessTokenRejection('iat is in the future');
  if (exp <= iat) throw new AccessTokenRejection('exp is not after iat');
  if (authTime > iat + CLOCK_LEEWAY_SECONDS) throw new AccessTokenRejection('auth_time is after iat');
  return {
    sub,
    sid,
    jti,
    orgId,
    amr: [...amr],
    scope,
    authTime: new Date(authTime * 1000),
    issuedAt: new Date(iat * 1000),
    expiresAt: new Date(exp * 1000),
  };
}

function checkTtl(ttl: number): number {
  // A misconfigured lifetime is our fault, not the caller's: fail loudly (500), never mint an odd token.
  if (!Number.isSafeInteger(ttl) || ttl <= 0) throw new Error(`access token TTL must be a positive integer of seconds, got ${ttl}`);
  return ttl;
}

function checkClaimsToSign(claims: AccessTokenClaims, nowSeconds: number): void {
  if (!isNonEmptyString(claims.sub) || !isNonEmptyString(claims.sid)) throw new Error('access token needs sub and sid');
  if (claims.orgId !== null && !isNonEmptyString(claims.orgId)) throw new Error('access token orgId must be a string or null');
  if (claims.amr.length === 0 || !claims.amr.every(isNonEmptyString)) throw new Error('access token needs at least one amr value');
  const authTime = seconds(claims.authTime);
  if (!isNumericDate(authTime) || authTime > nowSeconds) throw new Error('access token auth_time must be a past date');
}

/** Callers get their own copy: nothing they do to a result can change what a later hit returns. */
const copyOf = (claims: VerifiedAccessToken): VerifiedAccessToken => ({
  ...claims,
  amr: [...claims.amr],
  authTime: new Date(claims.authTime),
  issuedAt: new Date(claims.issuedAt),
  expiresAt: new Date(claims.expiresAt),
});

/** A bounded LRU of verified tokens (Map order is the recency order). */
function createVerifiedCache() {
  const entries = new Map<string, VerifiedAccessToken>();
  return {
    get(token: string, nowSeconds: number): VerifiedAccessToken | undefined {
      const claims = entries.get(token);
      if (!claims) return undefined;
      // The window where a fresh verification passes too: iat not beyond the leeway ahead of now
      // (a clock set back), and strictly before exp (stricter than the leeway jose grants after it).
      const iat = seconds(claims.issuedAt);
      if (nowSeconds < iat - CLOCK_LEEWAY_SECONDS || nowSeconds >= seconds(claims.expiresAt)) {
        entries.delete(token);
        return undefined;
      }
      entries.delete(token);
      entries.set(token, claims);
      return copyOf(claims);
    },
    set(token: string, claims: VerifiedAccessToken): void {
      if (entries.size >= VERIFIED_CACHE_MAX_ENTRIES) entries.delete(entries.keys().next().value!);
      entries.set(token, claims);
    },
  };
}

export function createAccessTokenService(deps: AccessTokenServiceDeps): AccessTokenService {
  const { keyring, issuer, audience, clock } = deps;
  const ttlSeconds = deps.ttlSeconds ?? (() => DEFAULT_ACCESS_TOKEN_TTL_SECONDS);
  // Derived now (and cached per keyring): a bad keyring stops the start instead of the first login.
  const keys = signingKeysFor(keyring);
  const verified = createVerifiedCache();

  return {
    async sign(claims) {
      const key = keys.current;
      const iat = seconds(clock.now());
      checkClaimsToSign(claims, iat);
      const expiresIn = checkTtl(ttlSeconds());
      const jti = newId();
      const payload: JWTPayload = { sid: claims.sid, orgId: claims.orgId, amr: [...claims.amr], auth_time: seconds(claims.authTime) };
      if (claims.scope !== undefined) payload.scope = claims.scope;
      const token = await new SignJWT(payload)
        .setProtectedHeader({ alg: JWT_ALG, typ: ACCESS_TOKEN_TYP, kid: key.kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(claims.sub)
        .setIssuedAt(iat)
        .setExpirationTime(iat + expiresIn)
        .setJti(jti)
        .sign(key.privateKey);
      return { token, expiresIn, jti };
    },

    async verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        throw invalidToken(new AccessTokenRejection('empty or oversized'));
      }
      const now = clock.now();
      const cached = verified.get(token, seconds(now));
      if (cached) return cached;
      let keyVersion = 0;
      try {
        const result = await jwtVerify(
          token,
          (header) => {
            const key = keys.byKid(checkHeader(header));
            if (!key) throw new AccessTokenRejection('kid is not a configured key version');
            keyVersion = key.version;
            return key.publicKey;
          },
          {
            algorithms: [JWT_ALG],
            typ: ACCESS_TOKEN_TYP,
            issuer,
            audience,
            requiredClaims: REQUIRED_CLAIMS,
            currentDate: now,
            clockTolerance: CLOCK_LEEWAY_SECONDS,
          },
        );
        const claims = { ...readClaims(result.payload, seconds(now)), keyVersion };
        verified.set(token, claims);
        return copyOf(claims);
      } catch (error) {
        throw invalidToken(toRejection(error));
      }
    },

    // A fresh array per call: callers (and serialisers) cannot alter the published set; the JWKs themselves are frozen.
    // Read per call: a version added by rotation joins the JWKS at once (keys.all follows the keyring).
    jwks: () => ({ keys: keys.all.map((key) => key.publicJwk) }),
  };
}
