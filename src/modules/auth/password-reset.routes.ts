import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { preHandlerAsyncHookHandler } from 'fastify';
import { Type } from 'typebox';
import { errorResponse } from '../../http/route-defaults.js';
import type { PasswordResetService } from './password-reset.service.js';
import { auditContextOf } from '../audit/audit.http.js';

const RequestBody = Type.Object(
  { email: Type.String({ minLength: 3, maxLength: 254, format: 'email', description: 'The address of the account.' }) },
  { additionalProperties: false },
);

const ConfirmBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 200, description: 'The token from the reset mail.' }),
    newPassword: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

const Accepted = Type.Object({ status: Type.Literal('accepted') }, { additionalProperties: false });

export interface PasswordResetRouteDeps {
  passwordReset: PasswordResetService;
  /** The authentication tier (http/rate-limit.ts authenticationThrottle): reset and login share one budget per address. */
  throttle: preHandlerAsyncHookHandler;
}

/** Forgotten-password reset: public, on the authentication tier (fails closed when the store is down). */
export const passwordResetRoutes: FastifyPluginAsyncTypebox<PasswordResetRouteDeps> = async (app, { passwordReset, throttle }) => {

  app.post(
    '/auth/password-reset',
    {
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: {
        tags: ['auth'],
        summary: 'Ask for a password-reset mail (the same 202 whether or not an account uses the address)',
        security: [],
        body: RequestBody,
        response: { 202: Accepted },
      },
    },
    async (request, reply) => {
      await passwordReset.request(request.body.email, auditContextOf(request));
      return reply.code(202).send({ status: 'accepted' });
    },
  );

  app.post(
    '/auth/password-reset/confirm',
    {
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: {
        tags: ['auth'],
        summary: 'Set a new password with the token from the reset mail (ends every login of the account)',
        security: [],
        body: ConfirmBody,
        response: {
          204: Type.Null(),
          400: errorResponse('`invalid_token`: the token is malformed, unknown, used or expired.'),
          422: errorResponse('Validation failed, or the password policy refused the new password (`code` names the rule, e.g. `password_too_short`).'),
        },
      },
    },
    async (request, reply) => {
      await passwordReset.confirm(request.body, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
};
