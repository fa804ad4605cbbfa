import { randomUUID } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildPolicy } from '../../src/config/policy-file.js';
import { createLogger } from '../../src/platform/logger.js';
import { asPrincipal, createTestApp, type TestApp } from '../setup/test-app.js';
import { readAudit } from '../setup/audit-trail.js';

/**
 * POLICY_FILE (DESIGN §7): the file's policy is applied at start as version 1; a valid rewrite is
 * applied without restart (polling, or SIGHUP) as the next numbered, hashed version; an invalid
 * one leaves the policy in force; admins read both through /api/v1/policy.
 */
interface PolicyVersion {
  sequence: number;
  contentHash: string;
  source: string;
  appliedAt: string;
  content: { lockout: { maxFailures: number }; password: { minLength: number }; rateLimits: { perIp: { limit: number } } };
}

let t: TestApp;
let policyDir: string;
let policyFile: string;
const logLines: Array<{ msg: string; [field: string]: unknown }> = [];
const reader = asPrincipal(randomUUID(), ['platform:policy:read']);
// The watcher polls every second; a reload must land well within this.
const RELOAD = { timeout: 8000, interval: 50 };

/** Replaces the file the way editors and config tools do, so no poll ever sees it half-written. */
const replacePolicyFile = (text: string) => {
  const temporary = `${policyFile}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, policyFile);
};
const getPolicy = async () => {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/policy', headers: reader });
  expect(response.statusCode).toBe(200);
  return response.json() as PolicyVersion;
};
const getVersions = async () => {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/policy/versions', headers: reader });
  expect(response.statusCode).toBe(200);
  return (response.json() as { items: PolicyVersion[] }).items;
};

beforeAll(async () => {
  policyDir = mkdtempSync(path.join(tmpdir(), 'vutf-policy-reload-'));
  policyFile = path.join(policyDir, 'policy.yaml');
  writeFileSync(policyFile, 'lockout:\n  maxFailures: 3\npassword:\n  minLength: 16\n');
  const logger = createLogger('info', { write: (line: string) => void logLines.push(JSON.parse(line) as { msg: string }) });
  t = await createTestApp({ env: { POLICY_FILE: policyFile }, overrides: { logger } });
});
afterAll(async () => {
  const listeners = process.listenerCount('SIGHUP');
  await t?.close();
  // Closing the container stops the watcher: no SIGHUP listener and no poller left behind.
  if (t) expect(process.listenerCount('SIGHUP')).toBe(listeners - 1);
  rmSync(policyDir, { recursive: true, force: true });
});

describe('at start', () => {
  it("applies the file's policy as version 1", async () => {
    const applied = await getPolicy();
    const expected = buildPolicy({ lockout: { maxFailures: 3 }, password: { minLength: 16 } }, policyFile);
    expect(applied.sequence).toBe(1);
    expect(applied.source).toBe(policyFile);
    expect(applied.contentHash).toBe(expected.contentHash);
    expect(applied.content).toEqual(JSON.parse(JSON.stringify(expected.policy)));
    expect(applied.content.lockout.maxFailures).toBe(3);
    expect(applied.content.password.minLength).toBe(16);
    expect(new Date(applied.appliedAt).getTime()).not.toBeNaN();
    expect(t.container.policy.current().lockout.maxFailures).toBe(3);
    expect(await getVersions()).toEqual([applied]);
  });

  it('answers 401 without a principal and 403 without platform:policy:read', async () => {
    const other = asPrincipal(randomUUID(), ['orgs:read']);
    for (const url of ['/api/v1/policy', '/api/v1/policy/versions']) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'GET', url, headers: other })).statusCode).toBe(403);
    }
  });
});

describe('reload without restart', () => {
  it('applies a rewritten file as version 2, newest first in the history', async () => {
    const before = await getPolicy();
    replacePolicyFile('lockout:\n  maxFailures: 4\npassword:\n  minLength: 16\nrateLimits:\n  perIp:\n    limit: 50\n');
    await vi.waitFor(() => expect(t.container.policy.current().lockout.maxFailures).toBe(4), RELOAD);
    expect(t.container.policy.current().rateLimits.perIp.limit).toBe(50);

    const applied = await getPolicy();
    expect(applied.sequence).toBe(2);
    expect(applied.content.lockout.maxFailures).toBe(4);
    expect(applied.contentHash).not.toBe(before.contentHash);
    const versions = await getVersions();
    expect(versions.map((version) => version.sequence)).toEqual([2, 1]);
    expect(versions[0]).toEqual(applied);
    expect(versions[1]).toEqual(before);
    expect(logLines).toContainEqual(expect.objectContaining({ msg: 'policy applied', policySequence: 2, policyHash: applied.contentHash }));
    // DESIGN §7: each applied version is audited (a platform-level event of the system actor).
    const events = await readAudit(t, { action: 'policy.applied' });
    expect(events.map((event) => [event.actorType, event.actorId, event.orgId, event.resourceId, event.detail])).toEqual([
      ['system', 'policy', null, '1', { sequence: 1, contentHash: before.contentHash }],
      ['system', 'policy', null, '2', { sequence: 2, contentHash: applied.contentHash }],
    ]);
  });

  it('puts the new per-IP rate limit in force on the next request', async () => {
    // Another client address, so the limit spent here does not throttle the other tests.
    const client = { remoteAddress: '203.0.113.7' };
    const statuses: number[] = [];
    for (let i = 0; i < 52; i++) {
      const response = await t.app.inject({ method: 'GET', url: '/api/v1/policy', headers: reader, ...client });
      expect(response.headers['ratelimit-limit']).toBe('50');
      statuses.push(response.statusCode);
    }
    expect(statuses.slice(0, 50)).toEqual(Array<number>(50).fill(200));
    expect(statuses.slice(50)).toEqual([429, 429]);
  });

  it('keeps the policy in force and records no version when the rewrite is invalid', async () => {
    const before = await getPolicy();
    const rejectedBefore = logLines.filter((line) => line.msg.startsWith('policy file rejected')).length;
    replacePolicyFile('lockout:\n  maxFailures: 0\n  tries: 3\n');
    await vi.waitFor(() => expect(logLines.filter((line) => line.msg.startsWith('policy file rejected'))).toHaveLength(rejectedBefore + 1), RELOAD);
    expect(t.container.policy.current().lockout.maxFailures).toBe(4);
    expect(await getPolicy()).toEqual(before);
    expect((await getVersions()).map((version) => version.sequence)).toEqual([2, 1]);

    replacePolicyFile('lockout: [unclosed\n');
    await vi.waitFor(() => expect(logLines.filter((line) => line.msg.startsWith('policy file rejected'))).toHaveLength(rejectedBefore + 2), RELOAD);
    expect(await getPolicy()).toEqual(before);
    expect((await getVersions()).map((version) => version.sequence)).toEqual([2, 1]);
    expect(await readAudit(t, { action: 'policy.applied' })).toHaveLength(2);
  });

  it('re-reads the file on SIGHUP even when polling sees no change', async () => {
    replacePolicyFile('lockout:\n  maxFailures: 6\n');
    await vi.waitFor(() => expect(t.container.policy.current().lockout.maxFailures).toBe(6), RELOAD);
    const fromFile = t.container.policy.applied();
    expect(fromFile.sequence).toBe(3);

    // Put another policy in force behind the file's back: the file is untouched, so the poller
    // has nothing to report and only the SIGHUP handler can bring the file's policy back.
    await t.container.policy.apply(buildPolicy({ lockout: { maxFailures: 42 } }, 'test'));
    expect(t.container.policy.current().lockout.maxFailures).toBe(42);
    // Without a listener SIGHUP would end this worker: the watcher must have installed one.
    expect(process.listenerCount('SIGHUP')).toBeGreaterThan(0);
    process.kill(process.pid, 'SIGHUP');
    await vi.waitFor(() => expect(t.container.policy.current().lockout.maxFailures).toBe(6), RELOAD);

    const versions = await getVersions();
    expect(versions.map((version) => [version.sequence, version.source, version.content.lockout.maxFailures])).toEqual([
      [5, policyFile, 6],
      [4, 'test', 42],
      [3, policyFile, 6],
      [2, policyFile, 4],
      [1, policyFile, 3],
    ]);
    // Re-applying the same content yields a new sequence but the same hash.
    expect(versions[0]!.contentHash).toBe(fromFile.contentHash);
  });

  it('records nothing when reload() finds the content already in force', async () => {
    await t.container.policyWatcher!.reload();
    await t.container.policyWatcher!.reload();
    expect((await getPolicy()).sequence).toBe(5);
    expect(await getVersions()).toHaveLength(5);
  });
});
