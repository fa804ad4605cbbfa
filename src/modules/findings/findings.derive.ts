import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { newId } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import type { AuditRecorder } from '../audit/audit.recorder.js';
import { systemContext } from '../audit/audit.recorder.js';
import type { ExploitComplexity } from '../probes/probe-contract.js';
import type { FrozenPlan, PlanProbe } from '../scans/scan-contract.js';
import { DEFAULT_OWASP_EDITION, type TaxonomyService } from '../taxonomies/taxonomy.types.js';
import { fingerprintOf, normaliseObjective, severityOf } from './finding-policy.js';
import type { FindingSourcesRepo, ProbeStats, ScanFacts } from './finding-sources.repo.js';
import type { FindingIdentity, FindingsRepo } from './findings.repo.js';

/**
 * Derivation (issue 7 §4): a scan's stored attempts become findings. Only succeeded attempts create or
 * reopen a finding; trials are succeeded + resisted (errored and inconclusive attempts prove nothing
 * either way). Each scan's contribution is replaced whole and the finding's counters are recomputed as
 * sums over contributions, so running a derivation twice (a job retried, a sweep and a listener call
 * racing) changes nothing the second time.
 */

/** Findings per transaction: a scan with thousands of probes commits in bounded batches. */
export const DERIVE_BATCH = 100;

/**
 * The OWASP LLM 2026 entry a probe without an OWASP ref is filed under, by its category (the probe
 * contract's categories); harmful content has no OWASP entry of its own and stays unmapped.
 */
export const CATEGORY_PRIMARY_REF: Readonly<Record<string, string>> = {
  'prompt-injection': 'owasp-llm-2026:LLM01',
  'indirect-prompt-injection': 'owasp-llm-2026:LLM01',
  jailbreak: 'owasp-llm-2026:LLM01',
  'system-prompt-leakage': 'owasp-llm-2026:LLM08',
  'sensitive-information': 'owasp-llm-2026:LLM02',
  pii: 'owasp-llm-2026:LLM02',
  'insecure-output': 'owasp-llm-2026:LLM10',
  'excessive-agency': 'owasp-llm-2026:LLM03',
  misinformation: 'owasp-llm-2026:LLM07',
};

const OWASP_PREFIX = /^owasp-llm-(2023|2025|2026):/;

/** The probe's primary OWASP 2026 ref (its own, else a translated older one, else its category's) and all its refs. */
export function mappingOf(probe: Pick<PlanProbe, 'taxonomy' | 'category'>, taxonomy: Pick<TaxonomyService, 'translate'>): { primaryRef: string | null; refs: string[] } {
  const refs = [...new Set(probe.taxonomy ?? [])];
  let primary = refs.find((ref) => ref.startsWith(`${DEFAULT_OWASP_EDITION}:`));
  for (const ref of refs) {
    if (primary) break;
    if (OWASP_PREFIX.test(ref)) primary = taxonomy.translate(ref, DEFAULT_OWASP_EDITION)[0]?.ref;
  }
  primary ??= CATEGORY_PRIMARY_REF[probe.category];
  if (!primary) return { primaryRef: null, refs };
  return { primaryRef: primary, refs: refs.includes(primary) ? refs : [primary, ...refs] };
}

/** One fingerprint's share of a scan (several probes of one family may share it). */
interface Group {
  identity: FindingIdentity;
  succeeded: number;
  trials: number;
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
  attemptIds: string[];
}

const minDate = (a: Date | null, b: Date | null) => (a && b ? (a < b ? a : b) : (a ?? b));
const maxDate = (a: Date | null, b: Date | null) => (a && b ? (a > b ? a : b) : (a ?? b));

export function groupByFingerprint(facts: Pick<ScanFacts, 'orgId' | 'targetId'>, probes: readonly PlanProbe[], stats: readonly ProbeStats[], taxonomy: Pick<TaxonomyService, 'translate'>): Group[] {
  const byId = new Map(probes.map((probe) => [probe.id, probe]));
  const groups = new Map<string, Group>();
  for (const stat of stats) {
    const probe = byId.get(stat.probeId);
    if (!probe || stat.succeeded + stat.resisted === 0) continue;
    const { primaryRef, refs } = mappingOf(probe, taxonomy);
    const family = (probe.family ?? probe.id).slice(0, 100);
    const objective = normaliseObjective(probe.objective ?? probe.name);
    const fingerprint = fingerprintOf({ targetId: facts.targetId, family, primaryRef, objective });
    const group = groups.get(fingerprint) ?? {
      identity: {
        orgId: facts.orgId,
        fingerprint,
        targetId: facts.targetId,
        family,
        primaryRef,
        taxonomyRefs: refs.slice(0, 32),
        objective,
        title: probe.name.slice(0, 200),
        category: probe.category.slice(0, 64),
        complexity: probe.complexity ?? 'medium',
      },
      succeeded: 0,
      trials: 0,
      firstSeenAt: null,
      lastSeenAt: null,
      attemptIds: [],
    };
    group.succeeded += stat.succeeded;
    group.trials += stat.succeeded + stat.resisted;
    group.firstSeenAt = minDate(group.firstSeenAt, stat.firstSucceededAt);
    group.lastSeenAt = maxDate(group.lastSeenAt, stat.lastSucceededAt);
    group.attemptIds = [...group.attemptIds, ...stat.attemptIds].slice(0, 5);
    groups.set(fingerprint, group);
  }
  // One lock order for every derivation: two scans sharing findings cannot deadlock on them.
  return [...groups.values()].sort((a, b) => (a.identity.fingerprint < b.identity.fingerprint ? -1 : 1));
}

export interface DeriveResult {
  created: number;
  updated: number;
  reopened: number;
}

export function createFindingsDeriver(deps: {
  db: Db;
  sources: Pick<FindingSourcesRepo, 'scanFacts' | 'probeStats' | 'markSynced'>;
  findingsRepo: Pick<FindingsRepo, 'upsert' | 'lockByFingerprints' | 'putContribution' | 'totals' | 'setCounters' | 'reopen'>;
  loadPlan: (orgId: string, scanId: string) => Promise<Pick<FrozenPlan, 'probes'> | undefined>;
  taxonomy: Pick<TaxonomyService, 'node' | 'translate'>;
  audit: Pick<AuditRecorder, 'record'>;
  clock: Clock;
  logger: Pick<Logger, 'info'>;
}) {
  const { findingsRepo: repo } = deps;
  const audit = systemContext('findings.derive-scan');

  /** Applies one fingerprint's contribution; returns what happened to its finding. */
  async function apply(tx: Tx, facts: ScanFacts, group: Group, now: Date): Promise<'created' | 'updated' | 'reopened' | 'none'> {
    const { identity } = group;
    let findingId: string;
    let outcome: 'created' | 'updated' | 'reopened' = 'updated';
    if (group.succeeded > 0) {
      const seen = { first: group.firstSeenAt ?? now, last: group.lastSeenAt ?? now };
      const initial = { occurrences: group.succeeded, trials: group.trials, firstSeenAt: seen.first, lastSeenAt: seen.last, lastScanId: facts.id, ...counterSeverity(identity, group.succeeded, group.trials) };
      const row = await repo.upsert(tx, newId(), identity, initial, now);
      findingId = row.id;
      if (row.inserted) {
        outcome = 'created';
        await deps.audit.record(tx, audit, { action: 'finding.created', orgId: facts.orgId, resourceId: row.id, detail: { scanId: facts.id } });
      } else if (row.status === 'fixed' && row.fixedAt && facts.createdAt > row.fixedAt) {
        // A regression: a scan started after the fix shows it again.
        const reopened = await repo.reopen(tx, row.id, now);
        if (reopened) {
          outcome = 'reopened';
          await deps.audit.record(tx, audit, { action: 'finding.reopened', orgId: facts.orgId, resourceId: row.id, detail: { scanId: facts.id, reopenedCount: reopened.reopenedCount } });
        }
      }
    } else {
      // Resisted only: it counts as trials of a finding that exists, and creates none.
      const [existing] = await repo.lockByFingerprints(tx, facts.orgId, [identity.fingerprint]);
      if (!existing) return 'none';
      findingId = existing.id;
    }
    await repo.putContribution(tx, {
      findingId,
      scanId: facts.id,
      orgId: facts.orgId,
      succeeded: group.succeeded,
      trials: group.trials,
      representativeAttemptIds: group.attemptIds,
      firstSeenAt: group.firstSeenAt,
      lastSeenAt: group.lastSeenAt,
      scanCreatedAt: facts.createdAt,
      derivedAt: now,
    });
    const totals = await repo.totals(tx, findingId);
    await repo.setCounters(
      tx,
      findingId,
      {
        occurrences: totals.occurrences,
        trials: totals.trials,
        firstSeenAt: totals.firstSeenAt ?? now,
        lastSeenAt: totals.lastSeenAt ?? now,
        lastScanId: totals.lastScanId ?? facts.id,
        ...counterSeverity(identity, totals.occurrences, totals.trials),
      },
      now,
    );
    return outcome;
  }

  function counterSeverity(identity: FindingIdentity, succeeded: number, trials: number) {
    const baseSeverity = identity.primaryRef ? deps.taxonomy.node(identity.primaryRef)?.baseSeverity : undefined;
    const { score, label } = severityOf({ baseSeverity, succeeded, trials, complexity: identity.complexity as ExploitComplexity });
    return { severityScore: score, severityLabel: label };
  }

  return {
    /** Derives one scan's findings from what is stored now; safe to run any number of times. */
    async deriveScan(orgId: string, scanId: string): Promise<DeriveResult> {
      const result: DeriveResult = { created: 0, updated: 0, reopened: 0 };
      // Read before the attempts: whatever lands after this is derived next time.
      const facts = await deps.sources.scanFacts(orgId, scanId);
      if (!facts) return result;
      const plan = await deps.loadPlan(orgId, scanId);
      if (!plan) return result;
      const groups = groupByFingerprint(facts, plan.probes, await deps.sources.probeStats(orgId, scanId), deps.taxonomy);
      for (let start = 0; start < groups.length; start += DERIVE_BATCH) {
        const now = deps.clock.now();
        await deps.db.transaction().execute(async (tx) => {
          for (const group of groups.slice(start, start + DERIVE_BATCH)) {
            const outcome = await apply(tx, facts, group, now);
            if (outcome !== 'none') result[outcome] += 1;
          }
        });
      }
      await deps.db.transaction().execute((tx) =>
        deps.sources.markSynced(tx, { scanId, orgId, attemptsSeen: facts.attemptsDone, scanStatus: facts.status, derivedAt: deps.clock.now() }),
      );
      if (result.created + result.reopened > 0) deps.logger.info({ scanId, ...result }, 'findings derived');
      return result;
    },
  };
}

export type FindingsDeriver = ReturnType<typeof createFindingsDeriver>;
