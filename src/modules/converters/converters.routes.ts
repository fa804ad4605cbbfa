import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ConverterListSchema, PreviewBody, PreviewResultSchema } from './converters.schemas.js';
import type { ConverterService } from './converters.service.js';

/**
 * The converter catalogue and chain preview. Anyone who may look at targets may preview: it runs
 * no target and stores nothing. Neither route declares an audit action: the catalogue is public
 * product data and a preview only transforms the caller's own text (refusals are still recorded).
 */
export const convertersRoutes: FastifyPluginAsyncTypebox<{ converters: Pick<ConverterService, 'list' | 'preview'> }> = async (app, { converters }) => {
  app.get(
    '/converters',
    {
      config: { access: { permission: 'targets:read' } },
      schema: {
        tags: ['converters'],
        summary: 'List the prompt converters with their parameter schemas',
        response: { 200: ConverterListSchema },
      },
    },
    () => ({ items: converters.list(), nextCursor: null }),
  );

  app.post(
    '/converters/preview',
    {
      config: { access: { permission: 'targets:read' } },
      schema: {
        tags: ['converters'],
        summary: 'Apply a converter chain to a text and show its output, lineage and decoding',
        description:
          'Limits: 10 steps, 64 KiB of input, 1 MiB for any step\'s output (checked before it is built: `converter_output_too_large`). `decoded` shows `response` decoded through the chain when given, otherwise the round trip of `output` when the last step is reversible.',
        body: PreviewBody,
        response: { 200: PreviewResultSchema },
      },
    },
    (request) => converters.preview(request.body),
  );
};
