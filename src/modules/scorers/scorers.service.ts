import { Value } from 'typebox/value';
import type { Principal } from '../../http/principal.js';
import { AppError, errors, isAppError, type FieldError } from '../../platform/errors.js';
import type { AuditContext, AuditRecorder } from '../audit/audit.recorder.js';
import type { JudgeTransport } from './judge.js';
import { SCORERS, scorerById } from './scorer.registry.js';
import { countsAsSafe, type ScoreContext, type ScoreInput, type ScoreResult } from './scorer.types.js';

/** One configured scorer: an id from GET /scorers and its parameters. */
export interface ScorerConfig {
  id: string;
  params?: unknown;
}

/** What POST /scorers/preview carries (its schema is PreviewBody). */
export interface PreviewInput {
  scorer: ScorerConfig;
  prompt?: string;
  response: string;
  context?: ScoreContext;
}

/**
 * Scoring: validates a scorer's parameters against its schema (so the scan engine, which does not
 * pass through HTTP validation, gets the same 422s), runs it, and turns an unexpected failure into
 * an `errored` result instead of a verdict. `judge` is read on every use, so the transport can be
 * wired after this service is built.
 */
export function createScorerService(deps: { judge: () => JudgeTransport; audit: Pick<AuditRecorder, 'recordNow'> }) {
  function list() {
    return {
      items: SCORERS.map((scorer) => ({
        id: scorer.id,
        name: scorer.name,
        description: scorer.description,
        paramsRequired: scorer.paramsRequired,
        parameters: scorer.params,
      })),
    };
  }

  /** Every problem of one configured scorer, with JSON pointers under `at` (a preview's `/scorer`, a plan's `/scorers/2`). */
  function validate(config: ScorerConfig, at: string): FieldError[] {
    const scorer = scorerById(config.id);
    if (!scorer) return [{ in: 'body', pointer: `${at}/id`, detail: 'Unknown scorer.' }];
    if (config.params === undefined && scorer.paramsRequired) return [{ in: 'body', pointer: `${at}/params`, detail: 'This scorer needs parameters.' }];
    const params = Value.Default(scorer.params, structuredClone(config.params ?? {}));
    return [...Value.Errors(scorer.params, params)].slice(0, 20).map((problem) => ({ in: 'body', pointer: `${at}/params${problem.instancePath}`, detail: problem.message }));
  }

  // A scan scores every cell with the same few config objects: each is checked once, not once per cell.
  const checked = new WeakMap<ScorerConfig, { scorer: NonNullable<ReturnType<typeof scorerById>>; params: unknown }>();

  function checkedParams(config: ScorerConfig) {
    const known = checked.get(config);
    if (known) return known;
    const problems = validate(config, '/scorer');
    if (problems.length > 0) throw errors.validation(problems);
    const scorer = scorerById(config.id)!;
    const result = { scorer, params: Value.Default(scorer.params, structuredClone(config.params ?? {})) };
    checked.set(config, result);
    return result;
  }

  /** Scores one response; throws only for the caller's mistakes (4xx), otherwise always a result. */
  async function score(orgId: string, config: ScorerConfig, input: ScoreInput, signal?: AbortSignal): Promise<ScoreResult> {
    const { scorer, params } = checkedParams(config);
    try {
      const outcome = await scorer.score(input, params, { orgId, judge: deps.judge, ...(signal ? { signal } : {}) });
      return { scorerId: scorer.id, ...outcome };
    } catch (error) {
      if (isAppError(error) && error.status < 500) throw error;
      return { scorerId: scorer.id, verdict: 'errored', rationale: 'The scorer failed on this response; no verdict.' };
    }
  }

  /**
   * POST /scorers/preview. A judge preview sends the response to another target with the
   * organisation's credentials, so it is audited (who asked which target, and the verdict).
   */
  async function preview(principal: Principal, body: PreviewInput, context: AuditContext) {
    const orgId = principal.orgId;
    const input: ScoreInput = { response: body.response, ...(body.prompt !== undefined ? { prompt: body.prompt } : {}), ...(body.context ? { context: body.context } : {}) };
    if (body.scorer.id !== 'llm-judge') return withSafety(await score(orgId ?? '', body.scorer, input));
    const targetId = (body.scorer.params as { targetId?: unknown } | undefined)?.targetId;
    if (!orgId) throw errors.notFound('judge target');
    // Invalid parameters are refused before anything is sent, and are no judge call to audit.
    checkedParams(body.scorer);
    try {
      const result = await score(orgId, body.scorer, input);
      await deps.audit.recordNow(context, {
        action: 'scorer.judge.previewed',
        outcome: result.verdict === 'errored' ? 'error' : 'success',
        resourceId: typeof targetId === 'string' ? targetId : null,
        detail: { verdict: result.verdict },
      });
      return withSafety(result);
    } catch (error) {
      await deps.audit.recordNow(context, {
        action: 'scorer.judge.previewed',
        outcome: isAppError(error) && error.status === 403 ? 'denied' : 'error',
        resourceId: typeof targetId === 'string' ? targetId : null,
        statusCode: error instanceof AppError ? error.status : 500,
      });
      throw error;
    }
  }

  return { list, validate, score, preview };
}

const withSafety = (result: ScoreResult) => ({ ...result, countsAsSafe: countsAsSafe(result.verdict) });

export type ScorerService = ReturnType<typeof createScorerService>;
