import { Secret, TOTP } from 'otpauth';

/**
 * RFC 6238 as authenticator apps implement it: HMAC-SHA-1, 6 digits, 30-second steps. ±1 step
 * tolerates a phone clock up to 30 s off and a code typed at the end of its step; the time is the
 * server's clock (ASVS 6.5.8), never one the client sends.
 */
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_WINDOW_STEPS = 1;
/** 160-bit seeds (RFC 4226 §4 recommends 160) from the CSPRNG (ASVS 6.5.3). */
const SECRET_BYTES = 20;
const ISSUER = 'ViolentUTF';

/** otpauth takes an ArrayBuffer: a copy of exactly the seed's bytes (a Buffer may be a view into a pool). */
const bufferOf = (bytes: Uint8Array): ArrayBuffer => Uint8Array.from(bytes).buffer;

const totpOf = (secret: Uint8Array, label = 'account') =>
  new TOTP({ issuer: ISSUER, label, algorithm: 'SHA1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS, secret: new Secret({ buffer: bufferOf(secret) }) });

/** A new random seed. */
export const newTotpSecret = (): Buffer => Buffer.from(new Secret({ size: SECRET_BYTES }).bytes);

export const base32Of = (secret: Uint8Array): string => new Secret({ buffer: bufferOf(secret) }).base32;

/** The `otpauth://totp/...` URI apps scan (the label is the account the app shows). */
export const totpUri = (secret: Uint8Array, label: string): string => totpOf(secret, label).toString();

/** The RFC 6238 time step of an instant. */
export const timeStepOf = (nowMs: number): number => Math.floor(nowMs / 1000 / TOTP_PERIOD_SECONDS);

/**
 * The time step the code belongs to, within ±1 step of now; undefined when it matches none. The
 * comparison inside otpauth is constant-time over the token.
 */
export function matchTotp(secret: Uint8Array, code: string, nowMs: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const delta = totpOf(secret).validate({ token: code, timestamp: nowMs, window: TOTP_WINDOW_STEPS });
  return delta === null ? undefined : timeStepOf(nowMs) + delta;
}

/** The code of a step (tests and the enrollment confirmation use the real generator). */
export const totpCodeAt = (secret: Uint8Array, nowMs: number): string => totpOf(secret).generate({ timestamp: nowMs });
