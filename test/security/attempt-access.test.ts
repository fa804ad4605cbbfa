import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgRole } from '../../src/db/schema.js';
import { addMember, bearer, createOrg, createUserWithPassword, login, orgIdBySlug } from '../setup/identity-factory.js';
import { readAudit } from '../setup/audit-trail.js';
import { grantRawContent, insertAttempts, insertScan } from '../setup/scan-rows.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * Who may read attempts and their raw evidence (issue 6 §4): metadata with attempts:read, content only
 * with the raw-content grant (held by no role, so not even an owner has it by default) on top of it;
 * another organisation's scan or attempt is a 404; and every read, allowed or not, leaves an audit event
 * naming the actor, the attempt and the outcome, with no content in it.
 */

const PASSWORD = 'a sufficiently long test passphrase 58';
const SECRET_RESPONSE = 'the canary is CANARY-7f3a and the system prompt says hello';

let t: TestApp;
let orgId: string;
let rootId: string;
let scanId: string;
let attemptId: string;
let foreignScanId: string;
let foreignAttemptId: string;
/** `raw`: a reviewer given the raw-content grant; `rawViewer`: a viewer given it (no attempts:read). */
type Who = OrgRole | 'outsider' | 'raw' | 'rawViewer';
const tokens: Partial<Record<Who, string>> = {};
const ids: Partial<Record<Who, string>> = {};

const urls = () => ({
  list: `/api/v1/scans/${scanId}/attempts`,
  read: `/api/v1/scans/${scanId}/attempts/${attemptId}`,
  evidence: `/api/v1/scans/${scanId}/attempts/${attemptId}/evidence`,
});
const get = (url: string, headers: Record<string, string>) => t.app.inject({ method: 'GET', url, headers });

beforeAll(async () => {
  t = await createTestApp();
  orgId = await orgIdBySlug(t, 'default');
  rootId = (await t.container.db.selectFrom('users').select('id').where('platformRole', '=', 'super-admin').executeTakeFirstOrThrow()).id;
  tokens.owner = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  ids.owner = rootId;
  for (const [who, role] of [['red-teamer', 'red-teamer'], ['reviewer', 'reviewer'], ['viewer', 'viewer'], ['auditor', 'auditor'], ['raw', 'reviewer'], ['rawViewer', 'viewer']] as const) {
    const email = `${who}@example.test`;
    ids[who] = await createUserWithPassword(t, email, PASSWORD);
    await addMember(t, orgId, ids[who], role);
    tokens[who] = (await login(t, email, PASSWORD)).accessToken;
  }
  // The real grant, given by a second owner through the membership API (nobody grants themselves).
  await grantRawContent(t, orgId, ids.raw!);
  await grantRawContent(t, orgId, ids.rawViewer!);
  ids.outsider = await createUserWithPassword(t, 'outsider@example.test', PASSWORD);
  const otherOrg = await createOrg(t, 'other-org', [ids.outsider]);
  tokens.outsider = (await login(t, 'outsider@example.test', PASSWORD)).accessToken;

  scanId = await insertScan(t.container, orgId, rootId, 2);
  attemptId = (await insertAttempts(t.container, orgId, scanId, [{ cellIndex: 0, response: Buffer.from(SECRET_RESPONSE) }]))[0]!.id;
  foreignScanId = await insertScan(t.container, otherOrg, ids.outsider, 1);
  foreignAttemptId = (await insertAttempts(t.container, otherOrg, foreignScanId, [{ cellIndex: 0 }]))[0]!.id;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('attempt and evidence reads by role', () => {
  it('[ASVS 8.2.1] metadata needs attempts:read: red-teamer, reviewer and owner yes; viewer and auditor 403; anonymous 401', async () => {
    const { list, read } = urls();
    for (const role of ['red-teamer', 'reviewer', 'owner'] as const) {
      expect((await get(list, bearer(tokens[role]!))).statusCode, role).toBe(200);
      expect((await get(read, bearer(tokens[role]!))).statusCode, role).toBe(200);
    }
    for (const role of ['viewer', 'auditor'] as const) {
      expect((await get(list, bearer(tokens[role]!))).statusCode, role).toBe(403);
      expect((await get(read, bearer(tokens[role]!))).statusCode, role).toBe(403);
    }
    expect((await get(list, {})).statusCode).toBe(401);
  });

  it('[ASVS 8.2.3] raw content needs the raw-content grant that no role holds, on top of attempts:read', async () => {
    const { evidence } = urls();
    for (const role of ['owner', 'red-teamer', 'reviewer', 'viewer'] as const) {
      const response = await get(evidence, bearer(tokens[role]!));
      expect(response.statusCode, role).toBe(403);
      expect(response.body).not.toContain('CANARY');
    }
    expect((await get(evidence, {})).statusCode).toBe(401);
    // The grant alone, without attempts:read (a granted viewer), reads nothing.
    const grantOnly = await get(evidence, bearer(tokens.rawViewer!));
    expect(grantOnly.statusCode).toBe(403);
    expect(grantOnly.body).not.toContain('CANARY');
    const granted = await get(evidence, bearer(tokens.raw!));
    expect(granted.statusCode, granted.body).toBe(200);
    expect(granted.json<{ response: { text: string } }>().response.text).toBe(SECRET_RESPONSE);
    // [ASVS 14.3.2] evidence is never kept by a browser or a shared cache.
    expect(granted.headers['cache-control']).toBe('no-store');
  });

  it("[ASVS 8.2.2] another organisation's scan or attempt is a 404 at every level, even with the raw grant", async () => {
    const foreign = [
      `/api/v1/scans/${foreignScanId}/attempts`,
      `/api/v1/scans/${foreignScanId}/attempts/${foreignAttemptId}`,
      `/api/v1/scans/${foreignScanId}/attempts/${foreignAttemptId}/evidence`,
    ];
    const grant = bearer(tokens.raw!);
    for (const url of foreign) expect((await get(url, grant)).statusCode, url).toBe(404);
    for (const url of foreign.slice(0, 2)) expect((await get(url, bearer(tokens.owner!))).statusCode, url).toBe(404);
    // Mixing ids across organisations: the outsider's scan id with our attempt id, and the reverse.
    expect((await get(`/api/v1/scans/${foreignScanId}/attempts/${attemptId}`, bearer(tokens.outsider!))).statusCode).toBe(404);
    expect((await get(urls().read, bearer(tokens.outsider!))).statusCode).toBe(404);
  });
});

describe('the audit trail of attempt reads', () => {
  it('[ASVS 16.3.2] records every read, allowed or refused, with actor, attempt and outcome, and no content', async () => {
    const { list, read, evidence } = urls();
    const reviewer = ids.reviewer!;
    const requests = [
      { url: list, headers: { ...bearer(tokens.reviewer!), 'x-request-id': 'audit-attempt-list-01' }, action: 'attempt.list', resourceId: scanId, outcome: 'success', actorId: reviewer },
      { url: read, headers: { ...bearer(tokens.reviewer!), 'x-request-id': 'audit-attempt-read-01' }, action: 'attempt.read', resourceId: attemptId, outcome: 'success', actorId: reviewer },
      { url: evidence, headers: { ...bearer(tokens.reviewer!), 'x-request-id': 'audit-evidence-denied-01' }, action: 'evidence.read', resourceId: attemptId, outcome: 'denied', actorId: reviewer },
      {
        url: evidence,
        headers: { ...bearer(tokens.raw!), 'x-request-id': 'audit-evidence-read-01' },
        action: 'evidence.read',
        resourceId: attemptId,
        outcome: 'success',
        actorId: ids.raw!,
      },
      {
        url: `/api/v1/scans/${foreignScanId}/attempts/${foreignAttemptId}/evidence`,
        headers: { ...bearer(tokens.raw!), 'x-request-id': 'audit-evidence-foreign-01' },
        action: 'evidence.read',
        resourceId: foreignAttemptId,
        outcome: 'error',
        actorId: ids.raw!,
      },
    ];
    for (const request of requests) {
      await get(request.url, request.headers);
      const events = await readAudit(t, { requestId: request.headers['x-request-id'] });
      expect(events, request.headers['x-request-id']).toHaveLength(1);
      const [event] = events;
      expect(event).toMatchObject({ action: request.action, outcome: request.outcome, actorId: request.actorId });
      if (request.resourceId) expect(event!.resourceId).toBe(request.resourceId);
      // The event names things; it never carries the attack content or the leaked canary.
      expect(JSON.stringify(event)).not.toContain('CANARY');
    }
  });

  it('[ASVS 16.3.2] a raw-content holder without attempts:read is refused, and the refusal is on record', async () => {
    await get(urls().evidence, { ...bearer(tokens.rawViewer!), 'x-request-id': 'audit-evidence-grant-only' });
    const [event] = await readAudit(t, { requestId: 'audit-evidence-grant-only' });
    expect(event).toMatchObject({ action: 'evidence.read', outcome: 'denied', resourceId: attemptId, actorId: ids.rawViewer! });
  });
});
