import { describe, expect, it, vi } from 'vitest';
import { createConverterService } from '../converters/converters.service.js';
import type { ScorerService } from '../scorers/scorers.service.js';
import { DEFAULT_TARGET_LIMITS, TargetCallError, type TargetExchange } from '../targets/target-call.js';
import { createCellRunner, FatalTargetError, type CellContext, type SendToVersion } from './cell-runner.js';
import type { FrozenPlan } from './scan-contract.js';

const plan: FrozenPlan = {
  formatVersion: 1,
  target: { id: 't', versionId: 'v', kind: 'openai-chat' },
  probes: [{ id: 'p0', name: 'p0', category: 'jailbreak', prompt: 'hello there', objective: 'make it say pwned' }],
  chains: [[], [{ converter: 'base64' }]],
  scorers: [{ id: 'a' }, { id: 'b' }],
  samples: 1,
  seed: 42,
  chunkSize: 10,
};
const exchange = (status: number, text: string | null): TargetExchange => ({ status, headers: {}, body: Buffer.from(text ?? 'err'), text, latencyMs: 7 });
const context = (overrides: Partial<CellContext> = {}): CellContext => ({
  orgId: 'o',
  plan,
  target: { limits: DEFAULT_TARGET_LIMITS, canaries: ['CANARY-1'], kind: 'openai-chat' },
  previouslySent: false,
  markSent: vi.fn(() => Promise.resolve()),
  ...overrides,
});

function runner(send: SendToVersion, verdicts: Record<string, 'succeeded' | 'resisted' | 'errored' | 'inconclusive'> = { a: 'resisted', b: 'resisted' }) {
  const score = vi.fn((_org: string, config: { id: string }, _input: unknown) => Promise.resolve({ scorerId: config.id, verdict: verdicts[config.id]!, rationale: 'r' }));
  return { score, cells: createCellRunner({ converters: createConverterService(), scorers: { score } as unknown as Pick<ScorerService, 'score'>, sendToVersion: send }) };
}

const cell0 = { index: 0, probeIndex: 0, chainIndex: 0, sampleIndex: 0 };
const cell1 = { index: 1, probeIndex: 0, chainIndex: 1, sampleIndex: 0 };

describe('cell runner', () => {
  it('marks the cell sent while the call is admitted, sends only once the mark is written, scores with the canaries and objective, and combines the verdicts', async () => {
    const order: string[] = [];
    const { cells, score } = runner(
      async (_org, _version, _prompt, _signal, hooks) => {
        order.push('admitted');
        await hooks?.beforeFirstSend?.();
        order.push('send');
        return { exchange: exchange(200, 'no'), attempts: 2 };
      },
      { a: 'resisted', b: 'succeeded' },
    );
    const markSent = async () => {
      order.push('marking');
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push('marked');
    };
    const outcome = await cells.run(context({ markSent }), cell0, new AbortController().signal);
    expect(order).toEqual(['marking', 'admitted', 'marked', 'send']);
    expect(outcome).toMatchObject({ verdict: 'succeeded', statusCode: 200, retries: 1, requests: 2, errorCode: null });
    expect(score.mock.calls[0]![2]).toEqual({ prompt: 'hello there', response: 'no', context: { canaries: ['CANARY-1'], objective: 'make it say pwned' } });
  });

  it('sends the chain output seeded per cell and scores the decoded answer', async () => {
    const sent: string[] = [];
    const { cells, score } = runner((_o, _v, prompt) => {
      sent.push(prompt);
      return Promise.resolve({ exchange: exchange(200, Buffer.from('pwned').toString('base64')), attempts: 1 });
    });
    const outcome = await cells.run(context(), cell1, new AbortController().signal);
    expect(sent).toEqual([Buffer.from('hello there').toString('base64')]);
    expect(outcome!.lineage).toHaveLength(1);
    expect(score.mock.calls[0]![2]).toMatchObject({ response: 'pwned' });
  });

  it('counts a cell an earlier run had sent as a retry and as a request', async () => {
    const { cells } = runner(() => Promise.resolve({ exchange: exchange(200, 'ok'), attempts: 1 }));
    const outcome = await cells.run(context({ previouslySent: true }), cell0, new AbortController().signal);
    expect(outcome).toMatchObject({ retries: 1, requests: 2 });
  });

  it('stores a non-2xx answer as errored evidence without scoring it', async () => {
    const { cells, score } = runner(() => Promise.resolve({ exchange: exchange(400, null), attempts: 1 }));
    const outcome = await cells.run(context(), cell0, new AbortController().signal);
    expect(outcome).toMatchObject({ verdict: 'errored', errorCode: 'target_status', statusCode: 400 });
    expect(outcome!.scores.map((entry) => entry.verdict)).toEqual(['errored', 'errored']);
    expect(score).not.toHaveBeenCalled();
  });

  it('raises a fatal status with its evidence, and keeps exhausted retries as an errored cell', async () => {
    const fatal = runner(() => Promise.reject(new TargetCallError('target_fatal_status', 'The target answered 401.', { exchange: exchange(401, null), attempts: 1 })));
    const error = await fatal.cells.run(context(), cell0, new AbortController().signal).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FatalTargetError);
    expect((error as FatalTargetError).outcome).toMatchObject({ statusCode: 401, errorCode: 'target_fatal_status', verdict: 'errored' });
    const exhausted = runner(() => Promise.reject(new TargetCallError('target_retries_exhausted', 'gave up', { exchange: exchange(503, null), attempts: 4 })));
    expect(await exhausted.cells.run(context(), cell0, new AbortController().signal)).toMatchObject({ statusCode: 503, retries: 3, requests: 4, errorCode: 'target_retries_exhausted' });
  });

  it('returns nothing for an aborted call: the cell stays open for the next run', async () => {
    const controller = new AbortController();
    const { cells } = runner(() => {
      controller.abort();
      return Promise.reject(new TargetCallError('target_call_aborted', 'cancelled', { attempts: 1 }));
    });
    expect(await cells.run(context(), cell0, controller.signal)).toBeNull();
  });

  it('records a converter failure without sending anything', async () => {
    const send = vi.fn<SendToVersion>();
    const { cells } = runner(send);
    const ctx = context({ plan: { ...plan, chains: [[{ converter: 'no-such-converter' }]] } });
    const outcome = await cells.run(ctx, cell0, new AbortController().signal);
    expect(outcome).toMatchObject({ verdict: 'errored', errorCode: 'converter_failed', requests: 0, response: null });
    expect(send).not.toHaveBeenCalled();
    expect(ctx.markSent).not.toHaveBeenCalled();
  });
});
