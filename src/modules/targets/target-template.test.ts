import { describe, expect, it } from 'vitest';
import { DEFAULT_TARGET_LIMITS } from './target-call.js';
import { checkResponsePath, checkTemplate, extractText, fillTemplate } from './target-template.js';
import { simulate } from './target-simulations.js';
import { checkConfig, mergeLimits } from './target-config.js';

const values = { prompt: 'P', sessionId: 'S' };

describe('fillTemplate', () => {
  it('fills string leaves only, once, and copies keys as they are', () => {
    const template = { '{{prompt}}': 'key stays', a: ['x {{prompt}} y', 1, null, true], b: { c: '{{sessionId}}/{{prompt}}' } };
    expect(fillTemplate(template, values)).toEqual({ '{{prompt}}': 'key stays', a: ['x P y', 1, null, true], b: { c: 'S/P' } });
    expect(fillTemplate('{{prompt}}', { prompt: '{{sessionId}} $& $1', sessionId: 'S' })).toBe('{{sessionId}} $& $1');
  });

  it('keeps a "__proto__" key of the template as a plain field', () => {
    const template = JSON.parse('{"__proto__": {"polluted": "{{prompt}}"}}') as unknown;
    const filled = fillTemplate(template, values) as Record<string, unknown>;
    expect(Object.keys(filled)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('checkTemplate and checkResponsePath', () => {
  it('refuses templates without a prompt, too large or too deep', () => {
    expect(checkTemplate({ q: '{{prompt}}' })).toBeUndefined();
    expect(checkTemplate({ q: 'none' })).toMatch(/{{prompt}}/);
    expect(checkTemplate({ q: '{{prompt}}', pad: 'x'.repeat(70_000) })).toMatch(/bytes/);
    let deep: unknown = '{{prompt}}';
    for (let level = 0; level < 20; level += 1) deep = [deep];
    expect(checkTemplate(deep)).toMatch(/deeper/);
  });

  it('refuses script expressions in a response path', () => {
    expect(checkResponsePath('$.choices[0].message.content')).toBeUndefined();
    expect(checkResponsePath('$..[?(@.x==1)]')).toBeDefined();
    expect(checkResponsePath('$.a[(@.length-1)]')).toBeDefined();
  });
});

describe('extractText', () => {
  const body = (value: unknown) => Buffer.from(JSON.stringify(value));

  it('takes the first match as text and says why nothing was taken', () => {
    expect(extractText(body({ output: { text: 'hi' } }), '$.output.text')).toEqual({ text: 'hi' });
    expect(extractText(body({ n: 3 }), '$.n')).toEqual({ text: '3' });
    expect(extractText(body({ o: {} }), '$.o')).toMatchObject({ text: null, error: expect.stringMatching(/not text/) });
    expect(extractText(body({}), '$.missing')).toMatchObject({ text: null, error: expect.stringMatching(/nothing/) });
    expect(extractText(Buffer.from('<html>'), '$.a')).toMatchObject({ text: null, error: 'The response is not JSON.' });
    expect(extractText(Buffer.from('plain answer'), undefined)).toEqual({ text: 'plain answer' });
  });
});

describe('simulations and configuration rules', () => {
  it('sim:slow stops waiting when the caller aborts', async () => {
    const controller = new AbortController();
    const pending = simulate('sim:slow', 'v', { delayMs: 60_000 }, DEFAULT_TARGET_LIMITS, 'p', controller.signal);
    controller.abort(new Error('cancelled'));
    await expect(pending).rejects.toThrow();
  });

  it('sim:flaky walks its sequence per version', async () => {
    const statuses = [];
    for (let index = 0; index < 4; index += 1) statuses.push((await simulate('sim:flaky', 'flaky-unit', { sequence: [429, 500] }, DEFAULT_TARGET_LIMITS, 'p', new AbortController().signal)).status);
    expect(statuses).toEqual([429, 500, 429, 500]);
  });

  it('keeps the leaky canary across versions and refuses fields of another kind', () => {
    const first = checkConfig('sim:leaky', {}) as { canary: string };
    expect(checkConfig('sim:leaky', {}, first)).toEqual(first);
    expect(() => checkConfig('sim:refuse', { delayMs: 1 })).toThrow();
    expect(() => mergeLimits({ backoffBaseMs: 100, backoffMaxMs: 50 })).toThrow();
    expect(mergeLimits({ maxRetries: 0 })).toMatchObject({ ...DEFAULT_TARGET_LIMITS, maxRetries: 0 });
  });
});
