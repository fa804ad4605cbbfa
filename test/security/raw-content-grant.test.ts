import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAudit } from '../setup/audit-trail.js';
import { addMember, bearer, createOrg, createUserWithPassword, json, login, orgIdBySlug } from '../setup/identity-factory.js';
import { insertAttempts, insertScan } from '../setup/scan-rows.js';
import { BOOTSTRAP_ADMIN, createTestApp, type TestApp } from '../setup/test-app.js';
import { challenge, oathCode, verify } from './mfa-support.js';

/**
 * The raw-content grant (issue 6 §4): held by no role, given to one membership on purpose. Only an owner
 * of the organisation gives or takes it, never to themselves, with a recent MFA sign-in when they have a
 * factor; it applies from the member's next request, in that organisation only, and to API keys only
 * through their owner; every change is on the audit trail.
 */

const PASSWORD = 'a patient and rather long passphrase 73';
const CANARY = 'CANARY-raw-content-grant-5d1e';

let t: TestApp;
let orgId: string;
let otherOrgId: string;
let rootId: string;
let rootToken: string;
let evidenceUrl: string;
let foreignEvidenceUrl: string;
let seq = 0;

interface Person {
  id: string;
  email: string;
  token: string;
}

async function person(role: 'owner' | 'admin' | 'red-teamer' | 'reviewer' | 'viewer', org = orgId): Promise<Person> {
  const email = `raw-${role}-${++seq}@example.test`;
  const id = await createUserWithPassword(t, email, PASSWORD);
  await addMember(t, org, id, role);
  return { id, email, token: (await login(t, email, PASSWORD)).accessToken };
}

const grantUrl = (userId: string, org = orgId) => `/api/v1/orgs/${org}/members/${userId}/raw-content`;
const grant = (token: string, userId: string, headers: Record<string, string> = {}, org = orgId) =>
  t.app.inject({ method: 'PUT', url: grantUrl(userId, org), headers: { ...bearer(token), ...headers } });
const revoke = (token: string, userId: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'DELETE', url: grantUrl(userId), headers: { ...bearer(token), ...headers } });
const get = (url: string, headers: Record<string, string>) => t.app.inject({ method: 'GET', url, headers });
const storedGrant = (userId: string, org = orgId) =>
  t.container.db.selectFrom('memberships').select(['rawContentGrantedAt', 'rawContentGrantedBy']).where('orgId', '=', org).where('userId', '=', userId).where('deletedAt', 'is', null).executeTakeFirstOrThrow();

beforeAll(async () => {
  t = await createTestApp();
  orgId = await orgIdBySlug(t, 'default');
  rootId = (await t.container.repos.users.findByEmail(t.container.db, BOOTSTRAP_ADMIN.email))!.id;
  rootToken = (await login(t, BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN.password)).accessToken;
  const scanId = await insertScan(t.container, orgId, rootId, 1);
  const [attempt] = await insertAttempts(t.container, orgId, scanId, [{ cellIndex: 0, response: Buffer.from(`leaked ${CANARY}`) }]);
  evidenceUrl = `/api/v1/scans/${scanId}/attempts/${attempt!.id}/evidence`;
  const otherOwner = await createUserWithPassword(t, 'raw-other-owner@example.test', PASSWORD);
  otherOrgId = await createOrg(t, 'raw-other-org', [otherOwner]);
  const foreignScan = await insertScan(t.container, otherOrgId, otherOwner, 1);
  const [foreignAttempt] = await insertAttempts(t.container, otherOrgId, foreignScan, [{ cellIndex: 0 }]);
  foreignEvidenceUrl = `/api/v1/scans/${foreignScan}/attempts/${foreignAttempt!.id}/evidence`;
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('giving and taking away the raw-content grant', () => {
  it('[ASVS 8.2.3] an owner grants a reviewer, who then reads evidence; the member list shows who holds it', async () => {
    const reviewer = await person('reviewer');
    expect((await get(evidenceUrl, bearer(reviewer.token))).statusCode).toBe(403);
    const granted = await grant(rootToken, reviewer.id);
    expect(granted.statusCode, granted.body).toBe(200);
    expect(granted.json()).toMatchObject({ id: reviewer.id, role: 'reviewer', rawContent: true, rawContentGrantedAt: expect.any(String) });
    expect(await storedGrant(reviewer.id)).toMatchObject({ rawContentGrantedAt: expect.any(Date), rawContentGrantedBy: rootId });
    // The same access token, next request: the grant is read from the membership, not from the token.
    const evidence = await get(evidenceUrl, bearer(reviewer.token));
    expect(evidence.statusCode, evidence.body).toBe(200);
    expect(evidence.body).toContain(CANARY);
    const members = (await get(`/api/v1/orgs/${orgId}/members?limit=100`, bearer(reviewer.token))).json<{ items: Array<{ id: string; rawContent: boolean }> }>().items;
    expect(members.find((member) => member.id === reviewer.id)?.rawContent).toBe(true);
    expect(members.find((member) => member.id === rootId)?.rawContent).toBe(false);
  });

  it('[ASVS 8.3.2] a revoke applies on the member’s very next request (403), and a second revoke changes nothing', async () => {
    const reviewer = await person('reviewer');
    expect((await grant(rootToken, reviewer.id)).statusCode).toBe(200);
    expect((await get(evidenceUrl, bearer(reviewer.token))).statusCode).toBe(200);
    const revoked = await revoke(rootToken, reviewer.id);
    expect(revoked.statusCode, revoked.body).toBe(204);
    const refused = await get(evidenceUrl, bearer(reviewer.token));
    expect(refused.statusCode).toBe(403);
    expect(refused.body).not.toContain(CANARY);
    expect(await storedGrant(reviewer.id)).toEqual({ rawContentGrantedAt: null, rawContentGrantedBy: null });
    expect((await revoke(rootToken, reviewer.id)).statusCode).toBe(204);
  });

  it('[ASVS 8.2.3] the grant adds raw content only on top of attempts:read: a granted viewer still reads nothing', async () => {
    const viewer = await person('viewer');
    expect((await grant(rootToken, viewer.id)).statusCode).toBe(200);
    const response = await get(evidenceUrl, bearer(viewer.token));
    expect(response.statusCode).toBe(403);
    expect(response.body).not.toContain(CANARY);
  });

  it('[ASVS 8.2.1] admins, red-teamers and a non-owner super-admin cannot grant or revoke, not to others and not to themselves', async () => {
    const admin = await person('admin');
    const redTeamer = await person('red-teamer');
    const reviewer = await person('reviewer');
    for (const [actor, target] of [
      [admin, reviewer],
      [admin, admin],
      [redTeamer, reviewer],
      [redTeamer, redTeamer],
    ] as const) {
      const response = await grant(actor.token, target.id);
      expect(response.statusCode, response.body).toBe(403);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect((await grant(admin.token, reviewer.id)).json<{ code: string }>().code).toBe('raw_content_not_grantable');
    expect((await storedGrant(reviewer.id)).rawContentGrantedAt).toBeNull();
    expect((await storedGrant(admin.id)).rawContentGrantedAt).toBeNull();
    // A platform super-admin (root) manages every organisation but owns none of the other one: no grant there.
    const otherMember = await person('reviewer', otherOrgId);
    const bySuperAdmin = await grant(rootToken, otherMember.id, {}, otherOrgId);
    expect(bySuperAdmin.statusCode, bySuperAdmin.body).toBe(403);
    expect((await storedGrant(otherMember.id, otherOrgId)).rawContentGrantedAt).toBeNull();
    // Nor can an admin take a grant away that an owner gave.
    expect((await grant(rootToken, reviewer.id)).statusCode).toBe(200);
    expect((await revoke(admin.token, reviewer.id)).statusCode).toBe(403);
    expect((await storedGrant(reviewer.id)).rawContentGrantedBy).toBe(rootId);
  });

  it('[ASVS 8.2.1] nobody grants themselves, not even an owner; a second owner must', async () => {
    const selfGrant = await grant(rootToken, rootId);
    expect(selfGrant.statusCode, selfGrant.body).toBe(403);
    expect(selfGrant.json<{ code: string }>().code).toBe('own_raw_content_grant');
    expect((await get(evidenceUrl, bearer(rootToken))).statusCode).toBe(403);
    const secondOwner = await person('owner');
    expect((await grant(secondOwner.token, rootId)).statusCode).toBe(200);
    expect((await get(evidenceUrl, bearer(rootToken))).statusCode).toBe(200);
    // An owner may give their own grant up.
    expect((await revoke(rootToken, rootId)).statusCode).toBe(204);
    expect((await get(evidenceUrl, bearer(rootToken))).statusCode).toBe(403);
  });

  it('[ASVS 7.5.3] an owner with a second factor grants only after a recent MFA sign-in', async () => {
    const owner = await person('owner');
    const reviewer = await person('reviewer');
    const started = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/totp', headers: bearer(owner.token) });
    expect(started.statusCode, started.body).toBe(201);
    const { secret } = started.json<{ secret: string }>();
    const confirmed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/totp/confirm', headers: { ...bearer(owner.token), ...json }, payload: { code: oathCode(secret, Date.now()) } });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const passwordOnly = await grant(owner.token, reviewer.id);
    expect(passwordOnly.statusCode, passwordOnly.body).toBe(401);
    expect(passwordOnly.json<{ code: string }>().code).toBe('insufficient_user_authentication');
    expect((await storedGrant(reviewer.id)).rawContentGrantedAt).toBeNull();
    const { mfaToken } = await challenge(t, owner.email, PASSWORD);
    const signedIn = await verify(t, mfaToken, 'backup-code', confirmed.json<{ backupCodes: string[] }>().backupCodes[0]!);
    expect(signedIn.statusCode, signedIn.body).toBe(200);
    expect((await grant(signedIn.json<{ accessToken: string }>().accessToken, reviewer.id)).statusCode).toBe(200);
  });
});

describe('the grant belongs to one membership in one organisation', () => {
  it("[ASVS 8.4.1] another organisation's member, or a grant addressed to another organisation, is a 404 that changes nothing", async () => {
    const outsider = await person('reviewer', otherOrgId);
    const crossMember = await grant(rootToken, outsider.id);
    expect(crossMember.statusCode, crossMember.body).toBe(404);
    const otherOwner = await login(t, 'raw-other-owner@example.test', PASSWORD);
    const local = await person('reviewer');
    expect((await grant(otherOwner.accessToken, local.id, {}, orgId)).statusCode).toBe(404);
    expect((await grant(otherOwner.accessToken, outsider.id, {}, orgId)).statusCode).toBe(404);
    expect((await storedGrant(outsider.id, otherOrgId)).rawContentGrantedAt).toBeNull();
    expect((await storedGrant(local.id)).rawContentGrantedAt).toBeNull();
  });

  it('[ASVS 8.2.2] a grant in one organisation lends nothing in another organisation of the same user', async () => {
    const reviewer = await person('reviewer');
    await addMember(t, otherOrgId, reviewer.id, 'reviewer');
    expect((await grant(rootToken, reviewer.id)).statusCode).toBe(200);
    expect((await get(evidenceUrl, bearer(reviewer.token))).statusCode).toBe(200);
    const elsewhere = await get(foreignEvidenceUrl, bearer(reviewer.token, { 'x-organization-id': otherOrgId }));
    expect(elsewhere.statusCode, elsewhere.body).toBe(403);
  });

  it('[ASVS 8.3.3] an API key reads raw content only while its owner holds the grant, and a key never gives it', async () => {
    const redTeamer = await person('red-teamer');
    const scopes = ['attempts:read', 'raw-content:read'];
    const createKey = () => t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { ...bearer(redTeamer.token), ...json }, payload: { name: `raw ${++seq}`, scopes } });
    const refused = await createKey();
    expect(refused.statusCode, refused.body).toBe(422);
    expect(refused.body).toContain('raw-content:read');
    expect((await grant(rootToken, redTeamer.id)).statusCode).toBe(200);
    const created = await createKey();
    expect(created.statusCode, created.body).toBe(201);
    const withKey = { 'x-api-key': created.json<{ key: string }>().key };
    expect((await get(evidenceUrl, withKey)).statusCode).toBe(200);
    expect((await revoke(rootToken, redTeamer.id)).statusCode).toBe(204);
    expect((await get(evidenceUrl, withKey)).statusCode).toBe(403);
    // An owner's key with members:manage may take a grant away but never give one.
    const ownerKey = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { ...bearer(rootToken), ...json }, payload: { name: 'owner key', scopes: ['members:manage'] } });
    expect(ownerKey.statusCode, ownerKey.body).toBe(201);
    const byKey = await t.app.inject({ method: 'PUT', url: grantUrl(redTeamer.id), headers: { 'x-api-key': ownerKey.json<{ key: string }>().key } });
    expect(byKey.statusCode, byKey.body).toBe(403);
    expect((await storedGrant(redTeamer.id)).rawContentGrantedAt).toBeNull();
  });
});

describe('the audit trail of the grant', () => {
  it('[ASVS 16.3.2] records grants, revokes and refused attempts with actor, organisation and member, and no content', async () => {
    const reviewer = await person('reviewer');
    const admin = await person('admin');
    await grant(rootToken, reviewer.id, { 'x-request-id': 'raw-grant-given-01' });
    await revoke(rootToken, reviewer.id, { 'x-request-id': 'raw-grant-taken-01' });
    await grant(admin.token, reviewer.id, { 'x-request-id': 'raw-grant-refused-01' });
    await grant(rootToken, rootId, { 'x-request-id': 'raw-grant-self-01' });
    const expected = [
      ['raw-grant-given-01', 'member.raw-content.granted', 'success', rootId],
      ['raw-grant-taken-01', 'member.raw-content.revoked', 'success', rootId],
      ['raw-grant-refused-01', 'member.raw-content.granted', 'denied', admin.id],
    ] as const;
    for (const [requestId, action, outcome, actorId] of expected) {
      const events = await readAudit(t, { requestId });
      expect(events, requestId).toHaveLength(1);
      expect(events[0]).toMatchObject({ action, outcome, actorId, orgId, resourceType: 'membership', resourceId: reviewer.id });
      expect(JSON.stringify(events[0])).not.toContain(CANARY);
    }
    expect(await readAudit(t, { requestId: 'raw-grant-self-01' })).toMatchObject([{ action: 'member.raw-content.granted', outcome: 'denied', actorId: rootId, resourceId: rootId }]);
  });
});
