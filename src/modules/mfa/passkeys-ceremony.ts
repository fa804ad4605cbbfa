import { generateAuthenticationOptions, verifyAuthenticationResponse, type AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { Static } from 'typebox';
import type { Tx } from '../../platform/db/transaction.js';
import { newId } from '../../platform/ids.js';
import type { ChallengeBinding, PasskeyRow, PasskeysRepo } from './passkeys.repo.js';
import type { AuthenticationOptionsSchema } from './passkeys.schemas.js';

/** A ceremony lives 3 minutes: the browser's prompt times out first (the options say 2). */
export const CEREMONY_TTL_SECONDS = 180;
export const CEREMONY_TIMEOUT_MS = 120_000;

/** The relying party, from PUBLIC_URL: its host name is the RP id, its origin the only accepted one. */
export interface RelyingParty {
  id: string;
  origin: string;
  name: string;
}

export const relyingPartyOf = (publicUrl: string): RelyingParty => {
  const url = new URL(publicUrl);
  return { id: url.hostname, origin: url.origin, name: 'ViolentUTF' };
};

/** The user handle of a passkey: the account id's 16 bytes (no email or name ever reaches the authenticator). */
export const userHandleOf = (userId: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));

/**
 * The challenge a response answers, read from its clientDataJSON so that it can be used (deleted)
 * before the signature is checked: a failed attempt uses up its challenge too.
 */
export function challengeOf(clientDataJSON: string): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof parsed.challenge === 'string' && parsed.challenge.length <= 200 ? parsed.challenge : undefined;
  } catch {
    return undefined;
  }
}

export type AssertionOutcome = { ok: true; passkey: PasskeyRow } | { ok: false; reason: 'challenge' | 'unknown-credential' | 'signature' };

/**
 * The shared part of both kinds of sign-in: stores a fresh challenge for a binding, and checks an
 * assertion against the challenge of its binding (used once, whatever the outcome), the RP id, the
 * origin and user verification (required: a passkey is then a multi-factor authenticator).
 */
export function createCeremonies(deps: { repo: PasskeysRepo; rp: RelyingParty }) {
  const { repo, rp } = deps;
  return {
    async authenticationOptions(tx: Tx, binding: ChallengeBinding, allow: readonly PasskeyRow[], now: Date): Promise<Static<typeof AuthenticationOptionsSchema>> {
      const options = await generateAuthenticationOptions({
        rpID: rp.id,
        userVerification: 'required',
        timeout: CEREMONY_TIMEOUT_MS,
        allowCredentials: allow.map((passkey) => ({ id: passkey.credentialId, transports: passkey.transports })),
      });
      await repo.insertChallenge(tx, { id: newId(), challenge: options.challenge, binding, now, expiresAt: new Date(now.getTime() + CEREMONY_TTL_SECONDS * 1000) });
      // The library types descriptors' `type` as any string; it is always 'public-key'.
      return options as Static<typeof AuthenticationOptionsSchema>;
    },

    /** `owner`: the account the assertion must belong to (second factor); undefined: whoever owns the credential. */
    async checkAssertion(tx: Tx, response: AuthenticationResponseJSON, binding: ChallengeBinding, owner: string | undefined, now: Date): Promise<AssertionOutcome> {
      const challenge = challengeOf(response.response.clientDataJSON);
      if (!challenge || !(await repo.consumeChallenge(tx, challenge, binding, now))) return { ok: false, reason: 'challenge' };
      const passkey = await repo.findByCredentialId(tx, response.id);
      if (!passkey || (owner !== undefined && passkey.userId !== owner)) return { ok: false, reason: 'unknown-credential' };
      // A discoverable credential answers with the handle it was registered with: it must be the owner's.
      const handle = response.response.userHandle;
      if (handle !== undefined && handle !== Buffer.from(userHandleOf(passkey.userId)).toString('base64url')) return { ok: false, reason: 'unknown-credential' };
      try {
        const result = await verifyAuthenticationResponse({
          response,
          expectedChallenge: challenge,
          expectedOrigin: rp.origin,
          expectedRPID: rp.id,
          requireUserVerification: true,
          credential: { id: passkey.credentialId, publicKey: new Uint8Array(passkey.publicKey), counter: passkey.counter, transports: passkey.transports },
        });
        if (!result.verified || !result.authenticationInfo.userVerified) return { ok: false, reason: 'signature' };
        await repo.recordUse(tx, passkey.id, result.authenticationInfo.newCounter, now);
        return { ok: true, passkey };
      } catch {
        // Wrong origin, RP id, flags, counter or signature: the library says which, the caller only "no".
        return { ok: false, reason: 'signature' };
      }
    },
  };
}

export type Ceremonies = ReturnType<typeof createCeremonies>;
