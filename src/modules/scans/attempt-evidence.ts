import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { AttemptsTable, AttemptVerdict } from '../../db/schema.js';
import type { LineageEntry } from '../converters/converters.service.js';
import { toWtf8 } from '../converters/text.js';
import type { ScoreResult } from '../scorers/scorer.types.js';
import { EVIDENCE_MAX_BYTES, type PlanCell } from './scan-contract.js';
import type { SentRequest } from '../targets/target-call.js';

/**
 * Evidence of one plan cell (issue 6 §4, DESIGN §9 "byte-exact evidence"): the exact bytes of the
 * prompts and the response, capped at EVIDENCE_MAX_BYTES with the full length and SHA-256 kept beside
 * them, and the request as sent with its secrets redacted. Pure: the repository seals and stores it.
 */

/** A request as a target sender reports it (the sender should already have replaced credential values). */
/** The request as the send path reports it (credential values already replaced). */
export type { SentRequest };

/** What the cell runner learned about one cell; becomes one attempt row. */
export interface CellOutcome {
  cell: PlanCell;
  probeId: string;
  lineage: LineageEntry[];
  promptOriginal: string;
  promptConverted: string;
  /** Null when nothing was sent (a converter failed) or the sender did not report its request. */
  request: SentRequest | null;
  /** The exact response bytes of the last exchange, when there was one. */
  response: Buffer | null;
  statusCode: number | null;
  latencyMs: number;
  /** Re-sends: the limiter's retries plus one when an earlier run had already sent this cell. */
  retries: number;
  errorCode: string | null;
  scores: ScoreResult[];
  verdict: AttemptVerdict;
  /** Requests this cell cost the target's budget (every exchange, retries included). */
  requests: number;
}

/** Bytes as stored: at most EVIDENCE_MAX_BYTES of them, with the full length and hash. */
export interface CappedBytes {
  stored: Buffer;
  sha256: Buffer;
  length: number;
  truncated: boolean;
}

export function capBytes(bytes: Buffer, max = EVIDENCE_MAX_BYTES): CappedBytes {
  const truncated = bytes.length > max;
  return {
    stored: truncated ? bytes.subarray(0, max) : bytes,
    sha256: createHash('sha256').update(bytes).digest(),
    length: bytes.length,
    truncated,
  };
}

/**
 * Prompts are JavaScript strings and may hold lone surrogates (converters produce them on purpose):
 * WTF-8 keeps them as their 3-byte form, where UTF-8 encoding would silently replace them with U+FFFD.
 */
export const promptBytes = (text: string): Buffer => toWtf8(text);

// Header names whose values are credentials in every API we know; a sender redacts its own credential
// headers too, this is the second line (a template author may have put a token in a clear header).
const SECRET_HEADER = /auth|cookie|token|secret|api[-_]?key|password|session|signature|credential/i;
export const REDACTED = '[redacted]';

/** The URL with user info dropped and every query value replaced: query strings carry keys too often. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return REDACTED;
  }
  parsed.username = '';
  parsed.password = '';
  const names = [...parsed.searchParams.keys()];
  parsed.search = '';
  for (const name of names) parsed.searchParams.append(name, REDACTED);
  return parsed.toString();
}

export interface RedactedRequest {
  reported: true;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
  bodyBytes: number;
  /** SHA-256 (hex) of the full body as sent (WTF-8). */
  bodySha256: string | null;
  bodyTruncated: boolean;
}

export function redactRequest(request: SentRequest): RedactedRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name] = SECRET_HEADER.test(name) ? REDACTED : value;
  if (request.body === undefined) return { reported: true, method: request.method, url: redactUrl(request.url), headers, body: null, bodyBytes: 0, bodySha256: null, bodyTruncated: false };
  const capped = capBytes(promptBytes(request.body));
  return {
    reported: true,
    method: request.method,
    url: redactUrl(request.url),
    headers,
    // A cut may split a character: the lossy decode of a capped body is a view, the hash is the proof.
    body: capped.truncated ? capped.stored.toString('utf8') : request.body,
    bodyBytes: capped.length,
    bodySha256: capped.sha256.toString('hex'),
    bodyTruncated: capped.truncated,
  };
}

/**
 * An attempt row before sealing: the table's columns as stored, except the encrypted ones in the clear
 * (the request and scores as values; the repository seals and serialises them).
 */
export type AttemptRecord = Omit<Selectable<AttemptsTable>, 'converterLineage' | 'requestRedacted' | 'scores' | 'createdAt'> & {
  converterLineage: LineageEntry[];
  /** `{ reported: false }` when nothing was sent (a converter failed) or the sender did not say what it sent. */
  requestRedacted: RedactedRequest | { reported: false };
  scores: ScoreResult[];
};

/**
 * The row for a cell. The prompt hash and size describe the converted prompt (what reached the target);
 * the original prompt's hash is the lineage's first input hash.
 */
export function toAttemptRecord(id: string, scan: { orgId: string; scanId: string }, outcome: CellOutcome): AttemptRecord {
  const original = capBytes(promptBytes(outcome.promptOriginal));
  const converted = capBytes(promptBytes(outcome.promptConverted));
  const response = outcome.response === null ? null : capBytes(outcome.response);
  return {
    id,
    orgId: scan.orgId,
    scanId: scan.scanId,
    cellIndex: outcome.cell.index,
    probeId: outcome.probeId,
    chainIndex: outcome.cell.chainIndex,
    sampleIndex: outcome.cell.sampleIndex,
    converterLineage: outcome.lineage,
    promptOriginal: original.stored,
    promptConverted: converted.stored,
    promptSha256: converted.sha256,
    promptBytes: converted.length,
    promptTruncated: converted.truncated || original.truncated,
    requestRedacted: outcome.request === null ? { reported: false } : redactRequest(outcome.request),
    response: response?.stored ?? null,
    responseSha256: response?.sha256 ?? null,
    responseBytes: response?.length ?? null,
    responseTruncated: response?.truncated ?? false,
    statusCode: outcome.statusCode,
    latencyMs: Math.max(0, Math.round(outcome.latencyMs)),
    retries: outcome.retries,
    errorCode: outcome.errorCode === null ? null : outcome.errorCode.slice(0, 100),
    scores: outcome.scores,
    verdict: outcome.verdict,
  };
}

/**
 * One verdict from several scorers: an attack that any scorer saw work succeeded; otherwise a scorer
 * that could not run makes the cell errored, one that could not tell makes it inconclusive, and only
 * when every scorer positively saw resistance is the cell resisted (nothing uncertain counts as safe).
 */
export function combineVerdicts(verdicts: readonly AttemptVerdict[]): AttemptVerdict {
  if (verdicts.length === 0) return 'inconclusive';
  if (verdicts.includes('succeeded')) return 'succeeded';
  if (verdicts.includes('errored')) return 'errored';
  if (verdicts.includes('inconclusive')) return 'inconclusive';
  return 'resisted';
}
