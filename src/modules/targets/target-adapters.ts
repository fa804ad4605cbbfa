import { performance } from 'node:perf_hooks';
import type { EgressClient, EgressMethod } from '../../platform/egress/index.js';
import type { SendOnce, SentRequest, TargetExchange, TargetLimits } from './target-call.js';
import { extractText, fillTemplate } from './target-template.js';
import type { HttpTargetConfigValue, OpenAiChatConfigValue, SimConfigValue, TargetKind } from './targets.schemas.js';
import { simulate } from './target-simulations.js';

/**
 * Adapters: how one exchange with a target is made. Each returns a SendOnce (target-call.ts) that the
 * limiter calls, maybe several times; an adapter never retries and never reaches the network except
 * through the one egress client (checked addresses, no redirects, size and time limits).
 */

/** A target version ready to send to: configuration and decrypted credentials (header name → value). */
export interface SendableTarget {
  id: string;
  versionId: string;
  kind: TargetKind;
  config: unknown;
  limits: TargetLimits;
  credentials: Readonly<Record<string, string>>;
}

export interface ExchangeInput {
  prompt: string;
  /** Fills `{{sessionId}}` in an http template (stateful targets); a fresh id per conversation. */
  sessionId: string;
}

const is2xx = (status: number) => status >= 200 && status < 300;

interface OutboundRequest {
  method: EgressMethod;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** Where the answer is in a 2xx JSON body; undefined: the whole body. */
  responsePath: string | undefined;
}

function sendThroughEgress(egress: EgressClient, limits: TargetLimits, outbound: OutboundRequest): SendOnce {
  return async (signal) => {
    const started = performance.now();
    // The signal ends the socket too, so a cancelled call frees its connection at once.
    const response = await egress.request({
      method: outbound.method,
      url: outbound.url,
      headers: outbound.headers,
      ...(outbound.body === undefined ? {} : { body: outbound.body }),
      // The version's timeout tightens the policy's; it can never loosen it (egress-client.ts).
      timeoutMs: limits.timeoutMs,
      signal,
    });
    const latencyMs = Math.round(performance.now() - started);
    const exchange: TargetExchange = { status: response.status, headers: response.headers, body: response.body, text: null, latencyMs };
    if (!is2xx(response.status)) return exchange;
    const extracted = extractText(response.body, outbound.responsePath);
    return { ...exchange, text: extracted.text, ...(extracted.error ? { extractionError: extracted.error } : {}) };
  };
}

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };

/** OpenAI chat completions: POST {baseUrl}/chat/completions, answer at choices[0].message.content. */
function openAiChatRequest(config: OpenAiChatConfigValue, credentials: Readonly<Record<string, string>>, input: ExchangeInput): OutboundRequest {
  const parameters = config.parameters ?? {};
  const messages = [...(config.systemPrompt === undefined ? [] : [{ role: 'system', content: config.systemPrompt }]), { role: 'user', content: input.prompt }];
  const body = {
    model: config.model,
    messages,
    ...(parameters.temperature === undefined ? {} : { temperature: parameters.temperature }),
    ...(parameters.maxTokens === undefined ? {} : { max_tokens: parameters.maxTokens }),
    ...(parameters.topP === undefined ? {} : { top_p: parameters.topP }),
    ...(parameters.frequencyPenalty === undefined ? {} : { frequency_penalty: parameters.frequencyPenalty }),
    ...(parameters.presencePenalty === undefined ? {} : { presence_penalty: parameters.presencePenalty }),
    ...(parameters.seed === undefined ? {} : { seed: parameters.seed }),
    ...(parameters.stop === undefined ? {} : { stop: parameters.stop }),
  };
  const headers: Record<string, string> = { ...JSON_HEADERS };
  const header = (config.authHeader ?? 'authorization').toLowerCase();
  const key = credentials[header];
  if (key !== undefined) headers[header] = config.authScheme === 'raw' ? key : `Bearer ${key}`;
  return {
    method: 'POST',
    url: `${config.baseUrl.replace(/\/+$/, '')}/chat/completions`,
    headers,
    body: JSON.stringify(body),
    responsePath: '$.choices[0].message.content',
  };
}

/** Any JSON HTTP API: the template filled leaf by leaf, clear headers then secret ones. */
function httpRequest(config: HttpTargetConfigValue, credentials: Readonly<Record<string, string>>, input: ExchangeInput): OutboundRequest {
  const headers: Record<string, string> = { accept: 'application/json' };
  for (const [name, value] of Object.entries(config.headers ?? {})) headers[name.toLowerCase()] = value;
  for (const [name, value] of Object.entries(credentials)) headers[name] = value;
  const withBody = config.method !== 'GET' && config.bodyTemplate !== undefined;
  if (withBody) headers['content-type'] = 'application/json';
  return {
    method: config.method,
    url: config.url,
    headers,
    ...(withBody ? { body: JSON.stringify(fillTemplate(config.bodyTemplate, input)) } : {}),
    responsePath: config.responsePath,
  };
}

/**
 * The request `createSendOnce` sends for the same input, for evidence: every header whose value carries a
 * credential is replaced by `[redacted]`. Simulations send nothing over the network: undefined.
 */
export function describeRequest(target: SendableTarget, input: ExchangeInput): SentRequest | undefined {
  const outbound =
    target.kind === 'openai-chat'
      ? openAiChatRequest(target.config as OpenAiChatConfigValue, target.credentials, input)
      : target.kind === 'http'
        ? httpRequest(target.config as HttpTargetConfigValue, target.credentials, input)
        : undefined;
  if (!outbound) return undefined;
  const secrets = Object.values(target.credentials).filter((value) => value.length > 0);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(outbound.headers)) headers[name] = secrets.some((secret) => value.includes(secret)) ? '[redacted]' : value;
  return { method: outbound.method, url: outbound.url, headers, ...(outbound.body === undefined ? {} : { body: outbound.body }) };
}

/** The one exchange for a target and a prompt; simulations answer in-process, everything else through egress. */
export function createSendOnce(egress: EgressClient, target: SendableTarget, input: ExchangeInput): SendOnce {
  switch (target.kind) {
    case 'openai-chat':
      return sendThroughEgress(egress, target.limits, openAiChatRequest(target.config as OpenAiChatConfigValue, target.credentials, input));
    case 'http':
      return sendThroughEgress(egress, target.limits, httpRequest(target.config as HttpTargetConfigValue, target.credentials, input));
    default:
      return (signal) => simulate(target.kind, target.versionId, target.config as SimConfigValue, target.limits, input.prompt, signal);
  }
}
