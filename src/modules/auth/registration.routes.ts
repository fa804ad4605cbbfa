import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { errorResponse } from '../../http/route-defaults.js';
import { NameString, Uuid } from '../../http/schemas.js';
import { EmailAddress, MailedToken, NewPassword } from '../invitations/invitations.schemas.js';
import type { RegistrationService } from './registration.service.js';
import { auditContextOf } from '../audit/audit.http.js';

/** Exactly these fields: no role, organisation or status can ride along (ASVS 15.3.3). */
const RegisterBody = Type.Object({ email: EmailAddress(), displayName: NameString(200), password: NewPassword() }, { additionalProperties: false });

const ConfirmBody = Type.Object({ token: MailedToken() }, { additionalProperties: false });

export interface RegistrationRouteDeps {
  registration: RegistrationService;
  /** The authentication tier (per address, fails closed): both routes take a secret. */
  throttle: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

export const registrationRoutes: FastifyPluginAsyncTypebox<RegistrationRouteDeps> = async (app, { registration, throttle }) => {
  app.post(
    '/auth/register',
    {
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: {
        tags: ['auth'],
        summary: 'Register an account (when the policy allows it); a confirmation mail is sent either way',
        security: [],
        body: RegisterBody,
        response: {
          202: Type.Object({ status: Type.Literal('confirmation-sent') }, { additionalProperties: false }),
          403: errorResponse('Self-registration is turned off (`registration_disabled`).'),
        },
      },
    },
    async (request, reply) => reply.code(202).send(await registration.register(request.body, auditContextOf(request))),
  );

  app.post(
    '/auth/register/confirm',
    {
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: {
        tags: ['auth'],
        summary: 'Confirm a registration with the mailed token (creates the account, with no organisation)',
        security: [],
        body: ConfirmBody,
        response: {
          201: Type.Object({ userId: Uuid() }, { additionalProperties: false }),
          403: errorResponse('Self-registration is turned off (`registration_disabled`).'),
          409: errorResponse('The email got an account meanwhile (`email_taken`).'),
        },
      },
    },
    async (request, reply) => reply.code(201).send(await registration.confirm(request.body.token, auditContextOf(request))),
  );
};
