import { Type } from 'typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../setup/wait.js';
import { createManualClock } from '../../src/platform/clock.js';
import { createJobQueue, createJobRegistry, defineJob, type JobContext, type JobQueue } from '../../src/platform/queue/index.js';



const recorder = (behaviour: (context: JobContext) => Promise<void> = () => Promise.resolve()) => {
  const runs: Array<{ id: string; attempt: number }> = [];
  const definition = defineJob({
    name: 'test.record',
    payload: Type.Object({ id: Type.String(), at: Type.Optional(Type.Unknown()) }),
    attempts: 3,
    backoffMs: 60_000,
    handler: async (payload, context) => {
      runs.push({ id: payload.id, attempt: context.attempt });
      await behaviour(context);
    },
  });
  return { registry: createJobRegistry([definition]), runs };
};

describe('memory queue (embedded mode)', () => {
  const open: JobQueue[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((queue) => queue.close()));
  });

  it('is what createJobQueue builds in embedded mode, without Redis', async () => {
    const { registry, runs } = recorder();
    const queue = createJobQueue({ mode: 'embedded', prefix: 'unused', registry });
    open.push(queue);
    await queue.ping();
    await queue.start();
    await queue.enqueue('test.record', { id: 'a' });
    await queue.drain?.();
    expect(runs).toEqual([{ id: 'a', attempt: 1 }]);
  });

  it('refuses server mode without a Redis URL', () => {
    const { registry } = recorder();
    expect(() => createJobQueue({ mode: 'server', prefix: 'p', registry })).toThrow(/REDIS_URL/);
  });

  it('takes delays and retry backoff from the injected clock, not from wall time', async () => {
    const clock = createManualClock();
    const { registry, runs } = recorder((context) => (context.attempt === 1 ? Promise.reject(new Error('transient')) : Promise.resolve()));
    const queue = createJobQueue({ mode: 'embedded', prefix: 'unused', registry, clock, concurrency: 1 });
    open.push(queue);
    await queue.start();

    await queue.enqueue('test.record', { id: 'delayed' }, { delayMs: 3_600_000 });
    await queue.enqueue('test.record', { id: 'now' });
    await waitFor(() => runs.length === 1);
    expect(runs).toEqual([{ id: 'now', attempt: 1 }]);

    // The failed first attempt waits for its 60 s backoff on the manual clock.
    await sleep(600);
    expect(runs).toHaveLength(1);
    clock.advance(60_000);
    await waitFor(() => runs.length === 2);
    expect(runs[1]).toEqual({ id: 'now', attempt: 2 });

    clock.advance(3_600_000);
    await waitFor(() => runs.length === 3);
    expect(runs[2]).toEqual({ id: 'delayed', attempt: 1 });
  });

  it('hands handlers a JSON copy of the payload, as Redis would', async () => {
    const seen: unknown[] = [];
    const registry = createJobRegistry([
      defineJob({
        name: 'test.shape',
        payload: Type.Object({ id: Type.String(), at: Type.Unknown() }),
        handler: (payload) => {
          seen.push(payload);
          return Promise.resolve();
        },
      }),
    ]);
    const queue = createJobQueue({ mode: 'embedded', prefix: 'unused', registry });
    open.push(queue);
    const payload = { id: 'x', at: new Date('2026-01-01T00:00:00Z') };
    await queue.enqueue('test.shape', payload);
    payload.id = 'mutated after enqueue';
    await queue.start();
    await queue.drain?.();
    expect(seen).toEqual([{ id: 'x', at: '2026-01-01T00:00:00.000Z' }]);
  });

  it('drops jobs still waiting at close and refuses new ones', async () => {
    const { registry, runs } = recorder();
    const queue = createJobQueue({ mode: 'embedded', prefix: 'unused', registry });
    await queue.enqueue('test.record', { id: 'never started' });
    await queue.close();
    await expect(queue.start()).rejects.toMatchObject({ status: 503 });
    await expect(queue.enqueue('test.record', { id: 'late' })).rejects.toMatchObject({ status: 503 });
    await expect(queue.drain?.()).resolves.toBeUndefined();
    expect(runs).toEqual([]);
  });
});
