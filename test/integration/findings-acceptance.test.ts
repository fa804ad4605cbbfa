import { describe, expect } from 'vitest';
import { api, describeOnBuiltService, TERMINAL, type Service } from '../setup/built-service.js';

/**
 * Issue 7 acceptance, through the API of the built service only: a scan of `sim:leaky` with the default
 * probe set (no probes, scorers or chains named: each probe brings its own) yields a system-prompt-leakage
 * finding mapped to OWASP LLM 2026 LLM08 Hidden Context Exposure, shown as LLM07 in the 2025 edition, with
 * its attempts as evidence; `sim:refuse` yields none; a second scan of the leaky target updates the same
 * findings (occurrences, last seen) instead of duplicating them.
 */

interface Finding {
  id: string;
  targetId: string;
  category: string;
  status: string;
  primaryRef: string | null;
  taxonomyRefs: string[];
  occurrences: number;
  trials: number;
  lastSeenAt: string;
  lastScanId: string;
  severity: { score: number; label: string };
  mappings: { edition: string; primary: Array<{ ref: string; title: string | null; relation: string | null }> };
}
interface FindingDetail extends Finding {
  representativeAttemptIds: string[];
  scans: Array<{ scanId: string; succeeded: number }>;
}
interface ScanView {
  status: string;
  coverage: Record<'succeeded' | 'resisted' | 'errored' | 'inconclusive' | 'done' | 'total', number>;
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function target(service: Service, token: string, kind: string): Promise<string> {
  const created = await api<{ id: string }>(service, 'POST', '/targets', token, { name: `${kind} bot`, kind, config: {}, limits: { requestsPerMinute: 6000, maxInFlight: 8 } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.id;
}

/** A default-set scan run to its end; returns its id and final view. */
async function defaultScan(service: Service, token: string, targetId: string, name: string) {
  const created = await api<{ id: string; plan: { probes: number; cells: number } }>(service, 'POST', '/scans', token, { name, targetId, seed: 11 });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  expect(created.body.plan.probes).toBeGreaterThanOrEqual(40);
  const scan = await until(
    `scan ${name} to end`,
    async () => (await api<ScanView>(service, 'GET', `/scans/${created.body.id}`, token)).body,
    (view) => TERMINAL.has(view.status),
  );
  expect(scan.status).toBe('completed');
  expect(scan.coverage.done).toBe(created.body.plan.cells);
  return { id: created.body.id, scan };
}

const findingsOf = async (service: Service, token: string, targetId: string, query = '') =>
  (await api<{ items: Finding[]; nextCursor: string | null }>(service, 'GET', `/findings?targetId=${targetId}&limit=100${query}`, token)).body.items;

async function acceptance(service: Service, token: string) {
  const leaky = await target(service, token, 'sim:leaky');
  const refuse = await target(service, token, 'sim:refuse');

  const refuseScan = await defaultScan(service, token, refuse, 'default set against a refusing bot');
  expect(refuseScan.scan.coverage.succeeded).toBe(0);
  const first = await defaultScan(service, token, leaky, 'default set against a leaky bot');
  expect(first.scan.coverage.succeeded).toBeGreaterThan(0);

  // Findings are derived after the scan settles (a coalesced job, and a sweep that catches lost calls).
  const found = await until(
    'the leakage finding',
    () => findingsOf(service, token, leaky),
    (items) => items.some((finding) => finding.category === 'system-prompt-leakage' && finding.lastScanId === first.id),
  );
  const leakage = found.filter((finding) => finding.category === 'system-prompt-leakage');
  expect(leakage.length).toBeGreaterThan(0);
  for (const finding of leakage) {
    expect(finding).toMatchObject({ targetId: leaky, status: 'new', primaryRef: 'owasp-llm-2026:LLM08' });
    expect(finding.taxonomyRefs).toContain('owasp-llm-2026:LLM08');
    expect(finding.mappings.primary).toEqual([expect.objectContaining({ ref: 'owasp-llm-2026:LLM08', title: 'Hidden Context Exposure' })]);
  }
  const chosen = leakage[0]!;

  // The same finding in the 2025 edition, without re-running anything; and found by a 2025 filter.
  const in2025 = await api<FindingDetail>(service, 'GET', `/findings/${chosen.id}?edition=2025`, token);
  expect(in2025.status).toBe(200);
  expect(in2025.body.mappings.primary).toEqual([expect.objectContaining({ ref: 'owasp-llm-2025:LLM07', title: 'System Prompt Leakage' })]);
  const by2025 = await findingsOf(service, token, leaky, '&taxonomy=owasp-llm-2025:LLM07');
  expect(by2025.map((finding) => finding.id)).toContain(chosen.id);

  // Its evidence: succeeded attempts of the scan, readable as attempts.
  expect(in2025.body.representativeAttemptIds.length).toBeGreaterThan(0);
  for (const attemptId of in2025.body.representativeAttemptIds) {
    const attempt = await api<{ verdict: string; probeId: string }>(service, 'GET', `/scans/${first.id}/attempts/${attemptId}`, token);
    expect(attempt.status).toBe(200);
    expect(attempt.body.verdict).toBe('succeeded');
    expect(attempt.body.probeId.startsWith('system-prompt-leakage.')).toBe(true);
  }

  // A second scan updates the same findings: same ids, more occurrences, a later last-seen, no new rows.
  const second = await defaultScan(service, token, leaky, 'the same default set again');
  const updated = await until(
    'the findings updated by the second scan',
    () => findingsOf(service, token, leaky),
    (items) => items.length > 0 && items.every((finding) => finding.lastScanId === second.id),
  );
  expect(updated.map((finding) => finding.id).sort()).toEqual(found.map((finding) => finding.id).sort());
  const again = updated.find((finding) => finding.id === chosen.id)!;
  expect(again.occurrences).toBe(chosen.occurrences * 2);
  expect(Date.parse(again.lastSeenAt)).toBeGreaterThan(Date.parse(chosen.lastSeenAt));
  const detail = await api<FindingDetail>(service, 'GET', `/findings/${chosen.id}`, token);
  expect(detail.body.scans.map((scan) => scan.scanId).sort()).toEqual([first.id, second.id].sort());

  // The refusing target: no finding at all (its scan settled before both leaky scans were derived).
  expect(await findingsOf(service, token, refuse)).toEqual([]);
}

describe('issue 7 acceptance: findings from a default-set scan, through the API of the built service', () => {
  describeOnBuiltService('a leaky target yields an LLM08 finding with evidence, a refusing one none, a second scan updates the same findings', acceptance, 150_000);
});
