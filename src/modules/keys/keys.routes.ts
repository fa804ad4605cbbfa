import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponse } from '../../http/route-defaults.js';
import { auditContextOf } from '../audit/audit.http.js';
import type { KeysService, RotationRun } from './keys.service.js';
import { AddedVersionSchema, KeysStatusSchema, KindParams, RotationRunSchema, RunParams } from './keys.schemas.js';

const PERMISSION = 'platform:keys:manage';
const tags = ['keys'];

const runBody = (run: RotationRun) => ({
  id: run.id,
  status: run.status,
  startedAt: run.startedAt.toISOString(),
  finishedAt: run.finishedAt?.toISOString() ?? null,
  columns: run.progress,
  result: run.result
    ? {
        encryptionVersion: run.result.encryptionVersion,
        blindIndexVersion: run.result.blindIndexVersion,
        rotated: run.result.rotated,
        failed: run.result.failed,
        conflicts: run.result.conflicts,
        interrupted: run.result.interrupted,
        failures: run.result.failures,
      }
    : null,
});

/**
 * Key inventory and rotation (issue 9 §1), platform super-admins only. A version addition and a
 * rotation run are recorded by the service with their counts (`recordedBy: 'service'`).
 */
export const keysRoutes: FastifyPluginAsyncTypebox<{ keys: KeysService }> = async (app, { keys }) => {
  app.get(
    '/admin/keys',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'keys.status.read' } },
      schema: {
        tags,
        summary: 'Key versions per kind, the current one, rows per version and whether old versions are retirable',
        response: { 200: KeysStatusSchema },
      },
    },
    async () => ({ kinds: await keys.status() }),
  );

  app.post(
    '/admin/keys/:kind/versions',
    {
      config: { access: { permission: PERMISSION }, audit: { recordedBy: 'service' } },
      schema: {
        tags,
        summary: 'Add a new random version of a generated key (embedded); it is used for new data at once',
        description: 'Keys from configuration (server mode, or a variable or file) answer 409 with the procedure.',
        params: KindParams,
        response: { 201: AddedVersionSchema, 409: errorResponse('The key comes from configuration: add the version there and restart.') },
      },
    },
    async (request, reply) => {
      const added = await keys.addVersion(request.params.kind, auditContextOf(request));
      return reply.code(201).send(added);
    },
  );

  app.post(
    '/admin/keys/rotations',
    {
      config: { access: { permission: PERMISSION }, audit: { recordedBy: 'service' } },
      schema: {
        tags,
        summary: 'Start re-encrypting every row to the current key versions (what npm run keys:rotate does)',
        response: { 202: RotationRunSchema, 409: errorResponse('A rotation run is already in progress.') },
      },
    },
    async (request, reply) => reply.code(202).send(runBody(keys.startRun(auditContextOf(request)))),
  );

  app.get(
    '/admin/keys/rotations/:id',
    {
      config: { access: { permission: PERMISSION }, audit: { action: 'keys.status.read' } },
      schema: { tags, summary: 'Progress and result of a rotation run of this process', params: RunParams, response: { 200: RotationRunSchema } },
    },
    async (request) => runBody(keys.run(request.params.id)),
  );
};
