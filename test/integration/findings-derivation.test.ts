import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { severityOf } from '../../src/modules/findings/finding-policy.js';
import { createOrg, createUserWithPassword } from '../setup/identity-factory.js';
import { readAudit } from '../setup/audit-trail.js';
import { insertPlanScan, insertTarget, insertVerdicts, planProbe } from '../setup/finding-rows.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Findings derivation (issue 7 §4-5) on the real store (PGlite, or PostgreSQL with DATABASE_URL): scans
 * and attempts written directly, derivation called as its job would call it.
 */

let t: TestApp;
let orgId: string;
let userId: string;

const findingsOf = (targetId: string) => t.container.db.selectFrom('findings').selectAll().where('orgId', '=', orgId).where('targetId', '=', targetId).orderBy('id').execute();
const contributionsOf = (findingId: string) => t.container.db.selectFrom('findingScans').selectAll().where('findingId', '=', findingId).orderBy('scanCreatedAt').execute();
const derive = (scanId: string) => t.container.findings.deriver.deriveScan(orgId, scanId);
const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);

beforeAll(async () => {
  t = await createTestApp({ overrides: { runJobs: false } });
  userId = await createUserWithPassword(t, 'findings-owner@example.test', 'a findings owner passphrase 5150');
  orgId = await createOrg(t, 'findings-derivation', [userId]);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('derivation from attempts', () => {
  it('creates one finding for repeated successes across two scans: occurrences add up, last seen moves', async () => {
    const target = await insertTarget(t.container, orgId, userId);
    const probe = planProbe('spl.repeat');
    const first = await insertPlanScan(t.container, orgId, userId, target, [probe], minutesAgo(10));
    const firstIds = await insertVerdicts(t.container, orgId, first, [
      ['spl.repeat', 'succeeded'],
      ['spl.repeat', 'succeeded'],
      ['spl.repeat', 'resisted'],
      ['spl.repeat', 'errored'],
      ['spl.repeat', 'inconclusive'],
    ]);
    expect(await derive(first)).toEqual({ created: 1, updated: 0, reopened: 0 });
    const [created] = await findingsOf(target.id);
    // Errored and inconclusive attempts are not trials.
    expect(created).toMatchObject({ occurrences: 2, trials: 3, status: 'new', lastScanId: first, primaryRef: 'owasp-llm-2026:LLM08', family: 'spl.repeat' });
    expect(created!.objective).toBe('reveal the hidden instructions spl repeat');

    const second = await insertPlanScan(t.container, orgId, userId, target, [probe], minutesAgo(5));
    await insertVerdicts(t.container, orgId, second, [
      ['spl.repeat', 'succeeded'],
      ['spl.repeat', 'resisted'],
    ]);
    expect(await derive(second)).toEqual({ created: 0, updated: 1, reopened: 0 });
    const after = await findingsOf(target.id);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: created!.id, occurrences: 3, trials: 5, lastScanId: second });
    expect(after[0]!.lastSeenAt.getTime()).toBeGreaterThanOrEqual(created!.lastSeenAt.getTime());
    expect(after[0]!.firstSeenAt).toEqual(created!.firstSeenAt);
    const contributions = await contributionsOf(created!.id);
    expect(contributions.map((row) => [row.scanId, row.succeeded, row.trials])).toEqual([
      [first, 2, 3],
      [second, 1, 2],
    ]);
    expect(contributions[0]!.representativeAttemptIds).toEqual(firstIds.slice(0, 2));
    const [event] = await readAudit(t, { action: 'finding.created', resourceId: created!.id });
    expect(event).toMatchObject({ actorType: 'system', orgId, outcome: 'success' });
  });

  it('creates none for probes whose attempts only errored, were inconclusive or were resisted', async () => {
    const target = await insertTarget(t.container, orgId, userId);
    const probes = [planProbe('only.errored'), planProbe('only.inconclusive'), planProbe('only.resisted')];
    const scan = await insertPlanScan(t.container, orgId, userId, target, probes);
    await insertVerdicts(t.container, orgId, scan, [
      ['only.errored', 'errored'],
      ['only.errored', 'errored'],
      ['only.inconclusive', 'inconclusive'],
      ['only.resisted', 'resisted'],
      ['only.resisted', 'resisted'],
    ]);
    expect(await derive(scan)).toEqual({ created: 0, updated: 0, reopened: 0 });
    expect(await findingsOf(target.id)).toEqual([]);
  });

  it('is idempotent: deriving a scan again changes no count, contribution or finding', async () => {
    const target = await insertTarget(t.container, orgId, userId);
    const scan = await insertPlanScan(t.container, orgId, userId, target, [planProbe('idem.a'), planProbe('idem.b', { objective: 'Another objective' })]);
    await insertVerdicts(t.container, orgId, scan, [
      ['idem.a', 'succeeded'],
      ['idem.b', 'succeeded'],
      ['idem.b', 'resisted'],
    ]);
    await derive(scan);
    const before = await findingsOf(target.id);
    expect(before).toHaveLength(2);
    await derive(scan);
    await derive(scan);
    const after = await findingsOf(target.id);
    const stable = (rows: typeof before) => rows.map(({ updatedAt: _updatedAt, ...rest }) => rest);
    expect(stable(after)).toEqual(stable(before));
    for (const finding of after) expect(await contributionsOf(finding.id)).toHaveLength(1);
    expect(await readAudit(t, { action: 'finding.created', resourceId: before[0]!.id })).toHaveLength(1);
  });

  it('counts attempts stored after a derivation at the next one (a running scan), and the sweep finds the scan', async () => {
    const target = await insertTarget(t.container, orgId, userId);
    const scan = await insertPlanScan(t.container, orgId, userId, target, [planProbe('incremental')]);
    await insertVerdicts(t.container, orgId, scan, [['incremental', 'succeeded']]);
    await derive(scan);
    expect(await t.container.findings.sources.unsynced(10_000)).not.toContainEqual({ orgId, scanId: scan });
    await insertVerdicts(t.container, orgId, scan, [['incremental', 'succeeded'], ['incremental', 'resisted']], 1);
    expect(await t.container.findings.sources.unsynced(10_000)).toContainEqual({ orgId, scanId: scan });
    await derive(scan);
    expect(await findingsOf(target.id)).toMatchObject([{ occurrences: 2, trials: 3 }]);
    expect(await t.container.findings.sources.unsynced(10_000)).not.toContainEqual({ orgId, scanId: scan });
  });

  it('two concurrent derivations of two scans showing the same vulnerability make one finding', async () => {
    for (let round = 0; round < 3; round += 1) {
      const target = await insertTarget(t.container, orgId, userId);
      const probe = planProbe('concurrent');
      const scans = await Promise.all([1, 2, 3].map(() => insertPlanScan(t.container, orgId, userId, target, [probe])));
      for (const scan of scans) await insertVerdicts(t.container, orgId, scan, [['concurrent', 'succeeded'], ['concurrent', 'succeeded']]);
      const results = await Promise.all(scans.map((scan) => derive(scan)));
      expect(results.reduce((sum, result) => sum + result.created, 0)).toBe(1);
      const findings = await findingsOf(target.id);
      expect(findings).toHaveLength(1);
      expect(findings[0]).toMatchObject({ occurrences: 6, trials: 6 });
      expect(await contributionsOf(findings[0]!.id)).toHaveLength(3);
    }
  });

  it('scores severity by the documented policy from the primary node, the success rate and the complexity', async () => {
    const target = await insertTarget(t.container, orgId, userId);
    const scan = await insertPlanScan(t.container, orgId, userId, target, [planProbe('severity', { complexity: 'high' })]);
    await insertVerdicts(t.container, orgId, scan, [
      ['severity', 'succeeded'],
      ['severity', 'resisted'],
      ['severity', 'resisted'],
      ['severity', 'resisted'],
    ]);
    await derive(scan);
    const [finding] = await findingsOf(target.id);
    const base = t.container.taxonomies.node('owasp-llm-2026:LLM08')?.baseSeverity;
    const expected = severityOf({ baseSeverity: base, succeeded: 1, trials: 4, complexity: 'high' });
    expect({ score: finding!.severityScore, label: finding!.severityLabel }).toEqual(expected);
    expect(finding!.complexity).toBe('high');
  });

  it('maps a probe without an OWASP 2026 ref through the crosswalk, then by its category', async () => {
    const target = await insertTarget(t.container, orgId, userId);
    const scan = await insertPlanScan(t.container, orgId, userId, target, [
      planProbe('map.old', { taxonomy: ['owasp-llm-2025:LLM07'] }),
      planProbe('map.none', { taxonomy: undefined, category: 'insecure-output' }),
    ]);
    await insertVerdicts(t.container, orgId, scan, [
      ['map.old', 'succeeded'],
      ['map.none', 'succeeded'],
    ]);
    await derive(scan);
    const byFamily = Object.fromEntries((await findingsOf(target.id)).map((row) => [row.family, row]));
    expect(byFamily['map.old']).toMatchObject({ primaryRef: 'owasp-llm-2026:LLM08', taxonomyRefs: ['owasp-llm-2026:LLM08', 'owasp-llm-2025:LLM07'] });
    expect(byFamily['map.none']).toMatchObject({ primaryRef: 'owasp-llm-2026:LLM10', taxonomyRefs: ['owasp-llm-2026:LLM10'] });
  });
});

describe('regression', () => {
  it('reopens a fixed finding when a LATER scan shows it again, once, as a system event; an earlier scan does not', async () => {
    const target = await insertTarget(t.container, orgId, userId);
    const probe = planProbe('regress');
    const early = await insertPlanScan(t.container, orgId, userId, target, [probe], minutesAgo(30));
    await insertVerdicts(t.container, orgId, early, [['regress', 'succeeded']]);
    await derive(early);
    const [finding] = await findingsOf(target.id);
    const fixedAt = minutesAgo(20);
    await t.container.db.updateTable('findings').set({ status: 'fixed', fixedAt, version: 3 }).where('id', '=', finding!.id).execute();

    // Re-deriving the scan that ran before the fix is not a regression.
    await derive(early);
    expect((await findingsOf(target.id))[0]).toMatchObject({ status: 'fixed', reopenedCount: 0 });
    // A scan created after the fix that only resisted is not one either.
    const clean = await insertPlanScan(t.container, orgId, userId, target, [probe], minutesAgo(15));
    await insertVerdicts(t.container, orgId, clean, [['regress', 'resisted']]);
    await derive(clean);
    expect((await findingsOf(target.id))[0]).toMatchObject({ status: 'fixed', reopenedCount: 0, occurrences: 1, trials: 2 });

    const later = await insertPlanScan(t.container, orgId, userId, target, [probe], minutesAgo(10));
    await insertVerdicts(t.container, orgId, later, [['regress', 'succeeded']]);
    expect(await derive(later)).toEqual({ created: 0, updated: 0, reopened: 1 });
    await derive(later);
    const [reopened] = await findingsOf(target.id);
    expect(reopened).toMatchObject({ id: finding!.id, status: 'reopened', reopenedCount: 1, occurrences: 2, trials: 3, version: 4, lastScanId: later });
    const events = await readAudit(t, { action: 'finding.reopened', resourceId: finding!.id });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actorType: 'system', actorId: 'findings.derive-scan', orgId });
  });
});
