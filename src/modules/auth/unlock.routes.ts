import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { WriteRunner } from '../../http/idempotency.js';
import { errorResponse } from '../../http/route-defaults.js';
import { IdParams } from '../../http/schemas.js';
import { ORG_UNLOCK_PERMISSION, PLATFORM_UNLOCK_PERMISSION, type UnlockService } from './unlock.service.js';
import { auditContextOf } from '../audit/audit.http.js';

/**
 * Administrator unlock: platform administrators (`platform:users:manage`) for any account,
 * organisation owners and admins (`members:manage`) for members of their active organisation.
 */
export const unlockRoutes: FastifyPluginAsyncTypebox<{ unlock: UnlockService; runWrite: WriteRunner }> = async (app, { unlock, runWrite }) => {
  app.post(
    '/users/:id/unlock',
    {
      config: { access: { permission: [PLATFORM_UNLOCK_PERMISSION, ORG_UNLOCK_PERMISSION] }, audit: { action: 'user.unlocked' } },
      schema: {
        tags: ['users'],
        summary: 'Lift the login lockout of an account (platform admins: any; organisation admins: members of their organisation)',
        params: IdParams,
        response: { 204: Type.Null(), 409: errorResponse('An Idempotency-Key conflict.') },
      },
    },
    async (request, reply) => {
      await runWrite(request, reply, { status: 204 }, async (tx) => {
        await unlock.unlockByAdmin(tx, request.principal!, request.params.id, auditContextOf(request));
        return null;
      });
      return null;
    },
  );
};
