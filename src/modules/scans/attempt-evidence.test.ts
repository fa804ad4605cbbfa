import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { capBytes, combineVerdicts, promptBytes, REDACTED, redactRequest, redactUrl, toAttemptRecord, type CellOutcome } from './attempt-evidence.js';

const outcome = (overrides: Partial<CellOutcome> = {}): CellOutcome => ({
  cell: { index: 5, probeIndex: 1, chainIndex: 0, sampleIndex: 2 },
  probeId: 'p1',
  lineage: [],
  promptOriginal: 'hello',
  promptConverted: 'aGVsbG8=',
  request: null,
  response: Buffer.from('answer'),
  statusCode: 200,
  latencyMs: 12.6,
  retries: 0,
  errorCode: null,
  scores: [],
  verdict: 'resisted',
  requests: 1,
  ...overrides,
});

describe('attempt evidence', () => {
  it('caps bytes but hashes and measures all of them', () => {
    const bytes = Buffer.from('abcdefgh');
    const capped = capBytes(bytes, 5);
    expect(capped).toMatchObject({ length: 8, truncated: true });
    expect(capped.stored.toString()).toBe('abcde');
    expect(capped.sha256.equals(createHash('sha256').update(bytes).digest())).toBe(true);
    expect(capBytes(bytes, 8).truncated).toBe(false);
  });

  it('encodes a lone surrogate as its three WTF-8 bytes instead of U+FFFD', () => {
    expect([...promptBytes('a\uD800b')]).toEqual([0x61, 0xed, 0xa0, 0x80, 0x62]);
    expect(promptBytes('\u{1F600}').equals(Buffer.from('\u{1F600}', 'utf8'))).toBe(true);
  });

  it('[ASVS 14.2.1] drops user info and replaces every query value of a URL', () => {
    expect(redactUrl('https://user:pw@api.example.test/v1/chat?key=sk-123&model=x')).toBe(
      `https://api.example.test/v1/chat?key=${encodeURIComponent(REDACTED)}&model=${encodeURIComponent(REDACTED)}`,
    );
    expect(redactUrl('not a url')).toBe(REDACTED);
  });

  it('[ASVS 14.2.4] replaces secret header values and keeps the body exact with its hash', () => {
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'x\uD800' }] });
    const redacted = redactRequest({
      method: 'POST',
      url: 'https://api.example.test/v1/chat/completions',
      headers: { authorization: 'Bearer sk-1', 'x-api-key': 'k', cookie: 'c=1', 'x-session-token': 't', 'content-type': 'application/json' },
      body,
    });
    expect(redacted.headers).toEqual({ authorization: REDACTED, 'x-api-key': REDACTED, cookie: REDACTED, 'x-session-token': REDACTED, 'content-type': 'application/json' });
    expect(redacted.body).toBe(body);
    expect(redacted.bodySha256).toBe(createHash('sha256').update(promptBytes(body)).digest('hex'));
    expect(redacted.bodyTruncated).toBe(false);
  });

  it('builds the row: hash and size of the converted prompt, response capped, clear metadata', () => {
    const record = toAttemptRecord('id-1', { orgId: 'o', scanId: 's' }, outcome({ errorCode: 'x'.repeat(150) }));
    expect(record).toMatchObject({ id: 'id-1', orgId: 'o', scanId: 's', cellIndex: 5, chainIndex: 0, sampleIndex: 2, latencyMs: 13, responseBytes: 6, responseTruncated: false });
    expect(record.promptSha256.equals(createHash('sha256').update('aGVsbG8=').digest())).toBe(true);
    expect(record.promptBytes).toBe(8);
    expect(record.errorCode).toHaveLength(100);
    expect(record.requestRedacted).toEqual({ reported: false });
    const unsent = toAttemptRecord('id-2', { orgId: 'o', scanId: 's' }, outcome({ response: null }));
    expect(unsent).toMatchObject({ response: null, responseSha256: null, responseBytes: null, responseTruncated: false });
  });

  it.each([
    [['resisted', 'succeeded', 'errored'], 'succeeded'],
    [['resisted', 'errored', 'inconclusive'], 'errored'],
    [['resisted', 'inconclusive'], 'inconclusive'],
    [['resisted', 'resisted'], 'resisted'],
    [[], 'inconclusive'],
  ] as const)('combines %j into %s: nothing uncertain counts as safe', (verdicts, expected) => {
    expect(combineVerdicts(verdicts)).toBe(expected);
  });
});
