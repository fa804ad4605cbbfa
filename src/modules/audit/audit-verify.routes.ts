import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Timestamp } from '../../http/schemas.js';
import type { ChainWatch } from './audit-watch.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

const Reason = Type.Union([
  Type.Literal('event-missing'),
  Type.Literal('hash-mismatch'),
  Type.Literal('checkpoint-signature-invalid'),
  Type.Literal('checkpoint-mismatch'),
  Type.Literal('checkpoint-beyond-head'),
]);

export const VerifyResultSchema = Type.Object(
  {
    ok: Type.Boolean({ description: 'True when the checked part of the chain is intact.' }),
    checkedFrom: Nullable(Type.Integer({ description: 'First sequence number checked (the checkpoint’s).' })),
    checkedTo: Nullable(Type.Integer({ description: 'Last sequence number that recomputed.' })),
    events: Type.Integer({ description: 'Events recomputed.' }),
    firstBadSeq: Nullable(Type.Integer({ description: 'First sequence number that is missing or does not match.' })),
    reason: Nullable(Reason),
    checkpoint: Nullable(
      Type.Object(
        { seq: Type.Integer(), signedAt: Timestamp(), keyVersion: Type.Integer() },
        { additionalProperties: false, description: 'The signed checkpoint the check started from.' },
      ),
    ),
    unsealed: Type.Integer({ description: 'Events recorded but not sealed yet (not covered by the check).' }),
  },
  { title: 'AuditChainVerification', additionalProperties: false },
);

/** The chain's health from the last signed checkpoint to the head (the full check is `npm run audit:verify`). */
export const auditVerifyRoutes: FastifyPluginAsyncTypebox<{ watch: Pick<ChainWatch, 'check'> }> = async (app, { watch }) => {
  app.get(
    '/audit/verify',
    {
      config: { access: { permission: ['audit:read', 'platform:audit:read'] }, audit: { action: 'audit.chain.verified' } },
      schema: {
        tags: ['audit'],
        summary: 'Verify the audit chain from the last signed checkpoint',
        description: 'Always 200: `ok` says whether the chain is intact, `firstBadSeq` and `reason` where it is not.',
        response: { 200: VerifyResultSchema },
      },
    },
    async () => {
      const result = await watch.check('api');
      return { ...result, checkpoint: result.checkpoint ? { ...result.checkpoint, signedAt: result.checkpoint.signedAt.toISOString() } : null };
    },
  );
};
