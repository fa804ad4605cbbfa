import { describe, expect, it, vi } from 'vitest';
import { morse } from './morse.converter.js';
import { createConverterService, MAX_INPUT_BYTES, MAX_OUTPUT_BYTES, type ChainStep } from './converters.service.js';
import { sha256 } from './text.js';

const service = createConverterService({ newSeed: () => 99 });

const problemsOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    const { status, code, errors } = error as { status: number; code: string; errors: { pointer: string; detail: string }[] };
    return { status, code, pointers: errors.map((entry) => entry.pointer) };
  }
  throw new Error('expected the call to fail');
};

describe('applying a chain', () => {
  const chain: ChainStep[] = [{ converter: 'prefix-suffix', params: { prefix: 'SECRET-FRAME ' } }, { converter: 'rot13' }, { converter: 'base64' }];

  it('[ASVS 16.2.5] records one lineage entry per step: linked hashes, never content', () => {
    const { output, lineage } = service.apply(chain, 'top secret prompt');
    expect(lineage.map((entry) => entry.converter)).toEqual(['prefix-suffix', 'rot13', 'base64']);
    expect(lineage[0]!.inputSha256).toBe(sha256('top secret prompt'));
    expect(lineage[1]!.inputSha256).toBe(lineage[0]!.outputSha256);
    expect(lineage[2]!.inputSha256).toBe(lineage[1]!.outputSha256);
    expect(lineage[2]!.outputSha256).toBe(sha256(output));
    // Free-text parameters appear as their hash; no text of the prompt or frame anywhere in lineage.
    expect(lineage[0]!.params).toEqual({ prefix: `sha256:${sha256('SECRET-FRAME ')}`, suffix: `sha256:${sha256('')}` });
    expect(lineage[2]!.params).toEqual({ variant: 'standard' });
    const stored = JSON.stringify(lineage);
    for (const secret of ['SECRET', 'FRAME', 'secret', 'prompt']) expect(stored).not.toContain(secret);
  });

  it('does not change the caller’s params objects', () => {
    const params = { level: 'basic' } as Record<string, unknown>;
    const seeded = {} as Record<string, unknown>;
    service.apply([{ converter: 'leetspeak', params }, { converter: 'homoglyphs', params: seeded }], 'x');
    expect(params).toEqual({ level: 'basic' });
    expect(seeded).toEqual({});
  });

  it('returns the chain seed and records each random step’s own seed; the same seed reproduces the output', () => {
    const random: ChainStep[] = [{ converter: 'random-capitalisation' }, { converter: 'diacritics', params: { mark: 'random', probability: 0.5 } }];
    const first = service.apply(random, 'reproducible findings matter');
    expect(first.seed).toBe(99);
    const seeds = first.lineage.map((entry) => entry.params.seed);
    expect(seeds.every((seed) => Number.isInteger(seed))).toBe(true);
    expect(seeds[0]).not.toBe(seeds[1]);
    expect(service.apply(random, 'reproducible findings matter', { seed: 99 }).output).toBe(first.output);
    expect(service.apply(random, 'reproducible findings matter', { seed: 100 }).output).not.toBe(first.output);
    // Replaying from lineage alone (each step's recorded params) gives the same output too.
    const replay = first.lineage.map((entry) => ({ converter: entry.converter, params: entry.params }));
    expect(service.apply(replay, 'reproducible findings matter', { seed: 1 }).output).toBe(first.output);
  });

  it('applies one chain object many times, as a scan does: one call’s seeds never leak into the next', () => {
    const chain: ChainStep[] = [{ converter: 'random-capitalisation' }, { converter: 'diacritics', params: { mark: 'random', probability: 0.5 } }];
    const text = 'one frozen chain, many cells';
    const outputs = [3, 4, 3, 5, 4].map((seed) => service.apply(chain, text, { seed }));
    // Fresh copies of the chain (nothing cached for them) give the same output for the same seed.
    for (const [i, seed] of [3, 4, 3, 5, 4].entries()) expect(service.apply(structuredClone(chain), text, { seed }).output).toBe(outputs[i]!.output);
    expect(outputs[0]!.output).toBe(outputs[2]!.output);
    expect(new Set(outputs.map((result) => result.output)).size).toBe(3);
    expect(outputs[1]!.lineage[0]!.params.seed).not.toBe(outputs[0]!.lineage[0]!.params.seed);
    expect(chain[0]).toEqual({ converter: 'random-capitalisation' });
  });

  it('without a seed, draws a fresh one per call', () => {
    const fresh = createConverterService();
    const seeds = new Set(Array.from({ length: 5 }, () => fresh.apply([{ converter: 'rot13' }], 'a').seed));
    expect(seeds.size).toBeGreaterThan(1);
  });
});

describe('[ASVS 2.2.1] validating a chain', () => {
  it('reports every unknown converter and bad parameter at once, with JSON pointers', () => {
    const result = problemsOf(() =>
      service.apply(
        [
          { converter: 'nope' },
          { converter: 'hex', params: { uppercase: 'yes', extra: 1 } },
          { converter: 'zero-width', params: { every: 0 } },
          { converter: 'base64', params: 'standard' },
        ],
        'x',
      ),
    );
    expect(result).toEqual({
      status: 422,
      code: 'validation_failed',
      pointers: ['/chain/0/converter', '/chain/1/params/extra', '/chain/1/params/uppercase', '/chain/2/params/every', '/chain/3/params'],
    });
  });

  it('[ASVS 15.3.6] prototype member names are unknown converters, not lookups into Object.prototype', () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(problemsOf(() => service.apply([{ converter: name }], 'x')).pointers).toEqual(['/chain/0/converter']);
    }
  });
});

describe('[ASVS 15.2.2] size limits', () => {
  it('refuses more than 10 steps', () => {
    const chain = Array.from({ length: 11 }, () => ({ converter: 'rot13' }));
    expect(problemsOf(() => service.apply(chain, 'x')).pointers).toEqual(['/chain']);
    expect(service.apply(chain.slice(1), 'x').lineage).toHaveLength(10);
  });

  it('measures the input in UTF-8 bytes, not characters', () => {
    expect(service.apply([{ converter: 'rot13' }], 'é'.repeat(MAX_INPUT_BYTES / 2)).output).toHaveLength(MAX_INPUT_BYTES / 2);
    expect(problemsOf(() => service.apply([{ converter: 'rot13' }], 'é'.repeat(MAX_INPUT_BYTES / 2 + 1)))).toEqual({
      status: 422,
      code: 'validation_failed',
      pointers: ['/text'],
    });
  });

  it('refuses a step whose output could pass 1 MiB before building it', () => {
    const encode = vi.spyOn(morse, 'encode');
    try {
      const result = problemsOf(() => service.apply([{ converter: 'morse' }, { converter: 'morse' }], 'x'.repeat(60_000)));
      expect(result).toEqual({ status: 422, code: 'converter_output_too_large', pointers: ['/chain/1'] });
      // The first step ran; the second was refused on its bound without being called.
      expect(encode).toHaveBeenCalledTimes(1);
    } finally {
      encode.mockRestore();
    }
  });

  it('refuses a response to decode over 1 MiB', () => {
    expect(problemsOf(() => service.decode([{ converter: 'rot13' }], 'a'.repeat(MAX_OUTPUT_BYTES + 1))).pointers).toEqual(['/response']);
  });
});

describe('decoding a response', () => {
  it('walks the reversible tail in reverse and stops at a non-reversible step with its reason', () => {
    const chain: ChainStep[] = [{ converter: 'homoglyphs' }, { converter: 'rot13' }, { converter: 'base64' }];
    const { output } = service.apply(chain, 'hello');
    const decoded = service.decode(chain, output);
    expect(decoded).toEqual({
      text: '\u04BB\u0435\u04CF\u04CF\u043E',
      complete: false,
      steps: [
        { index: 2, converter: 'base64', outcome: 'decoded' },
        { index: 1, converter: 'rot13', outcome: 'decoded' },
      ],
      stoppedAt: { index: 0, converter: 'homoglyphs', reason: 'Homoglyphs (confusables) is not reversible' },
    });
  });

  it('passes an unframed answer through a template to the encoding under it', () => {
    const chain: ChainStep[] = [{ converter: 'base64' }, { converter: 'jailbreak-template', params: { template: 'translate-then-act' } }];
    expect(service.decode(chain, 'U3VyZQ==')).toMatchObject({ text: 'Sure', complete: true });
  });

  it('a preview shows the round trip when the chain ends reversibly, the decoded response when one is given', () => {
    expect(service.preview({ chain: [{ converter: 'hex' }], text: 'hi' }).decoded).toMatchObject({ text: 'hi', complete: true });
    expect(service.preview({ chain: [{ converter: 'leetspeak' }], text: 'hi' })).not.toHaveProperty('decoded');
    expect(service.preview({ chain: [{ converter: 'leetspeak' }], text: 'hi', response: 'h1' }).decoded).toMatchObject({ complete: false });
    expect(service.preview({ chain: [{ converter: 'hex' }], text: 'hi', response: '6f6b' }).decoded?.text).toBe('ok');
  });
});
