import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Registry } from 'prom-client';
import { AppError } from '../../platform/errors.js';
import type { HealthService } from './health.service.js';

const ComponentSchema = Type.Object(
  { status: Type.Union([Type.Literal('up'), Type.Literal('down')]), latencyMs: Type.Number() },
  { additionalProperties: false },
);

export interface HealthRouteDeps {
  health: HealthService;
  metrics: Registry;
  about: () => { mode: string; version: string; startedAt: Date; policySequence: number; policyHash: string };
}

export const healthRoutes: FastifyPluginAsyncTypebox<HealthRouteDeps> = async (app, { health, metrics, about }) => {
  app.get(
    '/health/live',
    {
      config: { access: { public: true } },
      schema: { tags: ['health'], summary: 'The process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false }) } },
    },
    () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      config: { access: { public: true } },
      schema: {
        tags: ['health'],
        summary: 'Database, store and queue are reachable (503 otherwise)',
        response: { 200: Type.Object({ status: Type.Literal('ready') }, { additionalProperties: false }) },
      },
    },
    async () => {
      const result = await health.check();
      if (!result.ready) {
        const down = Object.entries(result.components).filter(([, component]) => component.status === 'down').map(([name]) => name);
        throw new AppError(503, 'not_ready', { detail: `Unavailable: ${down.join(', ')}.`, headers: { 'retry-after': '5' } });
      }
      return { status: 'ready' as const };
    },
  );

  app.get(
    '/health/details',
    {
      config: { access: { permission: 'health:details' } },
      schema: {
        tags: ['health'],
        summary: 'Per-component status and latency (admins or the metrics token)',
        response: {
          200: Type.Object(
            {
              status: Type.Union([Type.Literal('ready'), Type.Literal('degraded')]),
              mode: Type.String(),
              version: Type.String(),
              uptimeSeconds: Type.Number(),
              policy: Type.Object({ sequence: Type.Integer(), hash: Type.String() }, { additionalProperties: false }),
              components: Type.Record(Type.String(), ComponentSchema),
            },
            { additionalProperties: false },
          ),
        },
      },
    },
    async () => {
      const result = await health.check();
      const info = about();
      return {
        status: result.ready ? ('ready' as const) : ('degraded' as const),
        mode: info.mode,
        version: info.version,
        uptimeSeconds: Math.round((Date.now() - info.startedAt.getTime()) / 1000),
        policy: { sequence: info.policySequence, hash: info.policyHash },
        components: result.components,
      };
    },
  );

  app.get(
    '/metrics',
    {
      config: { access: { permission: 'metrics:read' } },
      schema: { tags: ['health'], summary: 'Prometheus metrics (admins or the metrics token)', response: { 200: Type.String() } },
    },
    async (_request, reply) => {
      reply.type(metrics.contentType);
      return metrics.metrics();
    },
  );
};
