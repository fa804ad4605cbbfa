import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponse } from '../../http/route-defaults.js';
import { Page, PaginationQuery } from '../../http/pagination.js';
import { readPrecondition, setEtag } from '../../http/preconditions.js';
import { IdParams } from '../../http/schemas.js';
import type { WriteRunner } from '../../http/idempotency.js';
import { CreateOrgBody, OrgSchema, UpdateOrgBody } from './orgs.schemas.js';
import { toOrgView, type OrgsService } from './orgs.service.js';

const versionErrors = {
  409: errorResponse('The body `version` is stale, or the slug is taken.'),
  412: errorResponse('If-Match is stale.'),
  428: errorResponse('Neither If-Match nor `version` was sent.'),
};

export interface OrgsRouteDeps {
  orgs: OrgsService;
  runWrite: WriteRunner;
  /** Clears cached grants and profile of a user whose memberships changed (AccessService.invalidate). */
  membershipChanged: (userId: string) => Promise<void>;
}

/** Profiles show organisation names: after a rename or delete every member's cached profile goes. */
const forEachMember = async (orgs: OrgsService, orgId: string, changed: (userId: string) => Promise<void>) => {
  for (const userId of await orgs.memberIds(orgId)) await changed(userId);
};

export const orgsRoutes: FastifyPluginAsyncTypebox<OrgsRouteDeps> = async (app, { orgs, runWrite, membershipChanged }) => {
  app.get(
    '/orgs',
    {
      config: { access: { permission: 'orgs:read' } },
      schema: {
        tags: ['organisations'],
        summary: 'List the organisations you belong to',
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: { 200: Page(OrgSchema) },
      },
    },
    (request) => orgs.list(request.principal!, request.query),
  );

  app.post(
    '/orgs',
    {
      config: { access: { permission: 'orgs:create' }, audit: { action: 'org.created' } },
      schema: {
        tags: ['organisations'],
        summary: 'Create an organisation (you become its owner)',
        body: CreateOrgBody,
        response: { 201: OrgSchema, 409: errorResponse('Slug taken, or an Idempotency-Key conflict.') },
      },
    },
    async (request, reply) => {
      const created = await runWrite(request, reply, { status: 201 }, async (tx) => {
        const org = await orgs.create(tx, request.principal!, request.body);
        setEtag(reply, org.version);
        reply.header('location', `/api/v1/orgs/${org.id}`);
        return toOrgView(org);
      });
      // After the commit: the creator's new membership applies to their next request.
      if (request.principal?.userId) await membershipChanged(request.principal.userId);
      return created;
    },
  );

  app.get(
    '/orgs/:id',
    {
      config: { access: { permission: 'orgs:read' } },
      schema: { tags: ['organisations'], summary: 'Read an organisation', params: IdParams, response: { 200: OrgSchema } },
    },
    async (request, reply) => {
      const org = await orgs.get(request.principal!, request.params.id);
      setEtag(reply, org.version);
      return toOrgView(org);
    },
  );

  app.patch(
    '/orgs/:id',
    {
      config: { access: { permission: 'orgs:update' }, audit: { action: 'org.updated' } },
      schema: {
        tags: ['organisations'],
        summary: 'Rename an organisation (optimistic locking: If-Match or `version`)',
        params: IdParams,
        body: UpdateOrgBody,
        response: { 200: OrgSchema, ...versionErrors },
      },
    },
    async (request, reply) => {
      const view = await runWrite(request, reply, { status: 200 }, async (tx) => {
        const { version, ...changes } = request.body;
        const org = await orgs.update(tx, request.principal!, request.params.id, readPrecondition(request, version), changes);
        setEtag(reply, org.version);
        return toOrgView(org);
      });
      await forEachMember(orgs, request.params.id, membershipChanged);
      return view;
    },
  );

  app.delete(
    '/orgs/:id',
    {
      config: { access: { permission: 'orgs:delete' }, audit: { action: 'org.deleted' } },
      schema: {
        tags: ['organisations'],
        summary: 'Delete an organisation (soft delete; If-Match required)',
        params: IdParams,
        response: { 204: Type.Null(), 412: versionErrors[412], 428: versionErrors[428] },
      },
    },
    async (request, reply) => {
      await runWrite(request, reply, { status: 204 }, async (tx) => {
        await orgs.remove(tx, request.principal!, request.params.id, readPrecondition(request, undefined));
        return null;
      });
      await forEachMember(orgs, request.params.id, membershipChanged);
      return null;
    },
  );
};
