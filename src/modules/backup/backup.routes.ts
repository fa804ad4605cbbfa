import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { auditContextOf } from '../audit/audit.http.js';
import type { BackupService } from './backup.service.js';

/**
 * `POST /admin/backups`: the encrypted archive of the whole database, streamed (issue 9 §3). What
 * `npm run backup` calls when the embedded service holds the data directory. Super-admins only; the
 * service records `backup.created` with table counts before the archive's final frame is sent.
 */
export const backupRoutes: FastifyPluginAsyncTypebox<{ backups: Pick<BackupService, 'archive'>; clock: { now(): Date } }> = async (app, { backups, clock }) => {
  app.post(
    '/admin/backups',
    {
      config: { access: { permission: 'platform:backups:manage' }, audit: { recordedBy: 'service' } },
      schema: {
        tags: ['admin'],
        summary: 'Stream an encrypted backup archive of the whole database',
        description:
          'AES-256-GCM frames under a key derived from the current ENCRYPTION_KEYRING version; restore it with `npm run restore -- <file>` ' +
          'into an empty instance that has the same keys. An archive that ends without its final frame (a dropped connection) is refused by the restore.',
        response: {
          200: { description: 'The archive.', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        },
      },
    },
    async (request, reply) => {
      const stamp = clock.now().toISOString().replaceAll(':', '').replace(/\.\d+Z$/, 'Z');
      reply
        .type('application/octet-stream')
        .header('content-disposition', `attachment; filename="violentutf-backup-${stamp}.vutfbak"`)
        .header('cache-control', 'no-store');
      // The declared body is a binary string for the API description; what is sent is the stream of it.
      const archive = Readable.from(backups.archive(auditContextOf(request))) as unknown as string;
      return reply.send(archive);
    },
  );
};
