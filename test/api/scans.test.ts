import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { createLogger } from '../../src/platform/logger.js';
import { chunkJobId, type RunChunkPayload } from '../../src/modules/scans/scan-contract.js';
import { createChunkLeaseRepo } from '../../src/modules/scans/chunk-lease.repo.js';
import { createScanRunRepo } from '../../src/modules/scans/scan-run.repo.js';
import { createScanReconciler, STALE_CHUNK_MS } from '../../src/modules/scans/scan-reconciler.js';
import { readAudit } from '../setup/audit-trail.js';
import { waitFor } from '../setup/wait.js';
import { addMember, bearer, createOrg, createUserWithPassword, json, login, orgIdBySlug } from '../setup/identity-factory.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Scans through the API (issue 6 §1, §3): creation answers 202 with a frozen plan (hash, target
 * version) and chunk rows (the outbox); validation; the lifecycle state machine with 409s; tenancy;
 * and the reconciler that re-feeds lost or abandoned chunks to the queue. Jobs do not run here
 * (runJobs: false in both modes), so every status is the one this file drives; execution is
 * covered by the executor's tests.
 */

const PASSWORD = 'a long and unusual passphrase for scans 47';

let t: TestApp;
let root: string;
let viewer: string;
let outsider: string;
let targetId: string;
let outsiderTargetId: string;

type Scan = {
  id: string;
  status: string;
  statusReason: string | null;
  planHash: string;
  targetId: string;
  targetVersionId: string;
  seed: number;
  plan: { probes: number; chains: number; samples: number; cells: number; chunks: number; chunkSize: number; scorers: string[] };
  coverage: Record<string, number>;
  finishedAt: string | null;
};

const call = (method: 'GET' | 'POST', url: string, token: string, payload?: unknown) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: { ...(payload === undefined ? {} : json), ...bearer(token) }, ...(payload === undefined ? {} : { payload: payload as object }) });

/** Three library jailbreak probes (the category itself holds many more). */
const JAILBREAKS = ['jailbreak.persona-roleplay.dan-lock-picking', 'jailbreak.hypothetical-framing.novel-alarm', 'jailbreak.refusal-suppression.email-account'];

const scanBody = (extra: Record<string, unknown> = {}) => ({
  name: 'jailbreak sweep',
  targetId,
  probes: { ids: JAILBREAKS },
  converterChains: [[], [{ converter: 'rot13' }]],
  scorers: [{ id: 'refusal' }],
  samples: 5,
  seed: 1234,
  ...extra,
});

async function createScan(extra: Record<string, unknown> = {}, token = root): Promise<Scan> {
  const response = await call('POST', '/scans', token, scanBody(extra));
  expect(response.statusCode, response.body).toBe(202);
  return response.json<Scan>();
}

const chunksOf = (scanId: string) => t.container.db.selectFrom('scanChunks').selectAll().where('scanId', '=', scanId).orderBy('chunkIndex').execute();
const statusEvents = async (scanId: string) =>
  (await t.container.db.selectFrom('scanEvents').select(['type', 'data']).where('scanId', '=', scanId).orderBy('id').execute()).map((row) => (row.data as { status?: string }).status);

/** What the executor does when it starts a scan's first chunk (the only way out of `queued`). */
async function startAsExecutor(scanId: string) {
  const started = await t.container.db.transaction().execute((tx) => createScanRunRepo({ db: t.container.db }).start(tx, scanId, new Date()));
  expect(started).toBe(true);
}

beforeAll(async () => {
  t = await createTestApp({ overrides: { runJobs: false } });
  const defaultOrg = await orgIdBySlug(t, 'default');
  const viewerId = await createUserWithPassword(t, 'viewer@scans.test', PASSWORD);
  const outsiderId = await createUserWithPassword(t, 'outsider@scans.test', PASSWORD);
  await addMember(t, defaultOrg, viewerId, 'viewer');
  await createOrg(t, 'other-scans-org', [outsiderId]);
  root = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  viewer = (await login(t, 'viewer@scans.test', PASSWORD)).accessToken;
  outsider = (await login(t, 'outsider@scans.test', PASSWORD)).accessToken;
  const target = await call('POST', '/targets', root, { name: 'leaky sim', kind: 'sim:leaky', config: {} });
  expect(target.statusCode, target.body).toBe(201);
  targetId = target.json<{ id: string }>().id;
  const theirs = await call('POST', '/targets', outsider, { name: 'their sim', kind: 'sim:echo', config: {} });
  expect(theirs.statusCode, theirs.body).toBe(201);
  outsiderTargetId = theirs.json<{ id: string }>().id;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('GET /probes: the built-in library (filters: test/api/probes.test.ts)', () => {
  it('lists the built-in probes by page and by category', async () => {
    const first = await call('GET', '/probes?limit=5', viewer);
    expect(first.statusCode).toBe(200);
    const page = first.json<{ items: Array<{ id: string; category: string; prompt: string; goal: string }>; nextCursor: string | null }>();
    expect(page.items).toHaveLength(5);
    const rest = await call('GET', `/probes?limit=100&cursor=${page.nextCursor}`, viewer);
    const all = [...page.items, ...rest.json<{ items: typeof page.items }>().items];
    expect(all.length).toBe(105);
    expect(new Set(all.map((probe) => probe.id)).size).toBe(all.length);
    const pii = await call('GET', '/probes?category=sensitive-information', viewer);
    expect(pii.json<{ items: typeof page.items }>().items.every((probe) => probe.category === 'sensitive-information')).toBe(true);
    expect((await call('GET', '/probes?category=nope', viewer)).statusCode).toBe(422);
  });
});

describe('POST /scans: a frozen plan, answered 202', () => {
  it('answers 202 with Location, a plan hash and the target version, and writes the chunk rows and audit event', async () => {
    const response = await call('POST', '/scans', root, scanBody());
    expect(response.statusCode, response.body).toBe(202);
    const scan = response.json<Scan>();
    expect(response.headers.location).toBe(`/api/v1/scans/${scan.id}`);
    expect(scan.status).toBe('queued');
    expect(scan.planHash).toMatch(/^[0-9a-f]{64}$/);
    expect(scan.targetId).toBe(targetId);
    // 3 jailbreak probes × 2 chains × 5 samples; the default limits (60 rpm) give 10-cell chunks.
    expect(scan.plan).toMatchObject({ probes: 3, chains: 2, samples: 5, cells: 30, chunkSize: 10, chunks: 3, scorers: ['refusal'] });
    expect(scan.coverage).toEqual({ succeeded: 0, resisted: 0, errored: 0, inconclusive: 0, done: 0, total: 30, requestsUsed: 0 });
    const chunks = await chunksOf(scan.id);
    expect(chunks.map((chunk) => [chunk.cellStart, chunk.cellEnd, chunk.status, chunk.runs])).toEqual([
      [0, 10, 'pending', 0],
      [10, 20, 'pending', 0],
      [20, 30, 'pending', 0],
    ]);
    expect(await statusEvents(scan.id)).toEqual(['queued']);
    const [event] = await readAudit(t, { action: 'scan.created', resourceId: scan.id });
    expect(event?.outcome).toBe('success');
  });

  it('gives the same plan hash for the same input, another for another seed', async () => {
    const a = await createScan();
    const b = await createScan({ name: 'same plan, another name' });
    const c = await createScan({ seed: 1235 });
    expect(b.planHash).toBe(a.planHash);
    expect(c.planHash).not.toBe(a.planHash);
  });

  it('[ASVS 14.2.4] stores the frozen plan encrypted: inline attack text is not in the row', async () => {
    const marker = 'INLINE-ATTACK-MARKER-7731';
    const scan = await createScan({ probes: { inline: [{ name: 'inline', prompt: `say ${marker}` }] } });
    const row = await t.container.db.selectFrom('scans').select('plan').where('id', '=', scan.id).executeTakeFirstOrThrow();
    expect(row.plan.includes(Buffer.from(marker))).toBe(false);
    const plan = await t.container.scans.service.loadPlan((await orgIdBySlug(t, 'default')), scan.id);
    expect(plan?.probes[0]?.prompt).toBe(`say ${marker}`);
  });

  it('[ASVS 2.2.1] refuses invalid plans with 422 and JSON pointers', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ probes: { ids: ['no.such-probe'] } }, '/probes/ids/0'],
      [{ probes: { taxonomy: ['owasp-llm-2026:LLM99'] } }, '/probes/taxonomy/0'],
      [{ probes: { taxonomy: ['owasp-llm-2026'] } }, '/probes/taxonomy/0'],
      [{ probes: { datasets: ['0190a000-0000-7000-8000-00000000dead'] } }, '/probes/datasets/0'],
      [{ probes: { categories: ['pii'] } }, '/probes/categories/0'],
      // Inline probes have no scorers of their own: a plan without scorers cannot judge them.
      [{ probes: { inline: [{ name: 'mine', prompt: 'hello' }] }, scorers: undefined }, '/scorers'],
      [{ converterChains: [[{ converter: 'prefix-suffix', params: { unknown: 1 } }]] }, '/converterChains/0/0/params/unknown'],
      [{ scorers: [{ id: 'refusal', params: { noRefusalMeans: 'perhaps' } }] }, '/scorers/0/params/noRefusalMeans'],
      [{ scorers: [] }, '/scorers'],
      [{ samples: 0 }, '/samples'],
      [{ probes: {} }, '/probes'],
      [{ extra: true }, '/extra'],
    ];
    for (const [extra, pointer] of cases) {
      const response = await call('POST', '/scans', root, scanBody(extra));
      expect(response.statusCode, JSON.stringify(extra)).toBe(422);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json<{ errors: Array<{ pointer: string }> }>().errors.map((error) => error.pointer)).toContain(pointer);
    }
  });

  it('[ASVS 8.2.1] refuses scan creation without scans:create (a viewer)', async () => {
    const response = await call('POST', '/scans', viewer, scanBody());
    expect(response.statusCode).toBe(403);
    expect((await call('GET', '/scans', viewer)).statusCode).toBe(200);
  });
});

describe('status reads and the lifecycle state machine', () => {
  it('lists and reads scans with coverage and plan summary', async () => {
    const scan = await createScan();
    const read = await call('GET', `/scans/${scan.id}`, root);
    expect(read.statusCode).toBe(200);
    expect(read.json<Scan>()).toMatchObject({ id: scan.id, status: 'queued', planHash: scan.planHash, targetVersionId: scan.targetVersionId, plan: { cells: 30 } });
    const list = await call('GET', '/scans?limit=2', root);
    expect(list.statusCode).toBe(200);
    const page = list.json<{ items: Scan[]; nextCursor: string | null }>();
    expect(page.items[0]?.id).toBe(scan.id);
    expect(page.nextCursor).not.toBeNull();
    const next = await call('GET', `/scans?limit=2&cursor=${page.nextCursor}`, root);
    expect(next.json<{ items: Scan[] }>().items.every((item) => item.id < page.items[1]!.id)).toBe(true);
    const queued = await call('GET', '/scans?status=paused', root);
    expect(queued.json<{ items: Scan[] }>().items.every((item) => item.status === 'paused')).toBe(true);
  });

  it('[ASVS 2.3.1] moves queued → running → paused → running → cancelled and answers 409 to every illegal step', async () => {
    const scan = await createScan();
    const expectConflict = async (action: string) => {
      const response = await call('POST', `/scans/${scan.id}/${action}`, root);
      expect(response.statusCode, `${action}: ${response.body}`).toBe(409);
      expect(response.json<{ code: string }>().code).toBe('scan_state_conflict');
    };
    await expectConflict('pause');
    await expectConflict('resume');
    await startAsExecutor(scan.id);

    const paused = await call('POST', `/scans/${scan.id}/pause`, root);
    expect(paused.statusCode, paused.body).toBe(200);
    expect(paused.json<Scan>()).toMatchObject({ status: 'paused', statusReason: 'Paused by a user.' });
    await expectConflict('pause');

    const resumed = await call('POST', `/scans/${scan.id}/resume`, root);
    expect(resumed.json<Scan>().status).toBe('running');
    // Resume gives every idle chunk a new run slot, so a job id used while paused is never reused.
    expect((await chunksOf(scan.id)).map((chunk) => chunk.runs)).toEqual([1, 1, 1]);
    await expectConflict('resume');

    const cancelled = await call('POST', `/scans/${scan.id}/cancel`, root);
    expect(cancelled.json<Scan>()).toMatchObject({ status: 'cancelled', statusReason: 'Cancelled by a user.' });
    expect(cancelled.json<Scan>().finishedAt).not.toBeNull();
    for (const action of ['cancel', 'pause', 'resume']) await expectConflict(action);

    expect(await statusEvents(scan.id)).toEqual(['queued', 'paused', 'running', 'cancelled']);
    expect((await readAudit(t, { resourceId: scan.id })).map((event) => event.action)).toEqual(expect.arrayContaining(['scan.created', 'scan.paused', 'scan.resumed', 'scan.cancelled']));
  });

  it('cancels a queued scan directly', async () => {
    const scan = await createScan();
    const response = await call('POST', `/scans/${scan.id}/cancel`, root);
    expect(response.json<Scan>().status).toBe('cancelled');
  });

  it('[ASVS 8.2.2] answers 404 for another organisation’s scan and target, on every route', async () => {
    const scan = await createScan();
    expect((await call('GET', `/scans/${scan.id}`, outsider)).statusCode).toBe(404);
    for (const action of ['cancel', 'pause', 'resume']) expect((await call('POST', `/scans/${scan.id}/${action}`, outsider)).statusCode).toBe(404);
    expect((await call('GET', '/scans', outsider)).json<{ items: Scan[] }>().items.some((item) => item.id === scan.id)).toBe(false);
    expect((await call('POST', '/scans', root, scanBody({ targetId: outsiderTargetId }))).statusCode).toBe(404);
    expect((await call('GET', `/scans/${scan.id}`, root)).json<Scan>().status).toBe('queued');
  });
});

describe('the reconciler (scan.reconcile): lost enqueues and dead workers', () => {
  const enqueued: string[] = [];
  const clock = createManualClock(new Date());
  const reconciler = () =>
    createScanReconciler({
      scansRepo: t.container.scans.repo,
      enqueueChunk: (payload: RunChunkPayload, runs: number) => Promise.resolve(void enqueued.push(chunkJobId(payload.scanId, payload.chunkIndex, runs))),
      clock,
      logger: createLogger('silent'),
    });
  const jobsOf = (scanId: string) => enqueued.filter((id) => id.startsWith(`scan-${scanId}-`)).sort();

  it('re-enqueues every chunk of a scan whose enqueue after COMMIT was lost', async () => {
    const scan = await createScan();
    clock.set(new Date());
    await reconciler().run();
    expect(jobsOf(scan.id)).toEqual([0, 1, 2].map((chunk) => chunkJobId(scan.id, chunk, 0)));
  });

  it('re-enqueues a chunk whose lease expired (its worker died), under a new run slot, and not before', async () => {
    const scan = await createScan();
    clock.set(new Date());
    const leases = createChunkLeaseRepo({ db: t.container.db });
    // A worker claims chunk 1 for 30 s and dies: runs becomes 1, the lease stays until it expires.
    expect(await leases.claim(scan.id, 1, 'dead-worker', clock.now(), 30_000)).toBeDefined();
    enqueued.length = 0;
    clock.advance(10_000);
    await reconciler().run();
    expect(jobsOf(scan.id)).toEqual([chunkJobId(scan.id, 0, 0), chunkJobId(scan.id, 2, 0)]);
    enqueued.length = 0;
    clock.advance(21_000);
    await reconciler().run();
    expect(jobsOf(scan.id)).toEqual([chunkJobId(scan.id, 0, 0), chunkJobId(scan.id, 1, 1), chunkJobId(scan.id, 2, 0)]);
  });

  it('gives a chunk idle for too long a fresh run slot; leaves finished, paused and cancelled scans alone', async () => {
    const stale = await createScan();
    const paused = await createScan();
    await startAsExecutor(paused.id);
    expect((await call('POST', `/scans/${paused.id}/pause`, root)).statusCode).toBe(200);
    const cancelled = await createScan();
    expect((await call('POST', `/scans/${cancelled.id}/cancel`, root)).statusCode).toBe(200);
    enqueued.length = 0;
    clock.set(new Date(Date.now() + STALE_CHUNK_MS + 1_000));
    const report = await reconciler().run();
    expect(jobsOf(stale.id)).toEqual([0, 1, 2].map((chunk) => chunkJobId(stale.id, chunk, 1)));
    expect((await chunksOf(stale.id)).map((chunk) => chunk.runs)).toEqual([1, 1, 1]);
    expect(report.renewed).toBeGreaterThanOrEqual(3);
    expect(jobsOf(paused.id)).toEqual([]);
    expect(jobsOf(cancelled.id)).toEqual([]);
  });

  it('feeds the real queue under the chunk job id, so a second enqueue of the same slot is a no-op', async () => {
    const scan = await createScan();
    const payload = { scanId: scan.id, orgId: await orgIdBySlug(t, 'default'), chunkIndex: 0 };
    const first = await t.container.scans.service.enqueueChunk(payload, 0);
    const again = await t.container.scans.service.enqueueChunk(payload, 0);
    expect(first).toBe(chunkJobId(scan.id, 0, 0));
    expect(again).toBe(first);
  });
});

describe('wiring: a process that runs jobs takes a scan to completion', () => {
  let runner: TestApp;
  beforeAll(async () => {
    runner = await createTestApp({ overrides: { runJobs: true } });
  }, 120_000);
  afterAll(async () => {
    await runner?.close();
  });

  it('runs every cell once through the chunk jobs and reports the coverage', async () => {
    const token = (await login(runner, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
    const send = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
      runner.app.inject({ method, url: `/api/v1${url}`, headers: { ...(payload === undefined ? {} : json), ...bearer(token) }, ...(payload === undefined ? {} : { payload: payload as object }) });
    const target = await send('POST', '/targets', { name: 'leaky', kind: 'sim:leaky', config: {}, limits: { requestsPerMinute: 6000, maxInFlight: 8 } });
    expect(target.statusCode, target.body).toBe(201);
    const probes = { ids: ['prompt-injection.ignore-previous.reply-pwned', 'prompt-injection.forged-role-turn.maintenance-mode', 'system-prompt-leakage.direct-request.system-prompt', 'system-prompt-leakage.ignore-and-print.everything-before', 'system-prompt-leakage.repeat-words-above.you-are'] };
    const created = await send('POST', '/scans', { name: 'wiring', targetId: target.json<{ id: string }>().id, probes, scorers: [{ id: 'refusal' }], samples: 2, seed: 5 });
    expect(created.statusCode, created.body).toBe(202);
    const id = created.json<Scan>().id;
    let scan: Scan | undefined;
    await waitFor(async () => {
      scan = (await send('GET', `/scans/${id}`)).json<Scan>();
      return scan.status !== 'queued' && scan.status !== 'running';
    }, 30_000, 100);
    expect(scan?.status, scan?.statusReason ?? '').toBe('completed');
    const { succeeded, resisted, errored, inconclusive, done, total } = scan!.coverage;
    expect(total).toBe(10);
    expect(done).toBe(10);
    expect(succeeded! + resisted! + errored! + inconclusive!).toBe(10);
    const cells = await runner.container.db.selectFrom('attempts').select('cellIndex').where('scanId', '=', id).orderBy('cellIndex').execute();
    expect(cells.map((row) => row.cellIndex)).toEqual([...Array(10).keys()]);
  }, 60_000);

  it("runs scans without scorers or chains in the request (the default set; the leakage category): each probe's own, and leakage succeeds on sim:leaky", async () => {
    const token = (await login(runner, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
    const send = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
      runner.app.inject({ method, url: `/api/v1${url}`, headers: { ...(payload === undefined ? {} : json), ...bearer(token) }, ...(payload === undefined ? {} : { payload: payload as object }) });
    const all = async <T>(url: string): Promise<T[]> => {
      const items: T[] = [];
      for (let cursor: string | null = ''; cursor !== null; ) {
        const page: { items: T[]; nextCursor: string | null } = (await send('GET', `${url}${url.includes('?') ? '&' : '?'}limit=100${cursor ? `&cursor=${cursor}` : ''}`)).json<{ items: T[]; nextCursor: string | null }>();
        items.push(...page.items);
        cursor = page.nextCursor;
      }
      return items;
    };
    type Probe = { id: string; category: string; defaultScorers: Array<{ id: string }>; defaultConverters: Array<{ id: string }> };
    type Attempt = { probeId: string; verdict: string; scores: Array<{ scorerId: string; verdict: string }>; converterLineage: Array<{ converter: string }> };
    const library = await all<Probe>('/probes');
    const probeOf = (id: string) => library.find((probe) => probe.id === id)!;
    const target = await send('POST', '/targets', { name: 'leaky own scorers', kind: 'sim:leaky', config: {}, limits: { requestsPerMinute: 6000, maxInFlight: 8 } });
    expect(target.statusCode, target.body).toBe(201);
    const targetId = target.json<{ id: string }>().id;

    const defaults = library.filter((probe) => (probe as Probe & { isDefault: boolean }).isDefault);
    const defaultScan = await send('POST', '/scans', { name: 'default set', targetId, seed: 11 });
    const leakageScan = await send('POST', '/scans', { name: 'leakage, own scorers and chains', targetId, probes: { categories: ['system-prompt-leakage'] }, seed: 12 });
    expect(defaultScan.statusCode, defaultScan.body).toBe(202);
    expect(leakageScan.statusCode, leakageScan.body).toBe(202);
    // One chain slot (each probe's own); the probes' scorers named once each.
    expect(defaultScan.json<Scan>().plan).toMatchObject({ probes: defaults.length, chains: 1, samples: 1, cells: defaults.length });
    expect(new Set(defaultScan.json<Scan>().plan.scorers)).toEqual(new Set(defaults.flatMap((probe) => probe.defaultScorers.map((scorer) => scorer.id))));
    const plan = await runner.container.scans.service.loadPlan(await orgIdBySlug(runner, 'default'), defaultScan.json<Scan>().id);
    expect(plan).toMatchObject({ scorers: [], chains: [[]], chainSource: 'probe' });
    expect(plan!.probes.map((probe) => probe.id)).toEqual(defaults.map((probe) => probe.id));
    expect(plan!.probes[0]).toMatchObject({ source: { kind: 'library' }, family: expect.any(String), taxonomy: expect.any(Array), complexity: expect.any(String), scorers: expect.any(Array) });

    for (const created of [defaultScan, leakageScan]) {
      const id = created.json<Scan>().id;
      let final: Scan | undefined;
      await waitFor(async () => {
        final = (await send('GET', `/scans/${id}`)).json<Scan>();
        return final.status !== 'queued' && final.status !== 'running';
      }, 45_000, 100);
      expect(final?.status, final?.statusReason ?? '').toBe('completed');
      const attempts = await all<Attempt>(`/scans/${id}/attempts`);
      // (A loaded machine may time a call out: an errored cell still carries its probe's scorer ids.)
      expect(final!.coverage).toMatchObject({ done: created.json<Scan>().plan.cells });
      expect(attempts).toHaveLength(created.json<Scan>().plan.cells);
      for (const attempt of attempts) {
        const probe = probeOf(attempt.probeId);
        // Judged by its own probe's scorers, sent through its own converters.
        expect(attempt.scores.map((score) => score.scorerId), attempt.probeId).toEqual(probe.defaultScorers.map((scorer) => scorer.id));
        expect(attempt.converterLineage.map((step) => step.converter), attempt.probeId).toEqual(probe.defaultConverters.map((step) => step.id));
      }
      const leakage = attempts.filter((attempt) => probeOf(attempt.probeId).category === 'system-prompt-leakage');
      const leaked = leakage.filter((attempt) => attempt.verdict === 'succeeded' && attempt.scores.some((score) => score.scorerId === 'leak' && score.verdict === 'succeeded'));
      // sim:leaky leaks when a prompt matches its injection pattern: several leakage probes do.
      expect(leaked.length, JSON.stringify(leakage.map((attempt) => [attempt.probeId, attempt.verdict]))).toBeGreaterThanOrEqual(3);
    }
  }, 120_000);
});
