import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponse } from '../../http/route-defaults.js';
import { Page, PaginationQuery } from '../../http/pagination.js';
import { IdParams } from '../../http/schemas.js';
import type { WriteRunner } from '../../http/idempotency.js';
import { ApiKeySchema, CreateApiKeyBody, NewApiKeySchema } from './api-keys.schemas.js';
import type { ApiKeysService } from './api-keys.service.js';

export const apiKeysRoutes: FastifyPluginAsyncTypebox<{ apiKeys: ApiKeysService; runWrite: WriteRunner }> = async (app, { apiKeys, runWrite }) => {
  app.get(
    '/api-keys',
    {
      // Key metadata (names, scopes, owners, last use) is secrets metadata: reading it is audited.
      config: { access: { permission: 'api-keys:read' }, audit: { action: 'api-key.list' } },
      schema: {
        tags: ['api-keys'],
        summary: "List the organisation's API keys (never their secrets)",
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: { 200: Page(ApiKeySchema) },
      },
    },
    (request) => apiKeys.list(request.principal!, request.query),
  );

  app.post(
    '/api-keys',
    {
      config: { access: { permission: 'api-keys:create' }, audit: { action: 'api-key.created' }, stepUp: true },
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key (the key is in this response only)',
        description: 'An Idempotency-Key replay answers 409: a response carrying a secret is never stored.',
        body: CreateApiKeyBody,
        response: { 201: NewApiKeySchema, 409: errorResponse('An Idempotency-Key replay or conflict (the key is never returned twice).') },
      },
    },
    (request, reply) =>
      runWrite(request, reply, { status: 201, carriesSecret: true }, async (tx) => {
        const key = await apiKeys.create(tx, request.principal!, request.body);
        reply.header('location', `/api/v1/api-keys/${key.id}`);
        return key;
      }),
  );

  app.delete(
    '/api-keys/:id',
    {
      config: { access: { permission: 'api-keys:revoke' }, audit: { action: 'api-key.revoked' } },
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key (it fails from the next request on)',
        params: IdParams,
        response: { 204: Type.Null(), 409: errorResponse('An Idempotency-Key conflict.') },
      },
    },
    (request, reply) =>
      runWrite(request, reply, { status: 204 }, async (tx) => {
        await apiKeys.revoke(tx, request.principal!, request.params.id);
        return null;
      }),
  );

  app.post(
    '/api-keys/:id/rotate',
    {
      // The event names the rotated key (the path's), not the new one the response carries.
      config: { access: { permission: 'api-keys:create' }, audit: { action: 'api-key.rotated', resourceParam: 'id' }, stepUp: true },
      schema: {
        tags: ['api-keys'],
        summary: 'Rotate an API key: revoke it and issue a new key with the same name, scopes and expiry',
        params: IdParams,
        response: { 201: NewApiKeySchema, 409: errorResponse('The key is already revoked or expired, or an Idempotency-Key replay.') },
      },
    },
    (request, reply) =>
      runWrite(request, reply, { status: 201, carriesSecret: true }, async (tx) => {
        const key = await apiKeys.rotate(tx, request.principal!, request.params.id);
        reply.header('location', `/api/v1/api-keys/${key.id}`);
        return key;
      }),
  );
};
