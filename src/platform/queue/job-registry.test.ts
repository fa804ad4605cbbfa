import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { InvalidJobError, PermanentJobError } from './job-errors.js';
import { createJobRegistry, defineJob } from './job-registry.js';
import { checkEnqueueOptions, retryDelayMs } from './queue.js';

const context = { jobId: 'job-1', attempt: 1, signal: new AbortController().signal };

const makeRegistry = () => {
  const seen: unknown[] = [];
  const registry = createJobRegistry([
    defineJob({
      name: 'scans.run-chunk',
      payload: Type.Object({ scanId: Type.String({ format: 'uuid' }), chunk: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
      handler: (payload) => {
        seen.push(payload);
        return Promise.resolve();
      },
    }),
  ]);
  return { registry, seen };
};

const scanId = '0190a000-0000-7000-8000-000000000000';

describe('job registry', () => {
  it('applies the default retry policy and finds definitions by name', () => {
    const { registry } = makeRegistry();
    const definition = registry.find('scans.run-chunk');
    expect(definition).toMatchObject({ attempts: 3, backoffMs: 1000 });
    expect(registry.find('nope')).toBeUndefined();
  });

  it('refuses duplicate names, malformed names and impossible retry policies', () => {
    const payload = Type.Object({});
    const handler = () => Promise.resolve();
    const job = defineJob({ name: 'a.b', payload, handler });
    expect(() => createJobRegistry([job, job])).toThrow(/defined twice/);
    for (const name of ['Bad Name', 'a..b', 'a.', '-a', 'a:b']) {
      expect(() => defineJob({ name, payload, handler })).toThrow(/lower-case/);
    }
    expect(() => defineJob({ name: 'a', payload, handler, attempts: 0 })).toThrow(/attempts/);
    expect(() => defineJob({ name: 'a', payload, handler, backoffMs: -1 })).toThrow(/backoffMs/);
  });

  it('validates at enqueue with problems that name the fields but not their values', () => {
    const { registry } = makeRegistry();
    expect(registry.prepare('scans.run-chunk', { scanId, chunk: 2 }).name).toBe('scans.run-chunk');
    const error = (() => {
      try {
        registry.prepare('scans.run-chunk', { scanId: 'secret-value', chunk: -1, extra: true });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InvalidJobError);
    const problems = (error as InvalidJobError).problems.join('\n');
    expect(problems).toMatch(/\/scanId/);
    expect(problems).toMatch(/\/chunk/);
    expect(problems).not.toContain('secret-value');
    expect(() => registry.prepare('unknown.job', {})).toThrow(InvalidJobError);
  });

  it('fails a dequeued job permanently when its payload or name is no longer valid', async () => {
    const { registry, seen } = makeRegistry();
    await expect(registry.run('scans.run-chunk', { scanId, chunk: 'two' }, context)).rejects.toThrow(PermanentJobError);
    await expect(registry.run('scans.removed-job', { scanId }, context)).rejects.toThrow(PermanentJobError);
    expect(seen).toEqual([]);
    await registry.run('scans.run-chunk', { scanId, chunk: 2 }, context);
    expect(seen).toEqual([{ scanId, chunk: 2 }]);
  });

  it('checks enqueue options the same way for every adapter', () => {
    expect(() => checkEnqueueOptions('j', { jobId: 'scan-1.chunk_2', delayMs: 0 })).not.toThrow();
    for (const jobId of ['', '123', 'a:b', 'a b', 'x'.repeat(201)]) {
      expect(() => checkEnqueueOptions('j', { jobId })).toThrow(InvalidJobError);
    }
    expect(() => checkEnqueueOptions('j', { delayMs: -1 })).toThrow(InvalidJobError);
    expect(() => checkEnqueueOptions('j', { delayMs: Number.NaN })).toThrow(InvalidJobError);
  });

  it('backs off exponentially like BullMQ', () => {
    expect([1, 2, 3].map((attempt) => retryDelayMs(100, attempt))).toEqual([100, 200, 400]);
  });
});
