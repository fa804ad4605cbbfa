import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promptBytes } from '../../src/modules/scans/attempt-evidence.js';
import type { AttemptView, EvidenceView } from '../../src/modules/scans/attempts.service.js';
import { EVIDENCE_MAX_BYTES } from '../../src/modules/scans/scan-contract.js';
import { bearer, login, orgIdBySlug } from '../setup/identity-factory.js';
import { grantRawContent, insertAttempts, insertScan } from '../setup/scan-rows.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Attempts of a scan (issue 6 §4) through app.inject on the built app: metadata pages in plan-cell order
 * with filters, one attempt, and the raw evidence byte for byte (NUL, lone surrogates, bidi and tag
 * characters, a response over the cap). Rows are written by the executor's own repository.
 */

let t: TestApp;
let token: string;
let orgId: string;
let rootId: string;
let scanId: string;
let raw: Record<string, string>;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
// Raw response bytes as a target could send them: NUL, a lone surrogate's WTF-8 (ED A0 80), RLO bidi, tag characters.
const HOSTILE_RESPONSE = Buffer.concat([Buffer.from('a\u0000b '), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(' \u202Eevil\u202C \u{E0041}\u{E0042}')]);
const HOSTILE_PROMPT = 'say \u0000 \uD800 \u202Ereversed\u202C \u{E0049}';
const HUGE_RESPONSE = Buffer.alloc(EVIDENCE_MAX_BYTES + 4096, 0x41);

const get = (url: string, headers: Record<string, string>) => t.app.inject({ method: 'GET', url, headers });

beforeAll(async () => {
  t = await createTestApp();
  orgId = await orgIdBySlug(t, 'default');
  rootId = (await t.container.db.selectFrom('users').select('id').where('platformRole', '=', 'super-admin').executeTakeFirstOrThrow()).id;
  token = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  // The owner reads evidence once a second owner gave them the raw-content grant (no role holds it).
  await grantRawContent(t, orgId, rootId);
  raw = bearer(token);
  scanId = await insertScan(t.container, orgId, rootId, 6);
  await insertAttempts(t.container, orgId, scanId, [
    { cellIndex: 4, verdict: 'succeeded', rationale: 'the canary leaked' },
    { cellIndex: 0, promptOriginal: HOSTILE_PROMPT, response: HOSTILE_RESPONSE },
    { cellIndex: 1, response: HUGE_RESPONSE, verdict: 'inconclusive' },
    { cellIndex: 2, response: null, verdict: 'errored' },
    { cellIndex: 3, verdict: 'succeeded' },
  ]);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('GET /scans/{id}/attempts', () => {
  it('lists metadata in plan-cell order: hashes, sizes, verdicts and rationales, never content', async () => {
    const response = await get(`/api/v1/scans/${scanId}/attempts`, bearer(token));
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json<{ items: AttemptView[]; nextCursor: string | null }>();
    expect(page.items.map((item) => item.cellIndex)).toEqual([0, 1, 2, 3, 4]);
    expect(page.nextCursor).toBeNull();
    const [hostile, huge, failed] = page.items;
    expect(hostile!.response).toEqual({ sha256: sha256(HOSTILE_RESPONSE), bytes: HOSTILE_RESPONSE.length, truncated: false });
    expect(huge!.response).toEqual({ sha256: sha256(HUGE_RESPONSE), bytes: HUGE_RESPONSE.length, truncated: true });
    expect(failed!.response).toBeNull();
    expect(failed!.errorCode).toBe('target_timeout');
    expect(page.items[4]!.scores).toEqual([{ scorerId: 'refusal', verdict: 'succeeded', rationale: 'the canary leaked' }]);
    // No content and no evidence spans in a metadata read.
    expect(response.body).not.toContain('evil');
    expect(response.body).not.toContain('Ignore previous instructions');
    expect(response.body).not.toContain('"evidence"');
  });

  it('pages with a cursor without gaps or repeats, and filters by verdict', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const response = await get(`/api/v1/scans/${scanId}/attempts${query}`, bearer(token));
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json<{ items: AttemptView[]; nextCursor: string | null }>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((item) => item.cellIndex));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    const succeeded = await get(`/api/v1/scans/${scanId}/attempts?verdict=succeeded`, bearer(token));
    expect(succeeded.json<{ items: AttemptView[] }>().items.map((item) => item.cellIndex)).toEqual([3, 4]);
  });

  it('refuses a forged cursor (400), an unknown filter value or parameter (422), and an unknown scan (404)', async () => {
    const forged = Buffer.from(JSON.stringify(['0 or 1=1'])).toString('base64url');
    expect((await get(`/api/v1/scans/${scanId}/attempts?cursor=${forged}`, bearer(token))).statusCode).toBe(400);
    expect((await get(`/api/v1/scans/${scanId}/attempts?verdict=pwned`, bearer(token))).statusCode).toBe(422);
    expect((await get(`/api/v1/scans/${scanId}/attempts?orgId=${orgId}`, bearer(token))).statusCode).toBe(422);
    expect((await get(`/api/v1/scans/01a22000-0000-7000-8000-000000000000/attempts`, bearer(token))).statusCode).toBe(404);
  });
});

describe('GET /scans/{id}/attempts/{attemptId}', () => {
  it('answers the same metadata as the list, and 404 for an attempt under another scan id', async () => {
    const list = (await get(`/api/v1/scans/${scanId}/attempts`, bearer(token))).json<{ items: AttemptView[] }>().items;
    const one = await get(`/api/v1/scans/${scanId}/attempts/${list[4]!.id}`, bearer(token));
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json()).toEqual(list[4]);
    const otherScan = await insertScan(t.container, orgId, rootId, 1);
    expect((await get(`/api/v1/scans/${otherScan}/attempts/${list[4]!.id}`, bearer(token))).statusCode).toBe(404);
  });
});

describe('GET /scans/{id}/attempts/{attemptId}/evidence', () => {
  const evidenceOf = async (cellIndex: number) => {
    const list = (await get(`/api/v1/scans/${scanId}/attempts`, bearer(token))).json<{ items: AttemptView[] }>().items;
    const response = await get(`/api/v1/scans/${scanId}/attempts/${list.find((item) => item.cellIndex === cellIndex)!.id}/evidence`, raw);
    expect(response.statusCode, response.body).toBe(200);
    return response.json<EvidenceView>();
  };

  it('[ASVS 14.2.4] returns prompts and response byte for byte: NUL, lone surrogate, bidi and tag characters', async () => {
    const evidence = await evidenceOf(0);
    expect(Buffer.from(evidence.promptOriginal.base64, 'base64').equals(promptBytes(HOSTILE_PROMPT))).toBe(true);
    expect(Buffer.from(evidence.response!.base64, 'base64').equals(HOSTILE_RESPONSE)).toBe(true);
    expect(sha256(Buffer.from(evidence.response!.base64, 'base64'))).toBe(evidence.attempt.response!.sha256);
    // The text view is lossy on purpose: the lone surrogate's bytes become U+FFFD, the rest stays.
    expect(evidence.response!.text).toContain('\u202Eevil\u202C \u{E0041}\u{E0042}');
    expect(evidence.response!.text).toContain('\uFFFD');
    expect(evidence.request).toMatchObject({ method: 'POST', headers: { authorization: '[redacted]' } });
    expect(evidence.scoreDetails).toEqual([expect.objectContaining({ scorerId: 'refusal', evidence: [{ start: 0, end: 1, label: 'marker' }] })]);
  });

  it('keeps the cap: a response over 1 MiB is stored truncated with the hash and length of the full bytes', async () => {
    const evidence = await evidenceOf(1);
    expect(evidence.response!.storedBytes).toBe(EVIDENCE_MAX_BYTES);
    expect(Buffer.from(evidence.response!.base64, 'base64').equals(HUGE_RESPONSE.subarray(0, EVIDENCE_MAX_BYTES))).toBe(true);
    expect(evidence.attempt.response).toEqual({ sha256: sha256(HUGE_RESPONSE), bytes: HUGE_RESPONSE.length, truncated: true });
  });

  it('answers a null response for an attempt that got none', async () => {
    const evidence = await evidenceOf(2);
    expect(evidence.response).toBeNull();
    expect(evidence.attempt.verdict).toBe('errored');
  });
});
