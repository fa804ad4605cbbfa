import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBullmqJobQueue, createJobRegistry, defineJob, type JobQueue, type JobRegistry } from '../../src/platform/queue/index.js';
import { redisUrl, uniqueName } from '../setup/environment.js';
import { deleteRedisKeys, sleep, waitFor } from '../setup/wait.js';
import { startTcpProxy, type TcpProxy } from '../setup/tcp-proxy.js';

const url = redisUrl();


const elapsedMs = async (action: () => Promise<unknown>): Promise<number> => {
  const startedAt = Date.now();
  await action().catch(() => undefined);
  return Date.now() - startedAt;
};

describe.runIf(url)('BullMQ adapter specifics', () => {
  const prefix = uniqueName('q');
  const open: JobQueue[] = [];
  let admin: Redis;
  let inspector: Queue;
  let proxy: TcpProxy | undefined;

  const track = <Q extends JobQueue>(queue: Q): Q => {
    open.push(queue);
    return queue;
  };

  beforeAll(() => {
    admin = new Redis(url!, { maxRetriesPerRequest: 1, commandTimeout: 5_000 });
    inspector = new Queue('jobs', { connection: admin, prefix: `${prefix}-schema` });
  });

  afterAll(async () => {
    await Promise.all(open.map((queue) => queue.close()));
    await proxy?.stop();
    await inspector.close();
    await deleteRedisKeys(admin, prefix);
    await admin.quit();
  });

  it('fails a dequeued payload that no longer fits its schema at once, without retries', async () => {
    let handled = 0;
    const handler = () => {
      handled += 1;
      return Promise.resolve();
    };
    // An older release enqueues { scanId }; this release's worker requires { scanId, chunk }.
    const older = defineJob({ name: 'scans.run-chunk', payload: Type.Object({ scanId: Type.String() }), attempts: 3, backoffMs: 10, handler });
    const newer = defineJob({ name: 'scans.run-chunk', payload: Type.Object({ scanId: Type.String(), chunk: Type.Integer() }), handler });
    const options = { redisUrl: url!, prefix: `${prefix}-schema` };
    const producer = track(createBullmqJobQueue({ ...options, registry: createJobRegistry([older]) }));
    const worker = track(createBullmqJobQueue({ ...options, registry: createJobRegistry([newer]) }));
    await worker.start();

    const jobId = await producer.enqueue('scans.run-chunk', { scanId: 's-1' });
    await waitFor(async () => (await inspector.getJob(jobId))?.finishedOn !== undefined);
    const job = await inspector.getJob(jobId);
    expect(await job?.getState()).toBe('failed');
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toMatch(/does not match its schema: .*chunk/);
    expect(handled).toBe(0);
  });

  it('a job aborted by shutdown goes back to waiting without spending an attempt', async () => {
    const runs: Array<{ worker: string; attempt: number }> = [];
    const registryFor = (worker: string, behaviour: (signal: AbortSignal) => Promise<void>) =>
      createJobRegistry([
        defineJob({
          name: 'test.long',
          payload: Type.Object({}),
          attempts: 1,
          handler: async (_payload, context) => {
            runs.push({ worker, attempt: context.attempt });
            await behaviour(context.signal);
          },
        }),
      ]);
    const untilAborted = (signal: AbortSignal) =>
      new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
    const options = { redisUrl: url!, prefix: `${prefix}-shutdown` };
    const first = track(createBullmqJobQueue({ ...options, registry: registryFor('first', untilAborted), closeTimeoutMs: 200 }));
    await first.start();
    await first.enqueue('test.long', {});
    await waitFor(() => runs.length === 1);
    await first.close();

    const second = track(createBullmqJobQueue({ ...options, registry: registryFor('second', () => Promise.resolve()) }));
    await second.start();
    await waitFor(() => runs.length === 2);
    expect(runs).toEqual([
      { worker: 'first', attempt: 1 },
      { worker: 'second', attempt: 1 },
    ]);
  });

  it('an enqueue-only process (no start) leaves jobs for the workers', async () => {
    let handled = 0;
    const registry: JobRegistry = createJobRegistry([
      defineJob({
        name: 'test.noop',
        payload: Type.Object({}),
        handler: () => {
          handled += 1;
          return Promise.resolve();
        },
      }),
    ]);
    const options = { redisUrl: url!, prefix: `${prefix}-api`, registry };
    const api = track(createBullmqJobQueue(options));
    await api.enqueue('test.noop', {});
    await sleep(200);
    expect(handled).toBe(0);
    await track(createBullmqJobQueue(options)).start();
    await waitFor(() => handled === 1);
  });

  it('fails fast while Redis is unreachable and recovers when it returns', async () => {
    const target = new URL(url!);
    proxy = await startTcpProxy({ targetHost: target.hostname, targetPort: Number(target.port || 6379) });
    const viaProxy = new URL(url!);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const seen: string[] = [];
    const registry = createJobRegistry([
      defineJob({
        name: 'test.echo',
        payload: Type.Object({ id: Type.String() }),
        handler: (payload) => {
          seen.push(payload.id);
          return Promise.resolve();
        },
      }),
    ]);
    const queue = track(createBullmqJobQueue({ redisUrl: viaProxy.toString(), prefix: `${prefix}-outage`, registry, commandTimeoutMs: 1_000 }));
    await queue.start();
    await queue.enqueue('test.echo', { id: 'before' });
    await waitFor(() => seen.includes('before'));

    await proxy.close();
    await sleep(100);
    await expect(queue.enqueue('test.echo', { id: 'during' })).rejects.toMatchObject({ status: 503, headers: { 'retry-after': '5' } });
    await expect(queue.ping()).rejects.toMatchObject({ status: 503 });
    expect(await elapsedMs(() => queue.enqueue('test.echo', { id: 'during' }))).toBeLessThan(200);
    expect(await elapsedMs(() => queue.ping())).toBeLessThan(200);

    await proxy.open();
    await waitFor(() => queue.ping().then(() => true, () => false), 15_000);
    await queue.enqueue('test.echo', { id: 'after' });
    await waitFor(() => seen.includes('after'), 15_000);
    expect(seen).toEqual(['before', 'after']);
  });

  it('fails fast when Redis is unreachable from the start, and closes without hanging', async () => {
    const down = await startTcpProxy({ targetHost: '127.0.0.1', targetPort: 1 });
    await down.close();
    const registry = createJobRegistry([defineJob({ name: 'test.noop', payload: Type.Object({}), handler: () => Promise.resolve() })]);
    const queue = createBullmqJobQueue({ redisUrl: `redis://127.0.0.1:${down.port}`, prefix: `${prefix}-down`, registry, commandTimeoutMs: 1_000 });
    try {
      expect(await elapsedMs(() => expect(queue.enqueue('test.noop', {})).rejects.toMatchObject({ status: 503 }))).toBeLessThan(1_500);
      await expect(queue.ping()).rejects.toMatchObject({ status: 503 });
    } finally {
      expect(await elapsedMs(() => queue.close())).toBeLessThan(5_000);
      await down.stop();
    }
  });
});
