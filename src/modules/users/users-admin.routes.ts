import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { WriteRunner } from '../../http/idempotency.js';
import { Page, PaginationQuery } from '../../http/pagination.js';
import { readPrecondition, setEtag } from '../../http/preconditions.js';
import { errorResponse } from '../../http/route-defaults.js';
import { IdParams } from '../../http/schemas.js';
import { UserDetailSchema, UserSummarySchema } from './users-admin.schemas.js';
import type { UsersAdminService } from './users-admin.service.js';

const PERMISSION = 'platform:users:manage';
const refusals = errorResponse(
  'Refused: your own account (`cannot_disable_self`, `cannot_delete_self`), the last active super-admin (`last_super_admin`), the last owner of an organisation (`last_owner`), or an Idempotency-Key conflict.',
);

/** Platform user administration: super-admins only. Organisation admins manage memberships instead. */
export const usersAdminRoutes: FastifyPluginAsyncTypebox<{ usersAdmin: UsersAdminService; runWrite: WriteRunner }> = async (app, { usersAdmin, runWrite }) => {
  app.get(
    '/users',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'user.list' } },
      schema: {
        tags: ['users'],
        summary: 'List every user account (platform administrators)',
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: { 200: Page(UserSummarySchema) },
      },
    },
    (request) => usersAdmin.list(request.query),
  );

  app.get(
    '/users/:id',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'user.read' } },
      schema: { tags: ['users'], summary: 'Read a user account with its organisations and roles', params: IdParams, response: { 200: UserDetailSchema } },
    },
    async (request, reply) => {
      const user = await usersAdmin.get(request.params.id);
      setEtag(reply, user.version);
      return user;
    },
  );

  app.post(
    '/users/:id/disable',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'user.disabled' } },
      schema: {
        tags: ['users'],
        summary: 'Disable an account: its tokens, sessions and API keys stop working on their next request',
        params: IdParams,
        response: { 200: UserDetailSchema, 409: refusals },
      },
    },
    async (request, reply) => {
      const user = await runWrite(request, reply, { status: 200 }, async (tx) => {
        const updated = await usersAdmin.disable(tx, request.principal!, request.params.id);
        setEtag(reply, updated.version);
        return updated;
      });
      await usersAdmin.settle(request.params.id, { endSessions: true });
      return user;
    },
  );

  app.post(
    '/users/:id/enable',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'user.enabled' } },
      schema: {
        tags: ['users'],
        summary: 'Enable a disabled or locked account (it signs in again with its password)',
        params: IdParams,
        response: { 200: UserDetailSchema, 409: errorResponse('An Idempotency-Key conflict.') },
      },
    },
    async (request, reply) => {
      const user = await runWrite(request, reply, { status: 200 }, async (tx) => {
        const updated = await usersAdmin.enable(tx, request.principal!, request.params.id);
        setEtag(reply, updated.version);
        return updated;
      });
      await usersAdmin.settle(request.params.id, { endSessions: false });
      return user;
    },
  );

  app.delete(
    '/users/:id',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'user.deleted' } },
      schema: {
        tags: ['users'],
        summary: 'Delete an account (soft delete with its memberships; If-Match required)',
        params: IdParams,
        response: {
          204: Type.Null(),
          409: refusals,
          412: errorResponse('If-Match is stale.'),
          428: errorResponse('If-Match is missing.'),
        },
      },
    },
    async (request, reply) => {
      await runWrite(request, reply, { status: 204 }, async (tx) => {
        await usersAdmin.remove(tx, request.principal!, request.params.id, readPrecondition(request, undefined));
        return null;
      });
      await usersAdmin.settle(request.params.id, { endSessions: true });
      return null;
    },
  );
};
