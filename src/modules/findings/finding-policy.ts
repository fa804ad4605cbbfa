import { createHash } from 'node:crypto';
import type { FindingStatus, SeverityLabel } from '../../db/schema.js';
import type { ExploitComplexity } from '../probes/probe-contract.js';

/**
 * The findings rules that need no database (docs/findings-severity.md): the fingerprint that
 * deduplicates findings, the severity policy, and the triage lifecycle.
 */

/** Base severity of a finding whose primary OWASP node has none (or that maps to no node). */
export const DEFAULT_BASE_SEVERITY = 5;

export const COMPLEXITY_FACTOR: Readonly<Record<ExploitComplexity, number>> = { low: 1, medium: 0.85, high: 0.7 };

/**
 * score = base × (0.6 + 0.4 × succeeded/trials) × complexity factor, rounded to one decimal and
 * clamped to 0-10. A finding always has a success, so the rate factor is at least 0.6: a rare success
 * of a severe attack still matters; a reliable one matters most.
 */
export function severityOf(input: { baseSeverity: number | undefined; succeeded: number; trials: number; complexity: ExploitComplexity }): { score: number; label: SeverityLabel } {
  const base = Number.isFinite(input.baseSeverity) ? (input.baseSeverity as number) : DEFAULT_BASE_SEVERITY;
  const rate = input.trials > 0 ? Math.min(1, Math.max(0, input.succeeded / input.trials)) : 1;
  const raw = base * (0.6 + 0.4 * rate) * COMPLEXITY_FACTOR[input.complexity];
  const score = Math.min(10, Math.max(0, Math.round(raw * 10) / 10));
  return { score, label: severityLabelOf(score) };
}

export function severityLabelOf(score: number): SeverityLabel {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'info';
}

/** Lower case, punctuation stripped, whitespace collapsed: rewordings by case or commas are one objective. */
export const normaliseObjective = (objective: string): string =>
  objective
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, ' ')
    .replace(/\s+/gu, ' ')
    .trim()
    .slice(0, 1000);

/** SHA-256 (hex) over the four identifying parts, length-prefixed by JSON so no two tuples collide. */
export const fingerprintOf = (parts: { targetId: string; family: string; primaryRef: string | null; objective: string }): string =>
  createHash('sha256')
    .update(JSON.stringify([parts.targetId, parts.family, parts.primaryRef ?? '', normaliseObjective(parts.objective)]), 'utf8')
    .digest('hex');

/** The triage moves a user may make; anything else is a 409. `reopened` by hand only from `fixed`. */
export const TRANSITIONS: Readonly<Record<FindingStatus, readonly FindingStatus[]>> = {
  new: ['confirmed', 'false-positive', 'accepted-risk'],
  confirmed: ['in-progress', 'fixed', 'accepted-risk', 'false-positive'],
  'in-progress': ['fixed', 'accepted-risk', 'false-positive'],
  reopened: ['confirmed', 'in-progress', 'fixed', 'accepted-risk', 'false-positive'],
  fixed: ['reopened'],
  'accepted-risk': [],
  'false-positive': [],
};

export const FINDING_STATUSES = Object.keys(TRANSITIONS) as FindingStatus[];
export const SEVERITY_LABELS: readonly SeverityLabel[] = ['critical', 'high', 'medium', 'low', 'info'];

export const canTransition = (from: FindingStatus, to: FindingStatus): boolean => TRANSITIONS[from].includes(to);
