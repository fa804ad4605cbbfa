import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Uuid } from '../../http/schemas.js';
import type { AuthService } from '../auth/auth.service.js';
import type { UsersService } from './users.service.js';

const MeSchema = Type.Object(
  {
    id: Uuid(),
    email: Type.String(),
    displayName: Type.String(),
    platformRole: Type.Union([Type.Literal('super-admin'), Type.Literal('auditor'), Type.Null()]),
    mustChangePassword: Type.Boolean(),
    organisations: Type.Array(
      Type.Object({ id: Uuid(), name: Type.String(), slug: Type.String(), role: Type.String() }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

const ChangePasswordBody = Type.Object(
  { currentPassword: Type.String({ minLength: 1, maxLength: 1024 }), newPassword: Type.String({ minLength: 1, maxLength: 4096 }) },
  { additionalProperties: false },
);

export const usersRoutes: FastifyPluginAsyncTypebox<{ users: UsersService; auth: AuthService }> = async (app, { users, auth }) => {
  app.get(
    '/users/me',
    {
      config: { access: { permission: 'self:read' } },
      schema: { tags: ['users'], summary: 'Your profile, organisations and roles', response: { 200: MeSchema } },
    },
    (request) => users.me(request.principal!),
  );

  app.post(
    '/users/me/password',
    {
      config: { access: { permission: 'self:password' } },
      schema: {
        tags: ['users'],
        summary: 'Change your password (ends every login, including this one)',
        body: ChangePasswordBody,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await auth.changePassword(request.principal!, request.body);
      return reply.code(204).send(null);
    },
  );
};
