import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { preHandlerAsyncHookHandler } from 'fastify';
import { Type } from 'typebox';
import { errorResponse } from '../../http/route-defaults.js';
import type { AuthService } from './auth.service.js';
import { auditContextOf } from '../audit/audit.http.js';
import type { BrowserLogin } from '../sessions/browser-login.js';
import { CookieLoginSchema } from '../sessions/sessions.schemas.js';

/** `cookie`: a browser session (HttpOnly cookie + CSRF token) instead of tokens (issue 8 §6; sessions module). */
const DeliveryMode = Type.Optional(
  Type.Union([Type.Literal('token'), Type.Literal('cookie')], { description: '`token` (default): access and refresh tokens; `cookie`: a browser session cookie and a CSRF token.' }),
);

const TokenPairSchema = Type.Object(
  {
    accessToken: Type.String(),
    refreshToken: Type.String(),
    tokenType: Type.Literal('Bearer'),
    expiresIn: Type.Integer({ description: 'Seconds until the access token expires.' }),
  },
  { additionalProperties: false },
);

const LoginBody = Type.Object(
  { email: Type.String({ minLength: 3, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 1024 }), mode: DeliveryMode },
  { additionalProperties: false },
);

/** The login's answer when a second factor is needed (DESIGN §6). */
const MfaChallengeSchema = Type.Object(
  {
    mfaRequired: Type.Literal(true),
    mfaToken: Type.String({ description: 'Opaque, single-use, valid 5 minutes; send it to POST /auth/mfa/verify.' }),
    methods: Type.Array(Type.String({ maxLength: 40 }), { maxItems: 10, description: 'Methods that can answer it (e.g. totp, backup-code).' }),
  },
  { additionalProperties: false },
);

const MfaVerifyBody = Type.Object(
  {
    mfaToken: Type.String({ minLength: 1, maxLength: 200 }),
    method: Type.String({ minLength: 1, maxLength: 40, pattern: '^[a-z][a-z0-9-]*$' }),
    code: Type.String({ minLength: 1, maxLength: 4096, description: 'The one-time code or backup code (a passkey assertion, later).' }),
    mode: DeliveryMode,
  },
  { additionalProperties: false },
);

const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

export interface AuthRouteDeps {
  auth: AuthService;
  /** The authentication tier per client address (http/rate-limit.ts authenticationThrottle); fails closed. */
  throttle: preHandlerAsyncHookHandler;
  /** `mode: "cookie"` delivery of a completed sign-in (sessions/browser-login.ts). */
  browserLogin: BrowserLogin;
}

export const authRoutes: FastifyPluginAsyncTypebox<AuthRouteDeps> = async (app, { auth, throttle, browserLogin }) => {
  const unauthorized = { 401: errorResponse('Not signed in, or the credentials were refused.') };

  app.post(
    '/auth/login',
    {
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password (with MFA enabled: a challenge for POST /auth/mfa/verify)',
        security: [],
        body: LoginBody,
        response: { 200: Type.Union([TokenPairSchema, MfaChallengeSchema, CookieLoginSchema]), ...unauthorized },
      },
    },
    async (request, reply) => {
      const result = await auth.login(request.body, auditContextOf(request));
      return request.body.mode === 'cookie' && 'accessToken' in result ? browserLogin.startBrowserSession(request, reply, result) : result;
    },
  );

  app.post(
    '/auth/mfa/verify',
    {
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: {
        tags: ['auth'],
        summary: 'Complete a sign-in with a second factor (5 wrong answers kill the challenge; wrong answers count toward lockout)',
        security: [],
        body: MfaVerifyBody,
        response: { 200: Type.Union([TokenPairSchema, CookieLoginSchema]), ...unauthorized },
      },
    },
    async (request, reply) => {
      const tokens = await auth.verifyMfa(request.body, auditContextOf(request));
      return request.body.mode === 'cookie' ? browserLogin.startBrowserSession(request, reply, tokens) : tokens;
    },
  );

  app.post(
    '/auth/refresh',
    {
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for new tokens (the old one dies; reusing it ends the login)',
        security: [],
        body: RefreshBody,
        response: { 200: TokenPairSchema, ...unauthorized },
      },
    },
    (request) => auth.refresh(request.body.refreshToken, auditContextOf(request)),
  );

  app.post(
    '/auth/logout',
    {
      config: { access: { permission: 'self:read' }, audit: { recordedBy: 'service' } },
      schema: { tags: ['auth'], summary: 'End this login (its refresh tokens die)', response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      await auth.logout(request.principal!, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/auth/logout-all',
    {
      config: { access: { permission: 'self:read' }, audit: { recordedBy: 'service' } },
      schema: { tags: ['auth'], summary: 'End every login of this user', response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      await auth.logoutAll(request.principal!, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
};
