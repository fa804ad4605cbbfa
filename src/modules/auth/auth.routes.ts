import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { preHandlerAsyncHookHandler } from 'fastify';
import { Type } from 'typebox';
import { errorResponse } from '../../http/route-defaults.js';
import type { AuthService } from './auth.service.js';
import { auditContextOf } from '../audit/audit.http.js';

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
  { email: Type.String({ minLength: 3, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);

const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

export interface AuthRouteDeps {
  auth: AuthService;
  /** The authentication tier per client address (http/rate-limit.ts authenticationThrottle); fails closed. */
  throttle: preHandlerAsyncHookHandler;
}

export const authRoutes: FastifyPluginAsyncTypebox<AuthRouteDeps> = async (app, { auth, throttle }) => {
  const unauthorized = { 401: errorResponse('Not signed in, or the credentials were refused.') };

  app.post(
    '/auth/login',
    {
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password',
        security: [],
        body: LoginBody,
        response: { 200: TokenPairSchema, ...unauthorized },
      },
    },
    (request) => auth.login(request.body, auditContextOf(request)),
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
