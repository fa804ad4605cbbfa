import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { WriteRunner } from '../../http/idempotency.js';
import { Page, PaginationQuery } from '../../http/pagination.js';
import { errorResponse } from '../../http/route-defaults.js';
import { IdParams } from '../../http/schemas.js';
import { MemberParams, MemberSchema, UpdateMemberBody } from './members.schemas.js';
import type { MembersService } from './members.service.js';

export interface MembersRouteDeps {
  members: MembersService;
  runWrite: WriteRunner;
  /** Clears cached grants of the member (AccessService.invalidate): the change applies to their next request. */
  membershipChanged: (userId: string) => Promise<void>;
}

const lastOwner = errorResponse('The organisation would have no owner left (`last_owner`), or an Idempotency-Key conflict.');

/**
 * Members of the caller's active organisation. Members join through invitations (not here); the
 * organisation in the path must be the active one (X-Organization-Id selects another of yours).
 */
export const membersRoutes: FastifyPluginAsyncTypebox<MembersRouteDeps> = async (app, { members, runWrite, membershipChanged }) => {
  app.get(
    '/orgs/:id/members',
    {
      config: { access: { permission: 'members:read' }, audit: { action: 'member.list', orgParam: 'id' } },
      schema: {
        tags: ['organisations'],
        summary: 'List the members of an organisation and their roles',
        params: IdParams,
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: { 200: Page(MemberSchema) },
      },
    },
    (request) => members.list(request.principal!, request.params.id, request.query),
  );

  app.patch(
    '/orgs/:id/members/:userId',
    {
      config: { access: { permission: 'members:manage' }, audit: { action: 'user.role.changed', orgParam: 'id', resourceParam: 'userId' }, stepUp: true },
      schema: {
        tags: ['organisations'],
        summary: 'Change a member’s role (only to and from roles you may grant)',
        params: MemberParams,
        body: UpdateMemberBody,
        response: { 200: MemberSchema, 409: lastOwner },
      },
    },
    async (request, reply) => {
      const member = await runWrite(request, reply, { status: 200 }, (tx) =>
        members.changeRole(tx, request.principal!, request.params.id, request.params.userId, request.body.role),
      );
      await membershipChanged(request.params.userId);
      return member;
    },
  );

  // The raw-content grant (issue 6 §4) is a sub-resource of the membership: PUT gives it, DELETE takes it
  // away, so each direction is its own audited action. members:manage admits owners and admins; the
  // service lets owners only through. Either way the member's cached grants are dropped at once.
  const rawContentGranting = errorResponse('Not an owner of this organisation, your own membership, or an API key (`raw_content_not_grantable`, `own_raw_content_grant`).');
  app.put(
    '/orgs/:id/members/:userId/raw-content',
    {
      config: { access: { permission: 'members:manage' }, audit: { action: 'member.raw-content.granted', orgParam: 'id', resourceParam: 'userId' }, stepUp: true },
      schema: {
        tags: ['organisations'],
        summary: 'Give a member the raw-content grant (reading raw prompts, responses and evidence); owners only, never to themselves',
        params: MemberParams,
        response: { 200: MemberSchema, 403: rawContentGranting },
      },
    },
    async (request, reply) => {
      const member = await runWrite(request, reply, { status: 200 }, (tx) => members.setRawContent(tx, request.principal!, request.params.id, request.params.userId, true));
      await membershipChanged(request.params.userId);
      return member;
    },
  );

  app.delete(
    '/orgs/:id/members/:userId/raw-content',
    {
      config: { access: { permission: 'members:manage' }, audit: { action: 'member.raw-content.revoked', orgParam: 'id', resourceParam: 'userId' }, stepUp: true },
      schema: {
        tags: ['organisations'],
        summary: 'Take the raw-content grant away from a member; owners only',
        params: MemberParams,
        response: { 204: Type.Null(), 403: rawContentGranting },
      },
    },
    async (request, reply) => {
      await runWrite(request, reply, { status: 204 }, async (tx) => {
        await members.setRawContent(tx, request.principal!, request.params.id, request.params.userId, false);
        return null;
      });
      await membershipChanged(request.params.userId);
      return null;
    },
  );

  app.delete(
    '/orgs/:id/members/:userId',
    {
      // Every member holds members:read, so anyone can leave; removing someone else needs
      // members:manage, which the service checks.
      config: { access: { permission: 'members:read' }, audit: { action: 'member.removed', orgParam: 'id', resourceParam: 'userId' } },
      schema: {
        tags: ['organisations'],
        summary: 'Remove a member, or leave the organisation (your own user id)',
        params: MemberParams,
        response: { 204: Type.Null(), 409: lastOwner },
      },
    },
    async (request, reply) => {
      await runWrite(request, reply, { status: 204 }, async (tx) => {
        await members.remove(tx, request.principal!, request.params.id, request.params.userId);
        return null;
      });
      await membershipChanged(request.params.userId);
      return null;
    },
  );
};
