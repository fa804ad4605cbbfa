import type { ScanStatus } from '../../db/schema.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { ChainStep } from '../converters/converters.service.js';
import type { ExploitComplexity } from '../probes/probe-contract.js';
import type { ScorerConfig } from '../scorers/scorers.service.js';

/**
 * The contract between the parts of the scan engine (issue 6): the frozen plan and how its cells are
 * numbered (scan service), the chunk job (executor), and the event log Server-Sent Events follow.
 */

/** One probe as frozen into a plan: its content is copied, so a later library change alters no scan. */
export interface PlanProbe {
  id: string;
  name: string;
  category: string;
  prompt: string;
  /** What the attack tries to achieve (the LLM judge's rubric, the finding's normalised objective). */
  objective?: string;
  /** Where it came from: a library probe at a version, a dataset item, or inline in the request. */
  source?: { kind: 'library'; version: string } | { kind: 'dataset'; datasetId: string; itemId: string } | { kind: 'inline' };
  /** Findings deduplicate per family (variants of one attack share it); defaults to the probe id. */
  family?: string;
  /** Taxonomy refs (`owasp-llm-2026:LLM08`, `mitre-atlas:AML.T0051`, ...): what a finding is mapped to. */
  taxonomy?: string[];
  /** Exploit complexity, the findings severity policy's third factor (default medium). */
  complexity?: ExploitComplexity;
  /** The probe's own scorers, used when the plan has none (`plan.scorers` empty). */
  scorers?: ScorerConfig[];
  /** The probe's own converter chain, used when `plan.chainSource` is 'probe'. */
  converters?: ChainStep[];
}

/** What a scan runs, fixed at creation; its SHA-256 over canonical JSON is the scan's plan hash. */
export interface FrozenPlan {
  formatVersion: 1;
  target: { id: string; versionId: string; kind: string };
  probes: PlanProbe[];
  /** Converter chains; an empty chain sends the probe unconverted. */
  chains: ChainStep[][];
  /** 'probe': one chain per cell, each probe's own `converters` (the request gave no chains); default 'plan'. */
  chainSource?: 'plan' | 'probe';
  /** Empty: every probe is judged by its own `scorers`. */
  scorers: ScorerConfig[];
  /** Repetitions of every probe × chain pair (answers are not deterministic). */
  samples: number;
  seed: number;
  /** Cells per chunk: about 10 s of work at the target's limits. */
  chunkSize: number;
}

/** The scorers a probe's cells are judged by: the plan's, or (a plan without any) the probe's own. */
export const scorersOf = (plan: Pick<FrozenPlan, 'scorers'>, probe: PlanProbe): ScorerConfig[] => (plan.scorers.length > 0 ? plan.scorers : (probe.scorers ?? []));

/** The converter chain of a cell: the plan's chain at `chainIndex`, or the probe's own (`chainSource` 'probe'). */
export const chainOf = (plan: Pick<FrozenPlan, 'chains' | 'chainSource'>, probe: PlanProbe, chainIndex: number): ChainStep[] =>
  plan.chainSource === 'probe' ? (probe.converters ?? []) : plan.chains[chainIndex]!;

/** A plan cell's coordinates. Cell order: probe-major, then chain, then sample. */
export interface PlanCell {
  index: number;
  probeIndex: number;
  chainIndex: number;
  sampleIndex: number;
}

export const cellCount = (plan: Pick<FrozenPlan, 'probes' | 'chains' | 'samples'>): number =>
  plan.probes.length * plan.chains.length * plan.samples;

export function cellAt(plan: Pick<FrozenPlan, 'chains' | 'samples'>, index: number): PlanCell {
  const sampleIndex = index % plan.samples;
  const pair = Math.floor(index / plan.samples);
  return { index, probeIndex: Math.floor(pair / plan.chains.length), chainIndex: pair % plan.chains.length, sampleIndex };
}

/** A cell's own converter seed: the same plan seed replays every cell exactly. */
export const cellSeed = (planSeed: number, index: number): number => (Math.imul(planSeed ^ 0x9e3779b9, 0x85ebca6b) + index) >>> 0;

/** Stored prompt and response bytes are capped here; the full length and SHA-256 are kept beside them. */
export const EVIDENCE_MAX_BYTES = 1_048_576;

/** The queue job that runs one chunk (ids only in payloads: DESIGN §5). */
export const RUN_CHUNK_JOB = 'scan.run-chunk';
export interface RunChunkPayload {
  scanId: string;
  orgId: string;
  chunkIndex: number;
}
/** One job id per chunk run slot, so a re-enqueue of a chunk already queued is a no-op. */
export const chunkJobId = (scanId: string, chunkIndex: number, run: number) => `scan-${scanId}-c${chunkIndex}-r${run}`;

export const TERMINAL_STATUSES: ReadonlySet<ScanStatus> = new Set(['completed', 'cancelled', 'failed', 'partial']);

/** Event types of a scan's log; data holds counts and statuses only, never prompt or response content. */
export type ScanEventType = 'status' | 'progress';

/**
 * Told when a scan's stored attempts may have changed what it proves: after a chunk is done and after
 * every status move (terminal ones included). Best effort and idempotent (the findings module derives
 * from the stored attempts, and a periodic sweep catches a lost call); it must not throw.
 */
export type ScanSettledListener = (scan: { orgId: string; scanId: string; status: ScanStatus | 'chunk-done' }) => void;

/** Appends to the scan's event log inside the caller's transaction; `notify` after COMMIT wakes followers. */
export interface ScanEventLog {
  append(tx: Tx, event: { scanId: string; orgId: string; type: ScanEventType; data: Record<string, unknown> }): Promise<number>;
  notify(scanId: string): Promise<void>;
}
