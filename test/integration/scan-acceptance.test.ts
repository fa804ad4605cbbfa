import { describe, expect } from 'vitest';
import { openEventStream, type SseEvent } from '../setup/sse-client.js';
import { api, describeOnBuiltService, TERMINAL, type Service } from '../setup/built-service.js';

/**
 * Issue 6 acceptance, first bullet: the BUILT service (`node dist/main.js`, what `npm start` runs after
 * its build) as a separate process, driven through HTTP only, as an operator would: sign in as the
 * bootstrap admin, create a `sim:leaky` target, run the library's prompt-injection probes with the leak scorer, follow the
 * scan by Server-Sent Events to its end, read its attempts. Embedded mode always (the admin's one-time
 * password from DATA_DIR, changed on first sign-in); with DATABASE_URL and REDIS_URL also server mode:
 * the API process plus one `node dist/worker.js` that runs the chunks, on a fresh schema and Redis prefix.
 */

interface Attempt {
  cellIndex: number;
  probeId: string;
  verdict: 'succeeded' | 'resisted' | 'errored' | 'inconclusive';
  statusCode: number | null;
  scores: Array<{ scorerId: string; verdict: string; rationale: string }>;
}
type Coverage = Record<'succeeded' | 'resisted' | 'errored' | 'inconclusive' | 'done' | 'total' | 'requestsUsed', number>;

/** The whole acceptance run on one started service. */
async function acceptance(service: Service, token: string) {
  const probes = await api<{ items: Array<{ id: string; prompt: string }>; nextCursor: string | null }>(service, 'GET', '/probes?category=prompt-injection&limit=100', token);
  expect(probes.status).toBe(200);
  expect(probes.body.nextCursor).toBeNull();
  expect(probes.body.items.length).toBeGreaterThanOrEqual(12);

  // Fast limits so the run stays short; one in flight gives several chunks (about 10 s of work each at this rate).
  const target = await api<{ id: string }>(service, 'POST', '/targets', token, { name: 'leaky support bot', kind: 'sim:leaky', config: {}, limits: { requestsPerMinute: 600, maxInFlight: 1 } });
  expect(target.status, JSON.stringify(target.body)).toBe(201);
  const samples = 2;
  const created = await api<{ id: string; status: string; planHash: string; plan: { cells: number; chunks: number } }>(service, 'POST', '/scans', token, {
    name: 'acceptance: prompt-injection probes against a leaky bot',
    targetId: target.body.id,
    probes: { ids: probes.body.items.map((probe) => probe.id) },
    scorers: [{ id: 'leak' }],
    samples,
    seed: 7,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  const scanId = created.body.id;
  const cells = probes.body.items.length * samples;
  expect(created.headers.get('location')).toBe(`/api/v1/scans/${scanId}`);
  expect(created.body).toMatchObject({ status: 'queued', planHash: expect.stringMatching(/^[0-9a-f]{64}$/), plan: { cells } });
  expect(created.body.plan.chunks).toBeGreaterThan(1);

  // Follow the log from its start until the server ends the stream (after the final status).
  const stream = await openEventStream(`${service.base}/api/v1/scans/${scanId}/events`, { authorization: `Bearer ${token}` });
  expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: SseEvent[] = [];
  try {
    for (;;) {
      const event = await stream.nextEvent(40_000);
      events.push(event);
      if (event.event === 'status' && TERMINAL.has((event.data as { status: string }).status)) break;
    }
    await stream.ended(5_000);
  } finally {
    await stream.close();
  }
  const ids = events.map((event) => Number(event.id));
  expect(ids.every((id, index) => index === 0 || id > ids[index - 1]!), `ids ${ids.join(',')}`).toBe(true);
  const statuses = events.filter((event) => event.event === 'status').map((event) => (event.data as { status: string }).status);
  expect(statuses).toEqual(['queued', 'running', 'completed']);
  const progress = events.filter((event) => event.event === 'progress').map((event) => event.data as Coverage);
  expect(progress.length).toBeGreaterThan(0);
  for (const [index, step] of progress.entries()) {
    expect(step.succeeded + step.resisted + step.errored + step.inconclusive).toBe(step.done);
    expect(step.total).toBe(cells);
    if (index > 0) expect(step.done).toBeGreaterThanOrEqual(progress[index - 1]!.done);
  }

  const scan = await api<{ status: string; statusReason: string | null; coverage: Coverage; finishedAt: string | null }>(service, 'GET', `/scans/${scanId}`, token);
  expect(scan.status).toBe(200);
  expect(scan.body).toMatchObject({ status: 'completed', finishedAt: expect.any(String) });
  const { coverage } = scan.body;
  expect(coverage.succeeded + coverage.resisted + coverage.errored + coverage.inconclusive).toBe(cells);
  expect(coverage).toMatchObject({ done: cells, total: cells, errored: 0 });
  expect(coverage.requestsUsed).toBeGreaterThanOrEqual(cells);
  expect(coverage.succeeded).toBeGreaterThan(0);

  // Every attempt, page by page: exactly one per plan cell.
  const attempts: Attempt[] = [];
  for (let cursor: string | null = '', pages = 0; cursor !== null; pages++) {
    expect(pages).toBeLessThan(10);
    const page: { status: number; body: { items: Attempt[]; nextCursor: string | null } } = await api(service, 'GET', `/scans/${scanId}/attempts?limit=10${cursor ? `&cursor=${cursor}` : ''}`, token);
    expect(page.status).toBe(200);
    attempts.push(...page.body.items);
    cursor = page.body.nextCursor;
  }
  expect(attempts.map((attempt) => attempt.cellIndex).sort((a, b) => a - b)).toEqual(Array.from({ length: cells }, (_, cell) => cell));
  const count = (verdict: Attempt['verdict']) => attempts.filter((attempt) => attempt.verdict === verdict).length;
  expect({ succeeded: count('succeeded'), resisted: count('resisted'), errored: count('errored'), inconclusive: count('inconclusive') }).toEqual({
    succeeded: coverage.succeeded,
    resisted: coverage.resisted,
    errored: coverage.errored,
    inconclusive: coverage.inconclusive,
  });
  for (const attempt of attempts) {
    expect(attempt.statusCode).toBe(200);
    expect(attempt.scores.map((score) => score.scorerId)).toEqual(['leak']);
  }
  // The classic injection makes the simulation reveal its canary, in every sample.
  const ignorePrevious = attempts.filter((attempt) => attempt.probeId === 'prompt-injection.ignore-previous.reply-pwned');
  expect(ignorePrevious).toHaveLength(samples);
  for (const attempt of ignorePrevious) expect(attempt).toMatchObject({ verdict: 'succeeded', scores: [{ verdict: 'succeeded', rationale: expect.stringContaining('canary #1') }] });

  // A finished scan's log read to its end: 204 tells an EventSource to stop reconnecting.
  const again = await fetch(`${service.base}/api/v1/scans/${scanId}/events`, { headers: { authorization: `Bearer ${token}`, 'last-event-id': String(ids.at(-1)) } });
  expect(again.status).toBe(204);
}

describe('issue 6 acceptance: a leaky target scanned through the API of the built service', () => {
  describeOnBuiltService('signs in, creates a sim:leaky target, runs the injection probes, follows SSE to the end and reads one attempt per cell', acceptance);
});
