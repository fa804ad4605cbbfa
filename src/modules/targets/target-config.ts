import { randomBytes } from 'node:crypto';
import { Value } from 'typebox/value';
import type { BlindIndex } from '../../platform/crypto/index.js';
import { AppError, errors, type FieldError } from '../../platform/errors.js';
import { DEFAULT_TARGET_LIMITS, type TargetLimits } from './target-call.js';
import { checkResponsePath, checkTemplate } from './target-template.js';
import type { CredentialMeta } from './targets.repo.js';
import {
  HttpTargetConfig,
  OpenAiChatConfig,
  SimConfig,
  type CredentialsInputValue,
  type HttpTargetConfigValue,
  type LimitsInputValue,
  type OpenAiChatConfigValue,
  type SimConfigValue,
  type TargetKind,
} from './targets.schemas.js';

/**
 * The rules of a target version's content: which configuration fits which kind, the limits' bounds
 * and defaults, and how credentials are merged from one version to the next (values encrypted,
 * metadata kept: who set each header and when, and a keyed fingerprint).
 */

const FINGERPRINT_PURPOSE = 'targets.credential-fingerprint';
const SIM_FIELDS: Readonly<Record<string, readonly string[]>> = {
  'sim:echo': [],
  'sim:refuse': [],
  'sim:leaky': ['canary'],
  'sim:flaky': ['sequence', 'retryAfterSeconds'],
  'sim:slow': ['delayMs'],
};

// The egress client refuses framing and connection headers at send time (egress-client.ts); refusing
// them when the target is written gives a 422 now instead of a failed test later. content-type is the
// adapter's (the body is always JSON).
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect',
  'proxy-authorization', 'proxy-connection', 'content-type',
]);

const invalid = (pointer: string, detail: string) => errors.validation([{ in: 'body', pointer, detail }]);

/** A fresh canary for sim:leaky: unguessable, so only a real leak can produce it. */
export const newCanary = () => `CANARY-${randomBytes(9).toString('base64url')}`;

/** Checks that `config` is the shape of `kind`; returns it with kind-specific defaults (a canary). */
export function checkConfig(kind: TargetKind, config: unknown, previous?: unknown): unknown {
  const problems: FieldError[] = [];
  if (kind === 'openai-chat') {
    if (!Value.Check(OpenAiChatConfig, config)) throw invalid('/config', 'config is not an openai-chat configuration (baseUrl, model, parameters, systemPrompt, authHeader, authScheme).');
    const header = config.authHeader;
    if (header !== undefined && RESERVED_HEADERS.has(header.toLowerCase())) throw invalid('/config/authHeader', `The ${header} header is set by the service.`);
    return config satisfies OpenAiChatConfigValue;
  }
  if (kind === 'http') {
    if (!Value.Check(HttpTargetConfig, config)) throw invalid('/config', 'config is not an http configuration (method, url, headers, bodyTemplate, responsePath).');
    const http: HttpTargetConfigValue = config;
    if (http.method !== 'GET') {
      const problem = http.bodyTemplate === undefined ? 'bodyTemplate is required for this method.' : checkTemplate(http.bodyTemplate);
      if (problem) problems.push({ in: 'body', pointer: '/config/bodyTemplate', detail: problem });
    }
    for (const name of Object.keys(http.headers ?? {})) {
      if (RESERVED_HEADERS.has(name.toLowerCase())) problems.push({ in: 'body', pointer: `/config/headers/${name}`, detail: `The ${name} header is set by the service.` });
    }
    const pathProblem = http.responsePath === undefined ? undefined : checkResponsePath(http.responsePath);
    if (pathProblem) problems.push({ in: 'body', pointer: '/config/responsePath', detail: pathProblem });
    if (problems.length > 0) throw errors.validation(problems);
    return http;
  }
  if (!Value.Check(SimConfig, config)) throw invalid('/config', 'config is not a simulation configuration.');
  const sim: SimConfigValue = config;
  const allowed = SIM_FIELDS[kind] ?? [];
  for (const field of Object.keys(sim)) {
    if (!allowed.includes(field)) problems.push({ in: 'body', pointer: `/config/${field}`, detail: `${kind} takes no ${field}.` });
  }
  if (problems.length > 0) throw errors.validation(problems);
  // A leaky simulation keeps its canary across versions unless a new one is given.
  if (kind === 'sim:leaky' && sim.canary === undefined) return { ...sim, canary: (previous as SimConfigValue | undefined)?.canary ?? newCanary() };
  return sim;
}

/** Limits over the defaults (or the previous version's), with the cross-field rules checked. */
export function mergeLimits(input: LimitsInputValue | undefined, base: TargetLimits = DEFAULT_TARGET_LIMITS): TargetLimits {
  const limits: TargetLimits = { ...base, ...input };
  const problems: FieldError[] = [];
  if (limits.backoffMaxMs < limits.backoffBaseMs) problems.push({ in: 'body', pointer: '/limits/backoffMaxMs', detail: 'backoffMaxMs must be at least backoffBaseMs.' });
  const overlap = limits.retryStatuses.filter((status) => limits.fatalStatuses.includes(status));
  if (overlap.length > 0) problems.push({ in: 'body', pointer: '/limits/fatalStatuses', detail: `A status cannot be both retried and fatal: ${overlap.join(', ')}.` });
  if (problems.length > 0) throw errors.validation(problems);
  return { ...limits, retryStatuses: [...limits.retryStatuses], fatalStatuses: [...limits.fatalStatuses] };
}

export interface CredentialSet {
  values: Record<string, string>;
  meta: CredentialMeta[];
}

export const EMPTY_CREDENTIALS: CredentialSet = { values: {}, meta: [] };

/**
 * The next version's credentials: the previous ones, with the request's changes applied (a string
 * sets a header, null removes it). openai-chat keeps one key under its current auth header, so
 * renaming the header moves the key with its metadata.
 */
export function mergeCredentials(
  deps: { blindIndex: BlindIndex },
  kind: TargetKind,
  config: unknown,
  previous: CredentialSet,
  input: CredentialsInputValue | undefined,
  actor: { userId: string | null; now: Date },
): CredentialSet {
  const values = { ...previous.values };
  const meta = new Map(previous.meta.map((entry) => [entry.header, entry]));
  const set = (header: string, value: string | null) => {
    if (value === null) {
      delete values[header];
      meta.delete(header);
      return;
    }
    values[header] = value;
    const fingerprint = deps.blindIndex.compute(value, FINGERPRINT_PURPOSE).toString('hex').slice(0, 12);
    meta.set(header, { header, setAt: actor.now.toISOString(), setBy: actor.userId, fingerprint });
  };

  if (kind.startsWith('sim:')) {
    if (input && (input.apiKey !== undefined || input.headers !== undefined)) throw invalid('/credentials', 'Simulations take no credentials.');
    return EMPTY_CREDENTIALS;
  }
  if (kind === 'openai-chat') {
    if (input?.headers !== undefined) throw invalid('/credentials/headers', 'openai-chat takes `apiKey`, not headers.');
    const header = ((config as OpenAiChatConfigValue).authHeader ?? 'authorization').toLowerCase();
    const [oldHeader] = Object.keys(values);
    if (oldHeader !== undefined && oldHeader !== header) {
      values[header] = values[oldHeader]!;
      delete values[oldHeader];
      const moved = meta.get(oldHeader);
      meta.delete(oldHeader);
      if (moved) meta.set(header, { ...moved, header });
    }
    if (input?.apiKey !== undefined) set(header, input.apiKey);
  } else {
    if (input?.apiKey !== undefined) throw invalid('/credentials/apiKey', 'http targets take secret `headers`, not apiKey.');
    const clear = new Set(Object.keys((config as HttpTargetConfigValue).headers ?? {}).map((name) => name.toLowerCase()));
    for (const [name, value] of Object.entries(input?.headers ?? {})) {
      const header = name.toLowerCase();
      if (RESERVED_HEADERS.has(header)) throw invalid(`/credentials/headers/${name}`, `The ${name} header is set by the service.`);
      if (clear.has(header)) throw invalid(`/credentials/headers/${name}`, 'A header is either clear (config.headers) or secret, not both.');
      set(header, value);
    }
    // A header made clear by the new config stops being a secret one.
    for (const header of clear) {
      delete values[header];
      meta.delete(header);
    }
  }
  if (Object.keys(values).length > 16) throw new AppError(422, 'validation_failed', { detail: 'At most 16 secret headers.' });
  return { values, meta: [...meta.values()].sort((a, b) => a.header.localeCompare(b.header)) };
}
