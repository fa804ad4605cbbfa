import { describe, expect, it } from 'vitest';
import { buildPolicy } from '../../config/policy-file.js';
import { builtInAlertRules, type AlertRule, type AnalysedEvent, type RuleAlert, type RuleContext } from './alert-rules.js';

const thresholds = {
  ...buildPolicy({}, 'test').policy.audit.alerts,
  failedLoginsPerAccount: { count: 3, windowMinutes: 10 },
  failedLoginsPerAddress: { count: 4, windowMinutes: 5 },
  sensitiveReadsPerActor: { count: 5, windowMinutes: 1 },
};

const ruleOf = (id: string): AlertRule => builtInAlertRules.find((rule) => rule.id === id)!;

/** The stream and raised alerts in memory: what the SQL context answers, computed the plain way. */
function harness(rule: AlertRule) {
  const events: AnalysedEvent[] = [];
  const raised: Array<{ groupKey: string; at: Date; alert: RuleAlert }> = [];
  const inWindow = (event: AnalysedEvent, window: { from: Date; to: Date; upToSeq: number }) =>
    event.seq <= window.upToSeq && event.occurredAt > window.from && event.occurredAt <= window.to;
  const counted = (matches: AnalysedEvent[]) => ({ count: matches.length, firstSeq: matches.length > 0 ? Math.min(...matches.map((e) => e.seq)) : null });
  const ctx: RuleContext = {
    thresholds,
    countEvents: (filter, window) =>
      Promise.resolve(
        counted(
          events.filter(
            (event) =>
              inWindow(event, window) &&
              filter.actions.includes(event.action as never) &&
              (!filter.subjectIndex || event.subjectIndex?.equals(filter.subjectIndex)) &&
              (filter.actorId === undefined || event.actorId === filter.actorId) &&
              (filter.orgId === undefined || event.orgId === filter.orgId),
          ),
        ),
      ),
    countFailedLoginsFromAddress: (ipIndex, window) => Promise.resolve(counted(events.filter((event) => inWindow(event, window) && event.ipIndex?.equals(ipIndex)))),
    raisedSince: (_rule, groupKey, since) => Promise.resolve(raised.some((entry) => entry.groupKey === groupKey && entry.at >= since)),
  };
  let seq = 0;
  const start = Date.parse('2026-11-28T10:00:00Z');
  return {
    raised,
    /** Appends an event `atSeconds` after the start and runs the rule on it, as the job does. */
    async feed(atSeconds: number, fields: Partial<AnalysedEvent>): Promise<RuleAlert | undefined> {
      seq += 1;
      const event: AnalysedEvent = {
        id: `00000000-0000-7000-8000-${String(seq).padStart(12, '0')}`,
        seq,
        occurredAt: new Date(start + atSeconds * 1000),
        actorType: 'anonymous',
        actorId: null,
        orgId: null,
        action: 'auth.login.failed',
        resourceType: 'account',
        resourceId: null,
        subjectIndex: null,
        outcome: 'denied',
        detail: {},
        ipIndex: null,
        ...fields,
      };
      events.push(event);
      const alert = await rule.onEvent(event, ctx);
      if (alert) raised.push({ groupKey: alert.groupKey, at: event.occurredAt, alert });
      return alert;
    },
  };
}

const account = (n: number) => Buffer.alloc(32, n);

describe('alert rules', () => {
  it('failed logins per account: fires at the threshold, not below, once per window, per account', async () => {
    const h = harness(ruleOf('failed-logins-per-account'));
    expect(await h.feed(0, { subjectIndex: account(1) })).toBeUndefined();
    expect(await h.feed(10, { subjectIndex: account(2) })).toBeUndefined();
    expect(await h.feed(20, { subjectIndex: account(1) })).toBeUndefined();
    const alert = await h.feed(30, { subjectIndex: account(1) });
    expect(alert).toMatchObject({ severity: 'high', orgId: null, firstSeq: 1, detail: { count: 3, threshold: 3, windowMinutes: 10 } });
    expect(alert!.summary).toBe('3 failed sign-ins for one account within 10 minutes');
    // The burst goes on: no second alert inside the window.
    expect(await h.feed(40, { subjectIndex: account(1) })).toBeUndefined();
    expect(h.raised).toHaveLength(1);
  });

  it('failed logins per account: failures spread wider than the window never fire', async () => {
    const h = harness(ruleOf('failed-logins-per-account'));
    for (const minute of [0, 6, 12, 18, 24]) expect(await h.feed(minute * 60, { subjectIndex: account(1) })).toBeUndefined();
  });

  it('failed logins per account: a new burst after the window raises a new alert', async () => {
    const h = harness(ruleOf('failed-logins-per-account'));
    for (const second of [0, 1, 2]) await h.feed(second, { subjectIndex: account(1) });
    for (const second of [1200, 1201]) expect(await h.feed(second, { subjectIndex: account(1) })).toBeUndefined();
    expect(await h.feed(1202, { subjectIndex: account(1) })).toBeDefined();
    expect(h.raised).toHaveLength(2);
  });

  it('failed logins per address: counts one address across accounts', async () => {
    const h = harness(ruleOf('failed-logins-per-address'));
    const ip = Buffer.alloc(32, 9);
    for (let n = 1; n <= 3; n += 1) expect(await h.feed(n, { ipIndex: ip, subjectIndex: account(n) })).toBeUndefined();
    expect(await h.feed(4, { ipIndex: Buffer.alloc(32, 8) })).toBeUndefined();
    expect(await h.feed(5, { ipIndex: ip })).toMatchObject({ detail: { count: 4, threshold: 4 } });
  });

  it('sensitive read volume: one actor in one organisation, at the threshold', async () => {
    const h = harness(ruleOf('sensitive-read-volume'));
    const read: Partial<AnalysedEvent> = { actorType: 'user', actorId: 'u-1', orgId: 'org-a', outcome: 'success' };
    for (const [n, action] of ['finding.read', 'finding.list', 'attempt.read', 'evidence.read'].entries()) {
      expect(await h.feed(n, { ...read, action })).toBeUndefined();
    }
    // Another organisation's reads and other actions do not count towards org-a.
    expect(await h.feed(5, { ...read, orgId: 'org-b', action: 'finding.read' })).toBeUndefined();
    expect(await h.feed(6, { ...read, action: 'user.read' })).toBeUndefined();
    const alert = await h.feed(7, { ...read, action: 'finding.read' });
    expect(alert).toMatchObject({ orgId: 'org-a', severity: 'medium', detail: { count: 5, actorId: 'u-1' } });
  });

  it('sensitive read volume: the window slides (old reads stop counting)', async () => {
    const h = harness(ruleOf('sensitive-read-volume'));
    const read: Partial<AnalysedEvent> = { actorType: 'user', actorId: 'u-1', orgId: 'org-a', action: 'finding.read' };
    for (const second of [0, 10, 20, 30]) await h.feed(second, read);
    expect(await h.feed(61, read)).toBeUndefined();
  });

  it('privilege changes: one alert each, in the organisation of the change', async () => {
    const h = harness(ruleOf('privilege-change'));
    for (const action of ['user.role.changed', 'user.platform-role.changed', 'user.disabled', 'user.enabled', 'user.deleted', 'member.raw-content.granted']) {
      const alert = await h.feed(1, { action, actorType: 'user', actorId: 'admin-1', orgId: 'org-a', resourceId: 'm-1', outcome: 'success' });
      expect(alert?.orgId).toBe('org-a');
    }
    expect(new Set(h.raised.map((entry) => entry.groupKey)).size).toBe(6);
    expect(await h.feed(2, { action: 'user.role.changed', outcome: 'denied' })).toBeUndefined();
    expect(await h.feed(3, { action: 'user.profile.updated', outcome: 'success' })).toBeUndefined();
  });

  it('failed chain verification: a critical platform-level alert', async () => {
    const h = harness(ruleOf('chain-verification-failed'));
    const alert = await h.feed(1, { action: 'audit.chain.verification-failed', actorType: 'system', detail: { firstBadSeq: 42 } });
    expect(alert).toMatchObject({ severity: 'critical', orgId: null, detail: { firstBadSeq: 42 } });
    expect(alert!.summary).toBe('Audit chain verification failed at sequence 42');
  });
});
