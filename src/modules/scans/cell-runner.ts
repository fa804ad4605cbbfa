import { performance } from 'node:perf_hooks';
import { isEgressError } from '../../platform/egress/index.js';
import { isAppError } from '../../platform/errors.js';
import type { ConverterService, LineageEntry } from '../converters/converters.service.js';
import type { ScorerService } from '../scorers/scorers.service.js';
import type { ScoreResult } from '../scorers/scorer.types.js';
import { isTargetCallError, type CallHooks, type TargetCallResult, type TargetLimits } from '../targets/target-call.js';
import { targetCodeOf } from '../targets/target-sender.js';
import { combineVerdicts, type CellOutcome, type SentRequest } from './attempt-evidence.js';
import { cellSeed, chainOf, scorersOf, type FrozenPlan, type PlanCell, type PlanProbe } from './scan-contract.js';

/**
 * One plan cell, start to end: the probe's prompt through the cell's converter chain (seeded per cell,
 * so a re-run converts identically), one limited call to the FROZEN target version, the reversible part
 * of the chain undone on the answer, every scorer, one verdict. Whatever happens becomes evidence,
 * except an abort (the cell stays open for the next run) and a fatal target answer (recorded, then
 * raised so the scan fails fast).
 */

/** What a sender reports for one call: the limiter's result, plus the request as sent if it can tell. */
export type VersionCallResult = TargetCallResult & { request?: SentRequest };

/** Sends a prompt to one (frozen) version of an organisation's target, through the per-target limiter. */
export type SendToVersion = (orgId: string, versionId: string, prompt: string, signal: AbortSignal, hooks?: CallHooks) => Promise<VersionCallResult>;

/** What a scan needs to know of its frozen target version. */
export interface TargetVersionInfo {
  limits: TargetLimits;
  /** Canaries planted in the version (sim:leaky's); a leak of one is a success for the leak scorer. */
  canaries: string[];
  kind: string;
}
export type VersionInfoLoader = (orgId: string, versionId: string) => Promise<TargetVersionInfo>;

/** A fatal answer (401/403/404 or an egress refusal): the cell is stored, then the scan fails. */
export class FatalTargetError extends Error {
  readonly outcome: CellOutcome;
  constructor(message: string, outcome: CellOutcome) {
    super(message);
    this.name = 'FatalTargetError';
    this.outcome = outcome;
  }
}

export interface CellContext {
  orgId: string;
  plan: FrozenPlan;
  target: TargetVersionInfo;
  /** True when an earlier run marked this cell sent and never stored it (its worker died). */
  previouslySent: boolean;
  /** Records "sent" before the first byte leaves, so a re-send after a crash is counted as a retry. */
  markSent(): Promise<void>;
  /** Reserves one more request of the scan's budget for a retry of this cell; false when none is left. */
  mayRetry?: () => boolean;
}

const noScores = (verdict: 'errored', rationale: string, plan: FrozenPlan, probe: PlanProbe): ScoreResult[] =>
  scorersOf(plan, probe).map((scorer) => ({ scorerId: scorer.id, verdict, rationale }));

export function createCellRunner(deps: {
  converters: Pick<ConverterService, 'apply' | 'decode'>;
  scorers: Pick<ScorerService, 'score'>;
  sendToVersion: SendToVersion;
}) {
  async function score(context: CellContext, cell: PlanCell, promptText: string, responseText: string, signal: AbortSignal): Promise<ScoreResult[]> {
    const probe = context.plan.probes[cell.probeIndex]!;
    const chain = chainOf(context.plan, probe, cell.chainIndex);
    let text = responseText;
    if (chain.length > 0) {
      // Undo what can be undone (a base64 answer to a base64 prompt); an undecodable answer is scored as is.
      try {
        text = deps.converters.decode(chain, responseText).text;
      } catch {
        text = responseText;
      }
    }
    const input = { prompt: promptText, response: text, context: { canaries: context.target.canaries, ...(probe.objective ? { objective: probe.objective } : {}) } };
    return Promise.all(
      scorersOf(context.plan, probe).map(async (config) => {
        try {
          return await deps.scorers.score(context.orgId, config, input, signal);
        } catch (error) {
          // Parameters were checked when the scan was created; a refusal now is an errored score, not a crash.
          if (isAppError(error)) return { scorerId: config.id, verdict: 'errored' as const, rationale: 'The scorer refused this input; no verdict.' };
          throw error;
        }
      }),
    );
  }

  /** Runs one cell; null when `signal` aborted it before a result was known (it is not stored). */
  async function run(context: CellContext, cell: PlanCell, signal: AbortSignal): Promise<CellOutcome | null> {
    const { plan } = context;
    const probe = plan.probes[cell.probeIndex]!;
    const chain = chainOf(plan, probe, cell.chainIndex);
    // The earlier run's send is counted here, once: as a retry of the cell and as a request of the budget.
    const priorRetry = context.previouslySent ? 1 : 0;
    const base = { cell, probeId: probe.id, promptOriginal: probe.prompt, request: null, response: null, statusCode: null, latencyMs: 0 };

    let converted: { output: string; lineage: LineageEntry[] };
    try {
      converted = deps.converters.apply(chain, probe.prompt, { seed: cellSeed(plan.seed, cell.index) });
    } catch {
      // Sizes depend on the probe text; a chain too large for this probe is this cell's error, not the scan's.
      return { ...base, lineage: [], promptConverted: probe.prompt, retries: 0, errorCode: 'converter_failed', scores: noScores('errored', 'The converter chain failed on this probe; nothing was sent.', plan, probe), verdict: 'errored', requests: 0 };
    }
    if (signal.aborted) return null;

    // Written while the limiter admits the call; the first byte waits for it (beforeFirstSend).
    const marking = context.markSent();
    marking.catch(() => undefined);
    const started = performance.now();
    const sentBase = { ...base, lineage: converted.lineage, promptConverted: converted.output };
    try {
      const hooks: CallHooks = { beforeFirstSend: () => marking, ...(context.mayRetry ? { mayRetry: context.mayRetry } : {}) };
      const result = await deps.sendToVersion(context.orgId, plan.target.versionId, converted.output, signal, hooks);
      const { exchange } = result;
      const common = {
        ...sentBase,
        request: result.request ?? null,
        response: exchange.body,
        statusCode: exchange.status,
        latencyMs: exchange.latencyMs,
        retries: result.attempts - 1 + priorRetry,
        requests: result.attempts + priorRetry,
      };
      if (exchange.text === null || exchange.status < 200 || exchange.status >= 300) {
        const code = exchange.status >= 200 && exchange.status < 300 ? 'target_no_answer' : 'target_status';
        return { ...common, errorCode: code, scores: noScores('errored', `The target gave no answer to score (status ${exchange.status}).`, plan, probe), verdict: 'errored' };
      }
      const scores = await score(context, cell, converted.output, exchange.text, signal);
      if (signal.aborted) return null;
      return { ...common, errorCode: null, scores, verdict: combineVerdicts(scores.map((entry) => entry.verdict)) };
    } catch (error) {
      if (signal.aborted) return null;
      const latencyMs = performance.now() - started;
      if (isTargetCallError(error)) {
        if (error.code === 'target_call_aborted') return null;
        const exchange = error.exchange;
        const code = isEgressError(error.cause) ? targetCodeOf(error.cause.code) : error.code;
        const outcome: CellOutcome = {
          ...sentBase,
          request: error.request ?? null,
          response: exchange?.body ?? null,
          statusCode: exchange?.status ?? null,
          latencyMs: exchange?.latencyMs ?? latencyMs,
          retries: Math.max(0, error.attempts - 1) + priorRetry,
          requests: error.attempts + priorRetry,
          errorCode: code,
          scores: noScores('errored', `No answer to score: ${error.message}`, plan, probe),
          verdict: 'errored',
        };
        if (error.code === 'target_fatal_status' || error.code === 'target_egress_refused') throw new FatalTargetError(error.message, outcome);
        return outcome;
      }
      if (isEgressError(error)) {
        const code = targetCodeOf(error.code);
        const outcome: CellOutcome = { ...sentBase, latencyMs, retries: priorRetry, requests: 1 + priorRetry, errorCode: code, scores: noScores('errored', 'No answer to score: the target could not be reached.', plan, probe), verdict: 'errored' };
        if (code === 'target_egress_refused') throw new FatalTargetError(error.message, outcome);
        return outcome;
      }
      throw error;
    }
  }

  return { run };
}

export type CellRunner = ReturnType<typeof createCellRunner>;
