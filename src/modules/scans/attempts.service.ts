import type { AttemptVerdict } from '../../db/schema.js';
import type { Principal } from '../../http/principal.js';
import { decodeCursor, toPage, type PageOf } from '../../http/pagination.js';
import { AppError, errors } from '../../platform/errors.js';
import type { AttemptContentRow, AttemptRow, AttemptsQueryRepo } from './attempts-query.repo.js';
import { promptBytes, type RedactedRequest } from './attempt-evidence.js';

/** Rationales are shown in lists; a scorer that wrote an essay gets cut here (the evidence has it whole). */
export const MAX_RATIONALE_CHARS = 2000;

const VERDICTS: ReadonlySet<string> = new Set<AttemptVerdict>(['succeeded', 'resisted', 'errored', 'inconclusive']);

export interface BodyFactsView {
  sha256: string;
  bytes: number;
  truncated: boolean;
}

export interface AttemptView {
  id: string;
  scanId: string;
  cellIndex: number;
  probeId: string;
  chainIndex: number;
  sampleIndex: number;
  converterLineage: unknown[];
  prompt: BodyFactsView;
  response: BodyFactsView | null;
  statusCode: number | null;
  latencyMs: number;
  retries: number;
  errorCode: string | null;
  verdict: AttemptVerdict;
  scores: Array<{ scorerId: string; verdict: AttemptVerdict; rationale: string }>;
  createdAt: string;
}

export interface ContentView {
  base64: string;
  text: string;
  storedBytes: number;
}

export interface RequestView {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: ContentView | null;
  bodyBytes: number;
  bodySha256: string | null;
  bodyTruncated: boolean;
}

export interface EvidenceView {
  attempt: AttemptView;
  promptOriginal: ContentView;
  promptConverted: ContentView;
  request: RequestView | null;
  response: ContentView | null;
  scoreDetails: unknown;
}

/** The opened scores as the writer sealed them (ScoreResult[]); anything else is corrupt evidence. */
function scoresOf(opened: unknown): unknown[] {
  if (!Array.isArray(opened)) throw new AppError(500, 'evidence_corrupt', { detail: 'The stored scores of this attempt cannot be read.' });
  return opened;
}

/** Only the fields a list may show: scorer id, verdict, rationale (evidence spans stay with the evidence). */
const scoreSummaries = (scores: unknown[]): AttemptView['scores'] =>
  scores.flatMap((score) => {
    if (typeof score !== 'object' || score === null) return [];
    const { scorerId, verdict, rationale } = score as Record<string, unknown>;
    if (typeof scorerId !== 'string' || typeof verdict !== 'string' || !VERDICTS.has(verdict)) return [];
    const text = typeof rationale === 'string' ? rationale : '';
    return [{ scorerId, verdict: verdict as AttemptVerdict, rationale: text.length > MAX_RATIONALE_CHARS ? `${text.slice(0, MAX_RATIONALE_CHARS - 1)}…` : text }];
  });

function toAttemptView(row: AttemptRow, scores: unknown[]): AttemptView {
  const responseFacts =
    row.responseSha256 && row.responseBytes !== null ? { sha256: row.responseSha256.toString('hex'), bytes: row.responseBytes, truncated: row.responseTruncated } : null;
  return {
    id: row.id,
    scanId: row.scanId,
    cellIndex: row.cellIndex,
    probeId: row.probeId,
    chainIndex: row.chainIndex,
    sampleIndex: row.sampleIndex,
    converterLineage: row.converterLineage,
    prompt: { sha256: row.promptSha256.toString('hex'), bytes: row.promptBytes, truncated: row.promptTruncated },
    response: responseFacts,
    statusCode: row.statusCode,
    latencyMs: row.latencyMs,
    retries: row.retries,
    errorCode: row.errorCode,
    verdict: row.verdict,
    scores: scoreSummaries(scores),
    createdAt: row.createdAt.toISOString(),
  };
}

/** Byte-exact (base64) plus a lossy UTF-8 view: NUL, lone surrogates' bytes and bidi survive in base64. */
const contentView = (bytes: Buffer): ContentView => ({ base64: bytes.toString('base64'), text: bytes.toString('utf8'), storedBytes: bytes.length });

/** The body was kept as a string: its bytes as sent are its WTF-8 encoding (lone surrogates included). */
function requestView(stored: unknown): RequestView | null {
  // `{ reported: false }` (or null): nothing was sent, or the sender did not say what it sent.
  if (typeof stored !== 'object' || stored === null || (stored as { reported?: unknown }).reported === false) return null;
  const request = stored as RedactedRequest;
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    body: request.body === null ? null : contentView(promptBytes(request.body)),
    bodyBytes: request.bodyBytes,
    bodySha256: request.bodySha256,
    bodyTruncated: request.bodyTruncated,
  };
}

/**
 * Attempt reads (issue 6 §4). Metadata (hashes, sizes, verdicts, rationales) needs attempts:read; the raw
 * content needs the raw-content grant as well (the route declares it, this checks the pair), because
 * prompts and responses are attack content and may carry leaked secrets. Every read is audited by the
 * routes' declarations, durably before the response leaves.
 */
export function createAttemptsService(deps: { attemptsRepo: Pick<AttemptsQueryRepo, 'scanState' | 'list' | 'find' | 'findWithContent'> }) {
  const orgOf = (principal: Principal) => {
    if (!principal.orgId) throw errors.notFound('scan');
    return principal.orgId;
  };

  async function requireScan(orgId: string, scanId: string) {
    if (!(await deps.attemptsRepo.scanState(orgId, scanId))) throw errors.notFound('scan');
  }

  return {
    async list(principal: Principal, scanId: string, query: { limit: number; cursor?: string | undefined; verdict?: AttemptVerdict | undefined }): Promise<PageOf<AttemptView>> {
      const orgId = orgOf(principal);
      await requireScan(orgId, scanId);
      const [afterCell] = decodeCursor(query.cursor, 1) ?? [];
      if (afterCell !== undefined && (typeof afterCell !== 'number' || !Number.isInteger(afterCell))) throw new AppError(400, 'invalid_cursor', { detail: 'The cursor is not one this API issued.' });
      const rows = await deps.attemptsRepo.list(orgId, scanId, { limit: query.limit, afterCell, verdict: query.verdict });
      return toPage(rows, query.limit, (row) => [row.cellIndex], (row) => toAttemptView(row, scoresOf(row.scores)));
    },

    async get(principal: Principal, scanId: string, attemptId: string): Promise<AttemptView> {
      const row = await deps.attemptsRepo.find(orgOf(principal), scanId, attemptId);
      if (!row) throw errors.notFound('attempt');
      return toAttemptView(row, scoresOf(row.scores));
    },

    async evidence(principal: Principal, scanId: string, attemptId: string): Promise<EvidenceView> {
      // Raw content is a grant ON TOP of reading attempts: a raw-content holder without attempts:read reads nothing.
      if (!principal.permissions.has('attempts:read')) throw errors.forbidden();
      const row: AttemptContentRow | undefined = await deps.attemptsRepo.findWithContent(orgOf(principal), scanId, attemptId);
      if (!row) throw errors.notFound('attempt');
      const scores = scoresOf(row.scores);
      return {
        attempt: toAttemptView(row, scores),
        promptOriginal: contentView(row.promptOriginal),
        promptConverted: contentView(row.promptConverted),
        request: requestView(row.requestRedacted),
        response: row.response ? contentView(row.response) : null,
        scoreDetails: scores,
      };
    },
  };
}

export type AttemptsService = ReturnType<typeof createAttemptsService>;
