import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { WriteRunner } from '../../http/idempotency.js';
import { Page, PaginationQuery } from '../../http/pagination.js';
import { errorResponse } from '../../http/route-defaults.js';
import { IdParams } from '../../http/schemas.js';
import { AcceptInvitationBody, AcceptedInvitationSchema, CreateInvitationBody, InvitationParams, InvitationSchema } from './invitations.schemas.js';
import type { InvitationsService } from './invitations.service.js';
import { auditContextOf } from '../audit/audit.http.js';

export interface InvitationsRouteDeps {
  invitations: InvitationsService;
  runWrite: WriteRunner;
  /** The authentication tier (per address, fails closed): accepting takes a token, like a login. */
  throttle: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** Clears cached grants of a user who joined (AccessService.invalidate). */
  membershipChanged: (userId: string) => Promise<void>;
}

export const invitationsRoutes: FastifyPluginAsyncTypebox<InvitationsRouteDeps> = async (app, { invitations, runWrite, throttle, membershipChanged }) => {
  app.post(
    '/orgs/:id/invitations',
    {
      config: { access: { permission: 'members:invite' }, audit: { action: 'invitation.created', orgParam: 'id' } },
      schema: {
        tags: ['organisations'],
        summary: 'Invite someone by email into your active organisation (the token goes only to their mailbox)',
        params: IdParams,
        body: CreateInvitationBody,
        response: { 201: InvitationSchema, 409: errorResponse('Already a member (`already_member`), or an Idempotency-Key conflict.') },
      },
    },
    (request, reply) => runWrite(request, reply, { status: 201 }, (tx) => invitations.invite(tx, request.principal!, request.params.id, request.body)),
  );

  app.get(
    '/orgs/:id/invitations',
    {
      config: { access: { permission: 'members:invite' }, audit: { action: 'invitation.list', orgParam: 'id' } },
      schema: {
        tags: ['organisations'],
        summary: 'List the invitations of your active organisation, newest first',
        params: IdParams,
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: { 200: Page(InvitationSchema) },
      },
    },
    (request) => invitations.list(request.principal!, request.params.id, request.query),
  );

  app.delete(
    '/orgs/:id/invitations/:invitationId',
    {
      config: { access: { permission: 'members:invite' }, audit: { action: 'invitation.revoked', orgParam: 'id', resourceParam: 'invitationId' } },
      schema: {
        tags: ['organisations'],
        summary: 'Revoke a pending invitation',
        params: InvitationParams,
        response: { 204: Type.Null(), 409: errorResponse('Idempotency-Key conflict.') },
      },
    },
    async (request, reply) => {
      await runWrite(request, reply, { status: 204 }, async (tx) => {
        await invitations.revoke(tx, request.principal!, request.params.id, request.params.invitationId);
        return null;
      });
      return null;
    },
  );

  app.post(
    '/invitations/accept',
    {
      config: { access: { public: true }, audit: { recordedBy: 'service' } },
      preHandler: throttle,
      schema: {
        tags: ['organisations'],
        summary: 'Accept an invitation with the mailed token (creates the account when none uses the email)',
        security: [],
        body: AcceptInvitationBody,
        response: {
          201: AcceptedInvitationSchema,
          409: errorResponse('Already a member (`already_member`; the invitation is used), or the account is disabled (`account_disabled`).'),
        },
      },
    },
    async (request, reply) => {
      const accepted = await invitations.accept(request.body, auditContextOf(request));
      await membershipChanged(accepted.userId);
      return reply.code(201).send(accepted);
    },
  );
};
