import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { preHandlerAsyncHookHandler } from 'fastify';
import { Type, type Static } from 'typebox';
import type { WriteRunner } from '../../http/idempotency.js';
import { errorResponse } from '../../http/route-defaults.js';
import { IdParams } from '../../http/schemas.js';
import { auditContextOf } from '../audit/audit.http.js';
import type { BrowserLogin } from '../sessions/browser-login.js';
import { CookieLoginSchema } from '../sessions/sessions.schemas.js';
import type { PasskeyLogin } from './passkeys-login.js';
import type { PasskeysService } from './passkeys.service.js';
import {
  AuthenticationCredentialSchema,
  AuthenticationOptionsSchema,
  MfaTokenBody,
  PasskeyListSchema,
  PasskeySchema,
  RegisteredPasskeySchema,
  RegisterPasskeyBody,
  RegistrationOptionsSchema,
  RenamePasskeyBody,
} from './passkeys.schemas.js';

export interface PasskeyRouteDeps {
  passkeys: PasskeysService;
  passkeyLogin: PasskeyLogin;
  runWrite: WriteRunner;
  /** The authentication tier per client address (fails closed), for the anonymous ceremonies. */
  throttle: preHandlerAsyncHookHandler;
  browserLogin: BrowserLogin;
  /** Drops a user's cached grants (whether they have a factor), after the commit. */
  userChanged: (userId: string) => Promise<void>;
}

const TokenPairSchema = Type.Object(
  { accessToken: Type.String(), refreshToken: Type.String(), tokenType: Type.Literal('Bearer'), expiresIn: Type.Integer() },
  { additionalProperties: false },
);
const PasswordlessBody = Type.Object(
  {
    credential: AuthenticationCredentialSchema,
    mode: Type.Optional(Type.Union([Type.Literal('token'), Type.Literal('cookie')], { description: '`token` (default) or `cookie` (a browser session), as for POST /auth/login.' })),
  },
  { additionalProperties: false },
);
const stepUpResponse = { 401: errorResponse('Not signed in, or the action needs a recent MFA sign-in (insufficient_user_authentication).') };
const unauthorized = { 401: errorResponse('The sign-in attempt was refused or has expired.') };

/**
 * Passkeys under /auth/mfa/passkeys (self-service, permission `self:mfa`; registering and removing
 * change factors: step-up), the second-factor options of a password login, and the passwordless
 * sign-in. The anonymous routes record their own events (the sign-in's outcome is known inside).
 */
export const passkeysRoutes: FastifyPluginAsyncTypebox<PasskeyRouteDeps> = async (app, deps) => {
  const { passkeys, passkeyLogin, runWrite, throttle, browserLogin, userChanged } = deps;

  app.get(
    '/auth/mfa/passkeys',
    {
      config: { access: { permission: 'self:mfa' } },
      schema: { tags: ['mfa'], summary: 'Your passkeys (never their keys)', response: { 200: PasskeyListSchema } },
    },
    (request) => passkeys.list(request.principal!),
  );

  app.post(
    '/auth/mfa/passkeys/options',
    {
      config: { access: { permission: 'self:mfa' }, audit: { action: 'passkey.registration-started', resource: 'caller' }, stepUp: true },
      schema: {
        tags: ['mfa'],
        summary: 'Start registering a passkey: options for navigator.credentials.create() (valid 3 minutes, once)',
        response: { 200: RegistrationOptionsSchema, ...stepUpResponse, 409: errorResponse('Already 10 passkeys.') },
      },
    },
    (request, reply) => runWrite(request, reply, { status: 200, carriesSecret: true }, (tx) => passkeys.registrationOptions(tx, request.principal!)),
  );

  app.post(
    '/auth/mfa/passkeys',
    {
      config: { access: { permission: 'self:mfa' }, audit: { action: 'passkey.registered' }, stepUp: true },
      schema: {
        tags: ['mfa'],
        summary: "Register a passkey with the browser's answer (a first factor also returns 10 backup codes, shown once)",
        body: RegisterPasskeyBody,
        response: { 201: RegisteredPasskeySchema, ...stepUpResponse, 409: errorResponse('Already registered, or 10 passkeys.'), 422: errorResponse('The passkey did not verify.') },
      },
    },
    async (request, reply) => {
      // The result's `id` names the event's resource; the serializer leaves it out of the body.
      const result = await runWrite(request, reply, { status: 201, carriesSecret: true }, (tx) =>
        passkeys.register(tx, request.principal!, request.body),
      );
      await userChanged(request.principal!.userId!);
      return result;
    },
  );

  app.patch(
    '/auth/mfa/passkeys/:id',
    {
      config: { access: { permission: 'self:mfa' }, audit: { action: 'passkey.renamed' } },
      schema: { tags: ['mfa'], summary: 'Rename one of your passkeys', params: IdParams, body: RenamePasskeyBody, response: { 200: PasskeySchema } },
    },
    async (request, reply) =>
      (await runWrite(request, reply, { status: 200 }, (tx) => passkeys.rename(tx, request.principal!, request.params.id, request.body.name))) as Static<typeof PasskeySchema>,
  );

  app.delete(
    '/auth/mfa/passkeys/:id',
    {
      config: { access: { permission: 'self:mfa' }, audit: { action: 'passkey.removed' }, stepUp: true },
      schema: {
        tags: ['mfa'],
        summary: 'Remove one of your passkeys (refused while it is your last factor and MFA is required)',
        params: IdParams,
        response: { 204: Type.Null(), ...stepUpResponse, 409: errorResponse('MFA is required and this is your last factor.') },
      },
    },
    async (request, reply) => {
      await runWrite(request, reply, { status: 204 }, async (tx) => {
        await passkeys.remove(tx, request.principal!, request.params.id);
        return null;
      });
      await userChanged(request.principal!.userId!);
      return null;
    },
  );

  app.post(
    '/auth/mfa/passkey/options',
    {
      // Issues a challenge only: the answer's outcome is recorded by POST /auth/mfa/verify.
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: {
        tags: ['auth'],
        summary: "Second step with a passkey: options for navigator.credentials.get(); send the answer's JSON as `code` with method `passkey` to POST /auth/mfa/verify",
        security: [],
        body: MfaTokenBody,
        response: { 200: AuthenticationOptionsSchema, ...unauthorized },
      },
    },
    (request) => passkeyLogin.secondFactorOptions(request.body.mfaToken),
  );

  app.post(
    '/auth/passkey/options',
    {
      // Issues an anonymous challenge only: the sign-in's outcome is recorded by POST /auth/passkey/verify.
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: { tags: ['auth'], summary: 'Passwordless sign-in: options for navigator.credentials.get() (discoverable passkeys)', security: [], response: { 200: AuthenticationOptionsSchema } },
    },
    () => passkeyLogin.passwordlessOptions(),
  );

  app.post(
    '/auth/passkey/verify',
    {
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: {
        tags: ['auth'],
        summary: 'Passwordless sign-in: the assertion signs in its account (amr hwk user mfa), with tokens or a browser session',
        security: [],
        body: PasswordlessBody,
        response: { 200: Type.Union([TokenPairSchema, CookieLoginSchema]), ...unauthorized },
      },
    },
    async (request, reply) => {
      const tokens = await passkeyLogin.passwordlessVerify(request.body.credential, auditContextOf(request));
      return request.body.mode === 'cookie' ? browserLogin.startBrowserSession(request, reply, tokens) : tokens;
    },
  );
};
