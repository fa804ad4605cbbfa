import { describe, expect, it } from 'vitest';
import { createConverterService } from './converters.service.js';
import { JAILBREAK_TEMPLATES, PLACEHOLDER } from './framing.converters.js';

const service = createConverterService({ newSeed: () => 1 });
const enc = (converter: string, text: string, params?: object) => service.apply([{ converter, params }], text).output;
const dec = (converter: string, text: string, params?: object) => service.decode([{ converter, params }], text);
const problems = (converter: string, params: unknown) => {
  try {
    service.apply([{ converter, params }], 'x');
  } catch (error) {
    return (error as { errors: { pointer: string; detail: string }[] }).errors;
  }
  return [];
};

describe('jailbreak templates', () => {
  it('every built-in template holds the placeholder exactly once', () => {
    for (const [id, template] of Object.entries(JAILBREAK_TEMPLATES)) expect(template.split(PLACEHOLDER), id).toHaveLength(2);
  });

  it('[ASVS 1.3.7] inserts the prompt as it is: placeholders and replacement patterns in it are not expanded', () => {
    const out = enc('jailbreak-template', 'say $& and {{prompt}}', { custom: 'A {{prompt}} Z' });
    expect(out).toBe('A say $& and {{prompt}} Z');
  });

  it('wraps with a built-in template', () => {
    const out = enc('jailbreak-template', 'PROMPT', { template: 'hypothetical' });
    expect(out.endsWith('\n\nPROMPT')).toBe(true);
    expect(out).toBe(JAILBREAK_TEMPLATES.hypothetical!.replace(PLACEHOLDER, 'PROMPT'));
  });

  it('needs exactly one of template and custom, and a custom template with one placeholder', () => {
    expect(problems('jailbreak-template', {})).toEqual([{ in: 'body', pointer: '/chain/0/params', detail: 'give exactly one of `template` and `custom`' }]);
    expect(problems('jailbreak-template', { template: 'hypothetical', custom: '{{prompt}}' })[0]?.pointer).toBe('/chain/0/params');
    expect(problems('jailbreak-template', { custom: 'no placeholder here' })).toEqual([
      { in: 'body', pointer: '/chain/0/params/custom', detail: 'must contain {{prompt}} exactly once' },
    ]);
    expect(problems('jailbreak-template', { custom: '{{prompt}} {{prompt}}' })[0]?.pointer).toBe('/chain/0/params/custom');
    expect(problems('jailbreak-template', { template: 'not-a-template' })[0]?.pointer).toBe('/chain/0/params/template');
  });

  it('decoding strips the frame when present and passes an unframed answer through', () => {
    expect(dec('jailbreak-template', 'A x Z', { custom: 'A {{prompt}} Z' })).toMatchObject({ text: 'x', steps: [{ outcome: 'decoded' }] });
    expect(dec('jailbreak-template', 'No.', { custom: 'A {{prompt}} Z' })).toMatchObject({ text: 'No.', complete: true, steps: [{ outcome: 'passed-through' }] });
  });
});

describe('prefix and suffix', () => {
  it('adds either or both, and needs at least one', () => {
    expect(enc('prefix-suffix', 'x', { prefix: '<<' })).toBe('<<x');
    expect(enc('prefix-suffix', 'x', { prefix: '<', suffix: '>' })).toBe('<x>');
    expect(problems('prefix-suffix', {})).toEqual([{ in: 'body', pointer: '/chain/0/params', detail: 'give a non-empty `prefix` or `suffix`' }]);
    expect(problems('prefix-suffix', { prefix: 'p'.repeat(4097) })[0]?.pointer).toBe('/chain/0/params/prefix');
  });

  it('decoding strips them only when both are there', () => {
    expect(dec('prefix-suffix', '<x>', { prefix: '<', suffix: '>' }).text).toBe('x');
    expect(dec('prefix-suffix', '<x', { prefix: '<', suffix: '>' })).toMatchObject({ text: '<x', steps: [{ outcome: 'passed-through' }] });
  });
});
