import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toWtf8 } from '../../src/modules/converters/text.js';
import { attemptColumns } from '../../src/modules/scans/attempts.repo.js';
import { EVIDENCE_MAX_BYTES, type PlanProbe } from '../../src/modules/scans/scan-contract.js';
import { isIntegrityError } from '../../src/platform/crypto/index.js';
import { promptOf, startOpenAiMock, type MockServer } from '../fakes/openai-mock.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { attemptsOf, buildExecutor, createMockTarget, createVersionAdapter, defaultOrgId, insertScan, runPendingChunks, type HarnessBase } from '../integration/fixtures/scan-harness.js';

/**
 * Attempts are evidence (issue 6 §4, DESIGN §9 "byte-exact evidence"): the prompts and the response are
 * kept byte for byte (NUL, lone surrogates, bidi controls, Unicode tags), capped at EVIDENCE_MAX_BYTES
 * with the full length and SHA-256, sealed with AES-GCM bound to their row, and the request is stored
 * with its credentials redacted. Runs a real scan through the executor against the mock.
 */
const SECRET_KEY = 'sk-evidence-secret-7c1d';
// NUL, a lone high surrogate, RIGHT-TO-LEFT OVERRIDE and TAG LATIN CAPITAL LETTER A.
const HOSTILE = 'nul\u0000 lone\uD800 bidi\u202Eevil tag\u{E0041}';
const PROBES: PlanProbe[] = [
  { id: 'json', name: 'json', category: 'insecure-output', prompt: `A ${HOSTILE}` },
  { id: 'raw', name: 'raw', category: 'insecure-output', prompt: `B ${HOSTILE}` },
  { id: 'huge', name: 'huge', category: 'insecure-output', prompt: 'C give me a very long answer' },
];
// A valid JSON answer whose text holds NUL, bidi and tag characters (escaped and literal).
const JSON_BODY = Buffer.from(`{"choices":[{"message":{"role":"assistant","content":"ok \\u0000 \u202E \u{E0041} done"}}]}`, 'utf8');
// Not UTF-8 at all: raw NUL and ED A0 80 (a UTF-16 surrogate encoded as if it were a code point).
const RAW_BODY = Buffer.concat([Buffer.from('{"choices":"'), Buffer.from([0x00, 0xed, 0xa0, 0x80, 0xff]), Buffer.from('"}')]);
const HUGE_BODY = Buffer.alloc(EVIDENCE_MAX_BYTES + 4097, 0x61);
HUGE_BODY[HUGE_BODY.length - 1] = 0x62;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest();

let t: TestApp;
let base: HarnessBase;
let mock: MockServer;
let adapter: ReturnType<typeof createVersionAdapter>;
let rows: Awaited<ReturnType<typeof attemptsOf>>;

beforeAll(async () => {
  // This file runs chunks itself; the container's own queue (embedded mode) and reconciler would race it.
  t = await createTestApp({ overrides: { runJobs: false } });
  base = { db: t.container.db, cipher: t.container.cipher, store: t.container.store, clock: t.container.clock, mode: t.config.mode };
  adapter = createVersionAdapter(base);
  mock = await startOpenAiMock({ expectedAuthorization: `Bearer ${SECRET_KEY}` });
  mock.setBehaviour((request) => {
    const prompt = promptOf(request);
    if (prompt.startsWith('A ')) return { kind: 'raw', status: 200, body: JSON_BODY, contentType: 'application/json' };
    if (prompt.startsWith('B ')) return { kind: 'raw', status: 200, body: RAW_BODY, contentType: 'application/json' };
    return { kind: 'raw', status: 200, body: HUGE_BODY, contentType: 'text/plain' };
  });
  const orgId = await defaultOrgId(t.container.db);
  const target = await createMockTarget(base, orgId, { baseUrl: mock.url, limits: { maxInFlight: 3, requestsPerMinute: 600 }, apiKey: SECRET_KEY });
  const scan = await insertScan(base, { orgId, target, probes: PROBES, chunkSize: 3 });
  await runPendingChunks(base, buildExecutor(base, adapter), orgId, scan.scanId);
  rows = await attemptsOf(t.container.db, scan.scanId);
});

afterAll(async () => {
  adapter.close();
  await mock.close();
  await t.close();
});

const opened = (index: number) => attemptColumns(t.container.cipher).open(rows[index]!);

describe('byte-exact evidence', () => {
  it('[ASVS 14.2.4] keeps prompts with NUL, lone surrogates, bidi and tag characters byte for byte, hashed', () => {
    expect(rows).toHaveLength(3);
    for (const index of [0, 1]) {
      const attempt = opened(index);
      const exact = toWtf8(PROBES[index]!.prompt);
      expect(attempt.promptOriginal.equals(exact)).toBe(true);
      // No chain: the converted prompt is the original, and the hash and size are of those exact bytes.
      expect(attempt.promptConverted.equals(exact)).toBe(true);
      expect(attempt.promptSha256.equals(sha256(exact))).toBe(true);
      expect(attempt.promptBytes).toBe(exact.length);
      expect(attempt.promptTruncated).toBe(false);
      expect(exact.includes(Buffer.from([0xed, 0xa0, 0x80]))).toBe(true);
      // The request as sent carried the prompt, lone surrogate included (JSON escapes it).
      const request = attempt.requestRedacted as { body: string };
      expect((JSON.parse(request.body) as { messages: Array<{ content: string }> }).messages.at(-1)!.content).toBe(PROBES[index]!.prompt);
    }
  });

  it('[ASVS 14.2.4] stores a JSON answer with NUL, bidi and tag characters exactly, and scores it', () => {
    const attempt = opened(0);
    expect(attempt.response!.equals(JSON_BODY)).toBe(true);
    expect(attempt.responseSha256!.equals(sha256(JSON_BODY))).toBe(true);
    expect(attempt.responseBytes).toBe(JSON_BODY.length);
    expect(attempt.responseTruncated).toBe(false);
    expect(attempt.statusCode).toBe(200);
    expect(attempt.verdict).not.toBe('errored');
  });

  it('[ASVS 14.2.4] stores raw invalid UTF-8 (NUL, ED A0 80) byte for byte: errored as unscorable, never mangled', () => {
    const attempt = opened(1);
    expect(attempt.response!.equals(RAW_BODY)).toBe(true);
    expect(attempt.responseSha256!.equals(sha256(RAW_BODY))).toBe(true);
    expect(attempt.verdict).toBe('errored');
    expect(attempt.errorCode).toBe('target_no_answer');
  });

  it('[ASVS 14.2.4] caps a response over 1 MiB: truncated flag, full length and the SHA-256 of the full bytes', () => {
    const attempt = opened(2);
    expect(attempt.responseTruncated).toBe(true);
    expect(attempt.response!.length).toBe(EVIDENCE_MAX_BYTES);
    expect(attempt.response!.equals(HUGE_BODY.subarray(0, EVIDENCE_MAX_BYTES))).toBe(true);
    expect(attempt.responseBytes).toBe(HUGE_BODY.length);
    expect(attempt.responseSha256!.equals(sha256(HUGE_BODY))).toBe(true);
  });
});

describe('protection of the evidence', () => {
  it('[ASVS 14.2.4] stores the request with its credential redacted: the key appears nowhere, sealed or opened', () => {
    for (let index = 0; index < rows.length; index += 1) {
      const request = opened(index).requestRedacted as { reported: boolean; method: string; url: string; headers: Record<string, string> };
      expect(request).toMatchObject({ reported: true, method: 'POST', url: `${mock.url}/v1/chat/completions` });
      expect(request.headers.authorization).toBe('[redacted]');
      expect(JSON.stringify(request)).not.toContain(SECRET_KEY);
      for (const column of Object.values(rows[index]!)) {
        if (Buffer.isBuffer(column)) expect(column.includes(SECRET_KEY)).toBe(false);
      }
    }
  });

  it('[ASVS 11.3.3] seals prompt, request, response and scores: no plaintext in the row, and an envelope moved to another row fails to open', () => {
    const row = rows[0]!;
    for (const column of [row.promptOriginal, row.promptConverted, row.response!, row.requestRedacted, row.scores]) {
      expect(column.includes(Buffer.from('bidi'))).toBe(false);
      expect(column.includes(Buffer.from('choices'))).toBe(false);
    }
    const sealed = attemptColumns(t.container.cipher);
    // The additional data binds table, column and row id: another row's envelope is refused, not shown.
    const swapped = { ...rows[1]!, response: rows[0]!.response };
    expect(() => sealed.open(swapped)).toThrow();
    try {
      sealed.open(swapped);
    } catch (error) {
      expect(isIntegrityError(error)).toBe(true);
    }
    const crossColumn = { ...row, promptOriginal: row.response };
    expect(() => sealed.open(crossColumn)).toThrow();
  });
});
