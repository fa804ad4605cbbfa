import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { WriteRunner } from '../../http/idempotency.js';
import { readPrecondition, setEtag } from '../../http/preconditions.js';
import { errorResponse } from '../../http/route-defaults.js';
import { NameString, Uuid } from '../../http/schemas.js';
import type { AuthService } from '../auth/auth.service.js';
import type { UsersService } from './users.service.js';
import { auditContextOf } from '../audit/audit.http.js';

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

/** Only the display name is editable here; anything else in the body (email, roles, status...) is a 422. */
const UpdateMeBody = Type.Object(
  {
    displayName: Type.Optional(NameString(200)),
    version: Type.Optional(Type.Integer({ minimum: 1, description: 'The version you read (the ETag), if not sent as If-Match.' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export interface UsersRouteDeps {
  users: UsersService;
  auth: AuthService;
  runWrite: WriteRunner;
  /** Drops the user's cached grants and profile (AccessService.invalidate), after the commit. */
  userChanged: (userId: string) => Promise<void>;
}

export const usersRoutes: FastifyPluginAsyncTypebox<UsersRouteDeps> = async (app, { users, auth, runWrite, userChanged }) => {
  app.get(
    '/users/me',
    {
      // Not audited as a sensitive read: it is self-service (the caller's own profile, no other
      // person's data), and it is the hot path every client calls on start and after every change.
      config: { access: { permission: 'self:read' } },
      schema: { tags: ['users'], summary: 'Your profile, organisations and roles', response: { 200: MeSchema } },
    },
    (request) => users.me(request.principal!),
  );

  app.patch(
    '/users/me',
    {
      config: { access: { permission: 'self:update' }, audit: { action: 'user.profile.updated' } },
      schema: {
        tags: ['users'],
        summary: 'Edit your profile (display name); optional optimistic locking with If-Match or `version`',
        body: UpdateMeBody,
        response: {
          200: MeSchema,
          409: errorResponse('The body `version` is stale.'),
          412: errorResponse('If-Match is stale.'),
        },
      },
    },
    async (request, reply) => {
      const profile = await runWrite(request, reply, { status: 200 }, async (tx) => {
        const { version, ...changes } = request.body;
        // Optional here: without If-Match or `version` the last write wins (it is the caller's own profile).
        const precondition = request.headers['if-match'] !== undefined || version !== undefined ? readPrecondition(request, version) : undefined;
        const updated = await users.updateMe(tx, request.principal!, precondition, changes);
        setEtag(reply, updated.version);
        return updated.profile;
      });
      await userChanged(request.principal!.userId!);
      return profile;
    },
  );

  app.post(
    '/users/me/password',
    {
      config: { access: { permission: 'self:password' }, audit: { recordedBy: 'service' } },
      schema: {
        tags: ['users'],
        summary: 'Change your password (ends every login, including this one)',
        body: ChangePasswordBody,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await auth.changePassword(request.principal!, request.body, auditContextOf(request));
      return reply.code(204).send(null);
    },
  );
};
