import { Redis } from 'ioredis';
import { Type } from 'typebox';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createBullmqJobQueue,
  createJobRegistry,
  createMemoryJobQueue,
  defineJob,
  InvalidJobError,
  PermanentJobError,
  type JobContext,
  type JobDefinition,
  type JobQueue,
  type JobRegistry,
} from '../../src/platform/queue/index.js';
import { redisUrl, uniqueName } from '../setup/environment.js';
import { deleteRedisKeys, sleep, waitFor } from '../setup/wait.js';

/** Builds a queue for one test; `name` keeps tests apart (a BullMQ prefix, unused in memory). */
type QueueFactory = (registry: JobRegistry, options: { name: string; closeTimeoutMs?: number }) => JobQueue;



const idPayload = Type.Object({ id: Type.String() }, { additionalProperties: false });

/** A job that records each run; `behaviour` decides how the run ends. */
function recordingJob<const N extends string>(name: N, behaviour: (context: JobContext) => Promise<void> = () => Promise.resolve(), extra: { attempts?: number } = {}) {
  const runs: Array<{ id: string; jobId: string; attempt: number }> = [];
  const definition = defineJob({
    name,
    payload: idPayload,
    attempts: extra.attempts ?? 1,
    backoffMs: 20,
    handler: async (payload, context) => {
      runs.push({ id: payload.id, jobId: context.jobId, attempt: context.attempt });
      await behaviour(context);
    },
  });
  return { definition, runs };
}

/** The behaviour every JobQueue adapter must show. Queues run one job at a time unless a test says otherwise. */
function jobQueueContract(label: string, factory: QueueFactory): void {
  describe(`JobQueue contract: ${label}`, () => {
    const open: JobQueue[] = [];
    let counter = 0;
    const make = <D extends JobDefinition>(registry: JobRegistry<D>, closeTimeoutMs?: number): JobQueue<D> => {
      counter += 1;
      const queue = factory(registry, { name: `t${counter}`, closeTimeoutMs });
      open.push(queue);
      // The factory is typed for any registry; the return type gives enqueue this test's job types back.
      return queue;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((queue) => queue.close()));
    });

    it('runs a job with its payload, id and attempt number', async () => {
      const echo = recordingJob('test.echo');
      const queue = make(createJobRegistry([echo.definition]));
      await queue.start();
      const jobId = await queue.enqueue('test.echo', { id: 'abc' });
      await waitFor(() => echo.runs.length === 1);
      expect(echo.runs).toEqual([{ id: 'abc', jobId, attempt: 1 }]);
    });

    it('refuses an invalid payload, an unknown job and bad options at enqueue', async () => {
      const echo = recordingJob('test.echo');
      const queue = make(createJobRegistry([echo.definition]));
      await queue.start();
      // @ts-expect-error the payload type comes from the registry
      await expect(queue.enqueue('test.echo', { id: 42 })).rejects.toBeInstanceOf(InvalidJobError);
      // @ts-expect-error the name must be registered
      await expect(queue.enqueue('test.unknown', { id: 'x' })).rejects.toBeInstanceOf(InvalidJobError);
      await expect(queue.enqueue('test.echo', { id: 'x' }, { jobId: 'a:b' })).rejects.toBeInstanceOf(InvalidJobError);
      // One job at a time, in order: once the marker ran, nothing refused can still be waiting.
      await queue.enqueue('test.echo', { id: 'marker' });
      await waitFor(() => echo.runs.length > 0);
      expect(echo.runs.map((run) => run.id)).toEqual(['marker']);
    });

    it('retries a failing handler up to its attempts, then gives up', async () => {
      const failing = recordingJob('test.failing', () => Promise.reject(new Error('boom')), { attempts: 3 });
      const queue = make(createJobRegistry([failing.definition]));
      await queue.start();
      const jobId = await queue.enqueue('test.failing', { id: 'f' });
      await waitFor(() => failing.runs.length === 3);
      // A fourth run would come 20 × 2^2 = 80 ms after the third.
      await sleep(400);
      expect(failing.runs).toEqual([1, 2, 3].map((attempt) => ({ id: 'f', jobId, attempt })));
    });

    it('retries until a run succeeds, and never retries a PermanentJobError', async () => {
      const flaky = recordingJob('test.flaky', (context) => (context.attempt < 2 ? Promise.reject(new Error('transient')) : Promise.resolve()), { attempts: 5 });
      const doomed = recordingJob('test.doomed', () => Promise.reject(new PermanentJobError('input gone')), { attempts: 5 });
      const queue = make(createJobRegistry([flaky.definition, doomed.definition]));
      await queue.start();
      await queue.enqueue('test.doomed', { id: 'd' });
      await queue.enqueue('test.flaky', { id: 'f' });
      await waitFor(() => flaky.runs.length === 2);
      await sleep(300);
      expect(flaky.runs.map((run) => run.attempt)).toEqual([1, 2]);
      expect(doomed.runs.map((run) => run.attempt)).toEqual([1]);
    });

    it('runs a job once per jobId', async () => {
      const echo = recordingJob('test.echo');
      const queue = make(createJobRegistry([echo.definition]));
      await queue.start();
      const ids = await Promise.all([1, 2, 3].map(() => queue.enqueue('test.echo', { id: 'same' }, { jobId: 'dedupe-1' })));
      expect(ids).toEqual(['dedupe-1', 'dedupe-1', 'dedupe-1']);
      await waitFor(() => echo.runs.length === 1);
      expect(await queue.enqueue('test.echo', { id: 'same' }, { jobId: 'dedupe-1' })).toBe('dedupe-1');
      await queue.enqueue('test.echo', { id: 'marker' });
      await waitFor(() => echo.runs.length === 2);
      expect(echo.runs.map((run) => run.id)).toEqual(['same', 'marker']);
    });

    it('runs a delayed job no earlier than its delay', async () => {
      const echo = recordingJob('test.echo');
      const queue = make(createJobRegistry([echo.definition]));
      await queue.start();
      const enqueuedAt = Date.now();
      await queue.enqueue('test.echo', { id: 'later' }, { delayMs: 300 });
      await waitFor(() => echo.runs.length === 1);
      expect(Date.now() - enqueuedAt).toBeGreaterThanOrEqual(290);
    });

    it('never runs more jobs at once than its concurrency', async () => {
      let inFlight = 0;
      let peak = 0;
      const busy = recordingJob('test.busy', async () => {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await sleep(30);
        inFlight -= 1;
      });
      const queue = make(createJobRegistry([busy.definition]));
      await queue.start();
      await Promise.all([1, 2, 3, 4, 5].map((n) => queue.enqueue('test.busy', { id: String(n) })));
      await waitFor(() => busy.runs.length === 5 && inFlight === 0);
      expect(peak).toBe(1);
    });

    it('close() waits for a running job to finish', async () => {
      let finished = false;
      let aborted = false;
      const slow = recordingJob('test.slow', async (context) => {
        await sleep(400);
        aborted = context.signal.aborted;
        finished = true;
      });
      const queue = make(createJobRegistry([slow.definition]));
      await queue.start();
      await queue.enqueue('test.slow', { id: 's' });
      await waitFor(() => slow.runs.length === 1);
      await queue.close();
      expect(finished).toBe(true);
      expect(aborted).toBe(false);
    });

    it('close() aborts a job that outlives the close timeout', async () => {
      let abortSeen = false;
      const stuck = recordingJob('test.stuck', (context) => {
        return new Promise<void>((_resolve, reject) => {
          context.signal.addEventListener('abort', () => {
            abortSeen = true;
            reject(new Error('aborted'));
          });
        });
      });
      const queue = make(createJobRegistry([stuck.definition]), 200);
      await queue.start();
      await queue.enqueue('test.stuck', { id: 's' });
      await waitFor(() => stuck.runs.length === 1);
      const closeStarted = Date.now();
      await queue.close();
      expect(abortSeen).toBe(true);
      expect(Date.now() - closeStarted).toBeLessThan(5_000);
    });

    it('answers ping while open, and refuses work once closed', async () => {
      const echo = recordingJob('test.echo');
      const queue = make(createJobRegistry([echo.definition]));
      await expect(queue.ping()).resolves.toBeUndefined();
      await queue.close();
      await expect(queue.ping()).rejects.toMatchObject({ status: 503 });
      await expect(queue.enqueue('test.echo', { id: 'late' })).rejects.toMatchObject({ status: 503 });
      await expect(queue.close()).resolves.toBeUndefined();
    });
  });
}

jobQueueContract('memory', (registry, { closeTimeoutMs }) => createMemoryJobQueue({ registry, concurrency: 1, closeTimeoutMs }));

const url = redisUrl();


describe.runIf(url)('BullMQ adapter on Redis', () => {
  const prefix = uniqueName('q');
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(url!, { maxRetriesPerRequest: 1, commandTimeout: 5_000 });
  });
  const bullmq = (registry: JobRegistry, name: string, options: { closeTimeoutMs?: number; concurrency?: number } = {}) =>
    createBullmqJobQueue({
      redisUrl: url!,
      prefix: `${prefix}-${name}`,
      registry,
      concurrency: options.concurrency ?? 1,
      closeTimeoutMs: options.closeTimeoutMs,
      stalledIntervalMs: 5_000,
      lockDurationMs: 5_000,
    });

  afterAll(async () => {
    await deleteRedisKeys(admin, prefix);
    expect(await admin.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 1000).then(([, keys]) => keys)).toEqual([]);
    await admin.quit();
  });

  jobQueueContract('bullmq', (registry, { name, closeTimeoutMs }) => bullmq(registry, name, { closeTimeoutMs }));

  it('two workers on one prefix process 50 jobs exactly once between them', async () => {
    const runs: Array<{ id: string; worker: string }> = [];
    // Each process has its own registry (same job, same schema): record which worker ran each job.
    const registryFor = (worker: string) =>
      createJobRegistry([
        defineJob({
          name: 'test.work',
          payload: idPayload,
          attempts: 1,
          handler: async (payload) => {
            runs.push({ id: payload.id, worker });
            await sleep(10);
          },
        }),
      ]);
    const first = bullmq(registryFor('first'), 'pair', { concurrency: 4 });
    const second = bullmq(registryFor('second'), 'pair', { concurrency: 4 });
    try {
      await Promise.all([first.start(), second.start()]);
      const ids = Array.from({ length: 50 }, (_, n) => `job-${n}`);
      await Promise.all(ids.map((id) => first.enqueue('test.work', { id })));
      await waitFor(() => runs.length >= 50);
      await sleep(300);
      expect(runs.map((run) => run.id).sort()).toEqual([...ids].sort());
      expect(new Set(runs.map((run) => run.worker))).toEqual(new Set(['first', 'second']));
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});
