import { performance } from 'node:perf_hooks';
import type { EgressClient, EgressErrorCode } from '../../platform/egress/index.js';
import { isEgressError } from '../../platform/egress/index.js';
import { AppError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { isTargetCallError, TargetCallError, type SentRequest, type CallHooks, type TargetCallResult, type TargetLimiter } from './target-call.js';
import { createSendOnce, describeRequest, type SendableTarget } from './target-adapters.js';
import { isSimulated } from './targets.schemas.js';
import type { JudgeTransport } from '../scorers/judge.js';

/**
 * The one send path to a target: the current version is loaded with its credentials, the adapter
 * makes each exchange (through the egress client or in-process for simulations) and the per-target
 * limiter decides when and whether to try again. `POST /targets/{id}/test`, the LLM judge and later
 * the scan engine all come through here.
 */

/** What `POST /targets/{id}/test` sends: harmless, and easy to recognise in a target's logs. */
export const TEST_PROMPT = 'This is a connectivity test from ViolentUTF. Please reply with the single word: pong.';
/** The report shows at most this much of the answer. */
export const REPORT_TEXT_CHARS = 2_000;


export interface TestReport {
  ok: boolean;
  simulated: boolean;
  versionId: string;
  status: number | null;
  latencyMs: number;
  text: string | null;
  truncated: boolean;
  attempts: number;
  error?: { code: string; detail: string };
}

// Egress refusals are configuration problems, never retried (target-call.ts: target_egress_refused).
const REFUSED: ReadonlySet<EgressErrorCode> = new Set(['egress_denied_address', 'egress_invalid_url', 'egress_invalid_request']);

/** An egress failure under a target code (stable, safe message: egress-error.ts keeps URLs out). */
export function targetCodeOf(code: EgressErrorCode): string {
  if (REFUSED.has(code)) return 'target_egress_refused';
  if (code === 'egress_timeout') return 'target_timeout';
  if (code === 'egress_response_too_large') return 'target_response_too_large';
  return 'target_unreachable';
}

/** At most `max` code points: a cut never splits a surrogate pair. */
function bounded(text: string, max: number): { text: string; truncated: boolean } {
  if (text.length <= max) return { text, truncated: false };
  let out = '';
  let count = 0;
  for (const char of text) {
    if (count === max) return { text: out, truncated: true };
    out += char;
    count += 1;
  }
  return { text: out, truncated: false };
}

/** What a scan needs to know of its frozen version besides sending to it. */
export interface VersionInfo {
  kind: SendableTarget['kind'];
  limits: SendableTarget['limits'];
  /** Strings planted in the target (a leaky simulation's canary): their appearance in an answer is a leak. */
  canaries: string[];
}

/** Versions are immutable, so a decrypted one may be reused; a short life keeps credentials out of memory when idle. */
const VERSION_CACHE_MS = 60_000;
const VERSION_CACHE_ENTRIES = 256;

export function createTargetSender(deps: {
  egress: EgressClient;
  limiter: TargetLimiter;
  targets: {
    sendable(orgId: string, id: string): Promise<SendableTarget>;
    sendableVersion(orgId: string, versionId: string): Promise<SendableTarget>;
  };
  clock: { nowMs(): number };
}) {
  const versions = new Map<string, { target: Promise<SendableTarget>; expiresAtMs: number }>();

  /** One load per version and minute however many cells of a chunk ask (a failed load is not kept). */
  function versionOf(orgId: string, versionId: string): Promise<SendableTarget> {
    const key = `${orgId}:${versionId}`;
    const now = deps.clock.nowMs();
    const cached = versions.get(key);
    if (cached && cached.expiresAtMs > now) return cached.target;
    if (versions.size >= VERSION_CACHE_ENTRIES) {
      for (const [old, entry] of versions) if (entry.expiresAtMs <= now || versions.size >= VERSION_CACHE_ENTRIES) versions.delete(old);
    }
    const target = deps.targets.sendableVersion(orgId, versionId);
    versions.set(key, { target, expiresAtMs: now + VERSION_CACHE_MS });
    target.catch(() => versions.delete(key));
    return target;
  }

  async function call(target: SendableTarget, prompt: string, signal: AbortSignal, hooks: CallHooks = {}): Promise<TargetCallResult & { request?: SentRequest }> {
    const input = { prompt, sessionId: newId() };
    const send = createSendOnce(deps.egress, target, input);
    const request = describeRequest(target, input);
    try {
      return { ...(await deps.limiter.call(target.id, target.limits, send, { ...hooks, signal })), ...(request ? { request } : {}) };
    } catch (error) {
      // An egress refusal a limiter did not classify still reaches the caller as target_egress_refused.
      const failure = isEgressError(error) && REFUSED.has(error.code) ? new TargetCallError('target_egress_refused', error.message, { attempts: 1, cause: error }) : error;
      if (isTargetCallError(failure)) failure.request = request;
      throw failure;
    }
  }

  return {
    /** Sends one prompt to the current version of an organisation's target; 404 for any other org's. */
    async send(orgId: string, targetId: string, prompt: string, signal: AbortSignal = new AbortController().signal) {
      const target = await deps.targets.sendable(orgId, targetId);
      return { versionId: target.versionId, result: await call(target, prompt, signal) };
    },

    /** Sends one prompt to an exact version (a scan's frozen one); the limiter is the target's, shared by all its versions. */
    sendToVersion: async (orgId: string, versionId: string, prompt: string, signal: AbortSignal, hooks?: CallHooks): Promise<TargetCallResult & { request?: SentRequest }> =>
      call(await versionOf(orgId, versionId), prompt, signal, hooks),

    versionInfo: async (orgId: string, versionId: string): Promise<VersionInfo> => {
      const target = await versionOf(orgId, versionId);
      const canary = target.kind === 'sim:leaky' ? (target.config as { canary?: string }).canary : undefined;
      return { kind: target.kind, limits: target.limits, canaries: canary ? [canary] : [] };
    },

    /** One harmless prompt; every outcome of the exchange is a report (a fatal 401 is ok: false, not a 500). */
    async test(orgId: string, targetId: string): Promise<TestReport> {
      const target = await deps.targets.sendable(orgId, targetId);
      const base = { simulated: isSimulated(target.kind), versionId: target.versionId };
      const started = performance.now();
      try {
        const { exchange, attempts } = await call(target, TEST_PROMPT, new AbortController().signal);
        const shown = exchange.text === null ? { text: null, truncated: false } : bounded(exchange.text, REPORT_TEXT_CHARS);
        const ok = exchange.status >= 200 && exchange.status < 300 && exchange.text !== null;
        const error = ok ? undefined : { code: 'target_no_answer', detail: exchange.extractionError ?? `The target answered ${exchange.status} without an answer.` };
        return { ok, ...base, status: exchange.status, latencyMs: exchange.latencyMs, ...shown, attempts, ...(error ? { error } : {}) };
      } catch (error) {
        const latencyMs = Math.round(performance.now() - started);
        if (isTargetCallError(error)) {
          const cause = error.cause;
          // The egress cause says more than the limiter's code (an oversized body is refused, not unreachable).
          const code = isEgressError(cause) ? targetCodeOf(cause.code) : error.code;
          return { ok: false, ...base, status: error.exchange?.status ?? null, latencyMs: error.exchange?.latencyMs ?? latencyMs, text: null, truncated: false, attempts: error.attempts, error: { code, detail: error.message } };
        }
        if (isEgressError(error)) {
          return { ok: false, ...base, status: null, latencyMs, text: null, truncated: false, attempts: 1, error: { code: targetCodeOf(error.code), detail: error.message } };
        }
        throw error;
      }
    },

    judgeTransport(): JudgeTransport {
      return {
        ask: async (orgId, targetId, prompt, signal) => {
          const target = await deps.targets.sendable(orgId, targetId);
          const { exchange } = await call(target, prompt, signal ?? new AbortController().signal);
          if (exchange.text === null || exchange.status < 200 || exchange.status >= 300) {
            throw new AppError(502, 'judge_no_answer', { detail: exchange.extractionError ?? `The judge target answered ${exchange.status} without an answer.` });
          }
          return exchange.text;
        },
      };
    },
  };
}

export type TargetSender = ReturnType<typeof createTargetSender>;
