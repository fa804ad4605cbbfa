import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { bearer, freshIp, json } from '../setup/identity-factory.js';
import type { TestApp } from '../setup/test-app.js';

/**
 * Helpers of the MFA security tests (issue 8). Codes come from `oathtool` (RFC 6238 reference
 * implementation, Debian's oath-toolkit), never from the code under test: an independent oracle.
 */

export type ManualClock = ReturnType<typeof createManualClock>;
type Response = Awaited<ReturnType<TestApp['app']['inject']>>;

export const STEP_MS = 30_000;

/** The 6-digit TOTP of a base32 seed at an instant, computed by oathtool. */
export function oathCode(base32: string, atMs: number): string {
  return execFileSync('oathtool', ['--totp', '-b', base32, '-N', `@${Math.floor(atMs / 1000)}`], { encoding: 'utf8' }).trim();
}

/** A clock at a step boundary + 1 s (so "the previous step" and "the next step" are clean). */
export function stepAlignedClock(): ManualClock {
  const now = Date.now();
  return createManualClock(new Date(now - (now % STEP_MS) + 1000));
}

export const post = (t: TestApp, url: string, payload: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url, headers: { ...json, ...headers }, payload: payload as Record<string, unknown>, remoteAddress: freshIp() });

export const passwordStep = (t: TestApp, email: string, password: string) => post(t, '/api/v1/auth/login', { email, password });

export const verify = (t: TestApp, mfaToken: string, method: string, code: string) => post(t, '/api/v1/auth/mfa/verify', { mfaToken, method, code });

/** The password step of a user with MFA: the challenge. */
export async function challenge(t: TestApp, email: string, password: string): Promise<{ mfaToken: string; methods: string[] }> {
  const response = await passwordStep(t, email, password);
  expect(response.statusCode, response.body).toBe(200);
  const body = response.json<{ mfaRequired: boolean; mfaToken: string; methods: string[] }>();
  expect(body.mfaRequired).toBe(true);
  return body;
}

/** Enrolls and confirms TOTP for a signed-in user; returns the seed and the backup codes. */
export async function enrollTotp(t: TestApp, clock: ManualClock, accessToken: string): Promise<{ secret: string; backupCodes: string[] }> {
  const started = await post(t, '/api/v1/auth/mfa/totp', {}, bearer(accessToken));
  expect(started.statusCode, started.body).toBe(201);
  const { secret } = started.json<{ secret: string }>();
  const confirmed = await post(t, '/api/v1/auth/mfa/totp/confirm', { code: oathCode(secret, clock.nowMs()) }, bearer(accessToken));
  expect(confirmed.statusCode, confirmed.body).toBe(200);
  // The confirming code's step is used: later codes must come from a later step.
  clock.advance(STEP_MS);
  return { secret, backupCodes: confirmed.json<{ backupCodes: string[] }>().backupCodes };
}

/** Password + TOTP sign-in; returns the token pair. */
export async function mfaLogin(t: TestApp, clock: ManualClock, email: string, password: string, secret: string) {
  const { mfaToken } = await challenge(t, email, password);
  const response = await verify(t, mfaToken, 'totp', oathCode(secret, clock.nowMs()));
  expect(response.statusCode, response.body).toBe(200);
  clock.advance(STEP_MS);
  return response.json<{ accessToken: string; refreshToken: string }>();
}

/** The (unverified) payload of a JWT, to read amr and auth_time. */
export const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

export const codeOf = (response: Response) => response.json<{ code?: string }>().code;
