import { describe, expect, it, vi } from 'vitest';
import type { Principal } from '../../http/principal.js';
import { AppError } from '../../platform/errors.js';
import type { AuditContext } from '../audit/audit.recorder.js';
import type { JudgeTransport } from './judge.js';
import { countsAsSafe, VERDICTS } from './scorer.types.js';
import { createScorerService } from './scorers.service.js';
import { foldText, maskSecret, originalSpan } from './text-map.js';

const TARGET = '01938a6e-0000-7000-8000-000000000001';
const principal: Principal = { type: 'user', id: 'u1', userId: 'u1', orgId: 'org-1', permissions: new Set(['targets:read']) };
const context: AuditContext = { actor: { type: 'user', id: 'u1' }, orgId: 'org-1', requestId: 'r1' };

const build = (answer: () => Promise<string>) => {
  const audit = { recordNow: vi.fn(() => Promise.resolve('event-id')) };
  const transport: JudgeTransport = { ask: vi.fn(answer) };
  return { audit, transport, service: createScorerService({ judge: () => transport, audit }) };
};

describe('countsAsSafe', () => {
  it('is true for resisted only: errored and inconclusive never count as safe', () => {
    expect(VERDICTS.filter(countsAsSafe)).toEqual(['resisted']);
  });
});

describe('scorer service', () => {
  it('lists every scorer with its parameter schema', () => {
    const { service } = build(() => Promise.resolve(''));
    const ids = service.list().items.map((item) => item.id);
    expect(ids).toEqual(['substring', 'regex', 'refusal', 'leak', 'pii', 'markup', 'json-schema', 'llm-judge']);
    for (const item of service.list().items) expect(item.parameters).toMatchObject({ type: 'object', additionalProperties: false });
  });

  it('[ASVS 2.2.1] validates parameters against the scorer schema with JSON pointers, whoever calls', async () => {
    const { service } = build(() => Promise.resolve(''));
    await expect(service.score('org-1', { id: 'substring', params: { substrings: [], extra: 1 } }, { response: 'x' })).rejects.toMatchObject({
      status: 422,
      errors: expect.arrayContaining([expect.objectContaining({ pointer: '/scorer/params/substrings' }), expect.objectContaining({ pointer: '/scorer/params/extra' })]),
    });
    await expect(service.score('org-1', { id: 'regex' }, { response: 'x' })).rejects.toMatchObject({ status: 422, errors: [expect.objectContaining({ pointer: '/scorer/params' })] });
    await expect(service.score('org-1', { id: 'nope' }, { response: 'x' })).rejects.toMatchObject({ status: 422 });
  });

  it('fills parameter defaults (the scan engine does not pass through HTTP validation)', async () => {
    const { service } = build(() => Promise.resolve(''));
    expect((await service.score('org-1', { id: 'refusal' }, { response: 'Sure, here it is.' })).verdict).toBe('succeeded');
  });

  it('[ASVS 16.3.3] a judge preview is audited with the judge target and verdict, and the result says whether it counts as safe', async () => {
    const { service, audit, transport } = build(() => Promise.resolve('{"verdict":"resisted","rationale":"Refused."}'));
    const result = await service.preview(principal, { scorer: { id: 'llm-judge', params: { targetId: TARGET } }, response: 'No.' }, context);
    expect(result).toMatchObject({ scorerId: 'llm-judge', verdict: 'resisted', countsAsSafe: true });
    expect(transport.ask).toHaveBeenCalledWith('org-1', TARGET, expect.any(String), undefined);
    expect(audit.recordNow).toHaveBeenCalledWith(context, expect.objectContaining({ action: 'scorer.judge.previewed', outcome: 'success', resourceId: TARGET, detail: { verdict: 'resisted' } }));
  });

  it('[ASVS 16.3.3] a judge preview refused by the transport (another organisation’s target: 404) is audited as an error and rethrown', async () => {
    const { service, audit } = build(() => Promise.reject(new AppError(404, 'not_found', { detail: 'The target does not exist.' })));
    await expect(service.preview(principal, { scorer: { id: 'llm-judge', params: { targetId: TARGET } }, response: 'x' }, context)).rejects.toMatchObject({ status: 404 });
    expect(audit.recordNow).toHaveBeenCalledWith(context, expect.objectContaining({ action: 'scorer.judge.previewed', outcome: 'error', statusCode: 404 }));
  });

  it('invalid judge parameters are a 422 before anything is sent, with no judge event', async () => {
    const { service, audit, transport } = build(() => Promise.resolve('{}'));
    await expect(service.preview(principal, { scorer: { id: 'llm-judge', params: { targetId: 'nope' } }, response: 'x' }, context)).rejects.toMatchObject({ status: 422 });
    expect(transport.ask).not.toHaveBeenCalled();
    expect(audit.recordNow).not.toHaveBeenCalled();
  });

  it('an unexpected failure inside a scorer is errored, never a verdict', async () => {
    const { service } = build(() => Promise.reject(new TypeError('boom')));
    const result = await service.preview(principal, { scorer: { id: 'llm-judge', params: { targetId: TARGET } }, response: 'x' }, context);
    expect(result).toMatchObject({ verdict: 'errored', countsAsSafe: false });
    expect(result.rationale).not.toContain('boom');
  });

  it('a non-judge preview is not audited (nothing leaves the service)', async () => {
    const { service, audit } = build(() => Promise.resolve(''));
    const result = await service.preview(principal, { scorer: { id: 'pii' }, response: 'mail a@b.io' }, context);
    expect(result).toMatchObject({ verdict: 'succeeded', countsAsSafe: false });
    expect(audit.recordNow).not.toHaveBeenCalled();
  });
});

describe('text folding', () => {
  it('maps folded matches back to original offsets, astral characters included', () => {
    const original = 'a\u200B😀B c';
    const mapped = foldText(original, { caseFold: true, stripInvisible: true, stripWhitespace: true });
    expect(mapped.text).toBe('a😀bc');
    const at = mapped.text.indexOf('😀b');
    expect(originalSpan(mapped, at, at + 3)).toEqual({ start: 2, end: 5 });
  });

  it('masks a secret to two characters and its length', () => {
    expect(maskSecret('CANARY-1234')).toBe('CA… (11 chars)');
  });
});
