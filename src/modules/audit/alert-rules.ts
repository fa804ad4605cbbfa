import { createHash } from 'node:crypto';
import type { Policy } from '../../config/policy.schema.js';
import type { AuditAlertSeverity, StoredAuditEvent } from '../../db/schema.js';
import type { AuditAction } from './audit.catalogue.js';

/** One sealed event as the rules see it: ids, times and facts; no address, no user agent. */
export type AnalysedEvent = Pick<
  StoredAuditEvent,
  'id' | 'occurredAt' | 'actorType' | 'actorId' | 'orgId' | 'action' | 'resourceType' | 'resourceId' | 'subjectIndex' | 'outcome' | 'detail'
> & {
  seq: number;
  /** Blind index of the client address, computed by the job for failed sign-ins only. */
  ipIndex: Buffer | null;
};

/** A window of the sealed stream: events up to `upToSeq` that occurred in (from, to]. */
export interface EventWindow {
  from: Date;
  to: Date;
  upToSeq: number;
}

export interface EventFilter {
  actions: readonly AuditAction[];
  subjectIndex?: Buffer;
  actorId?: string;
  /** `null` matches platform-level events only. */
  orgId?: string | null;
}

export interface WindowCount {
  count: number;
  /** The lowest sequence number counted (the alert's seq range starts there). */
  firstSeq: number | null;
}

/** What a rule may ask while it looks at one event. Every answer covers sealed events only. */
export interface RuleContext {
  readonly thresholds: Policy['audit']['alerts'];
  countEvents(filter: EventFilter, window: EventWindow): Promise<WindowCount>;
  countFailedLoginsFromAddress(ipIndex: Buffer, window: EventWindow): Promise<WindowCount>;
  /** Whether this rule raised an alert for the group whose trigger occurred at or after `since`. */
  raisedSince(rule: string, groupKey: string, since: Date): Promise<boolean>;
}

/** What a rule raises; the engine adds id, dedupe key, trigger time and the seq range's end. */
export interface RuleAlert {
  severity: AuditAlertSeverity;
  /** Ids and counts only: it is shown in the API and sent to the webhook. */
  summary: string;
  orgId: string | null;
  /** Rule-specific grouping (account, address, actor); hashed before it is stored. */
  groupKey: string;
  firstSeq?: number;
  detail: Record<string, string | number | boolean | null>;
}

/**
 * One analysis rule. Open for later modules: a rule is an id, a description and `onEvent`, which
 * looks at one sealed event (in `seq` order) and may raise an alert. It must be deterministic over
 * the sealed stream (a re-run batch raises the same alerts, which the dedupe key then drops).
 */
export interface AlertRule {
  id: string;
  description: string;
  onEvent(event: AnalysedEvent, ctx: RuleContext): Promise<RuleAlert | undefined>;
}

/** Group keys are stored hashed: a blind index or an actor id never becomes a searchable column of alerts. */
export const hashGroupKey = (rule: string, key: string): string => createHash('sha256').update(`${rule}\u0000${key}`).digest('hex');

const MINUTE_MS = 60_000;
/** How far back the api-key rule looks for the creator's MFA sign-in (the default longest session). */
const API_KEY_MFA_LOOKBACK_MINUTES = 24 * 60;

const windowEndingAt = (event: AnalysedEvent, windowMinutes: number): EventWindow => ({
  from: new Date(event.occurredAt.getTime() - windowMinutes * MINUTE_MS),
  to: event.occurredAt,
  upToSeq: event.seq,
});

/**
 * A burst rule: `count` matching events within `windowMinutes` (ending at this event) raise one
 * alert; while an alert for the same group is younger than the window, the burst goes on quietly
 * (one alert per window, not one per event above the threshold).
 */
export function burstRule(spec: {
  id: string;
  description: string;
  severity: AuditAlertSeverity;
  threshold: (thresholds: RuleContext['thresholds']) => { count: number; windowMinutes: number };
  /** The group the event belongs to, and how to count its window; undefined: the event is not watched. */
  groupOf: (event: AnalysedEvent) => { key: string; orgId: string | null; count: (ctx: RuleContext, window: EventWindow) => Promise<WindowCount> } | undefined;
  summary: (count: number, windowMinutes: number, event: AnalysedEvent) => string;
  detail?: (event: AnalysedEvent) => RuleAlert['detail'];
}): AlertRule {
  return {
    id: spec.id,
    description: spec.description,
    async onEvent(event, ctx) {
      const group = spec.groupOf(event);
      if (!group) return undefined;
      const { count: threshold, windowMinutes } = spec.threshold(ctx.thresholds);
      const window = windowEndingAt(event, windowMinutes);
      const counted = await group.count(ctx, window);
      if (counted.count < threshold) return undefined;
      const groupKey = hashGroupKey(spec.id, group.key);
      if (await ctx.raisedSince(spec.id, groupKey, window.from)) return undefined;
      return {
        severity: spec.severity,
        summary: spec.summary(counted.count, windowMinutes, event),
        orgId: group.orgId,
        groupKey,
        ...(counted.firstSeq === null ? {} : { firstSeq: counted.firstSeq }),
        detail: { count: counted.count, threshold, windowMinutes, ...(spec.detail?.(event) ?? {}) },
      };
    },
  };
}

const SENSITIVE_READS: readonly AuditAction[] = ['finding.read', 'finding.list', 'attempt.read', 'attempt.list', 'evidence.read'];
const PRIVILEGE_CHANGES: ReadonlySet<string> = new Set<AuditAction>([
  'user.role.changed',
  'user.platform-role.changed',
  'user.disabled',
  'user.enabled',
  'user.deleted',
  // Seeing raw attack content is the most sensitive grant there is.
  'member.raw-content.granted',
]);

const isFailedLogin = (event: AnalysedEvent) => event.action === 'auth.login.failed';

/** The built-in rules (issue 4 item 4). */
export const builtInAlertRules: readonly AlertRule[] = [
  burstRule({
    id: 'failed-logins-per-account',
    description: 'Failed sign-ins for one account (blind index of the submitted email) reach the threshold within the window.',
    severity: 'high',
    threshold: (t) => t.failedLoginsPerAccount,
    groupOf: (event) => {
      const subjectIndex = event.subjectIndex;
      if (!isFailedLogin(event) || !subjectIndex) return undefined;
      return {
        key: subjectIndex.toString('hex'),
        orgId: null,
        count: (ctx, window) => ctx.countEvents({ actions: ['auth.login.failed'], subjectIndex }, window),
      };
    },
    summary: (count, minutes) => `${count} failed sign-ins for one account within ${minutes} minutes`,
  }),
  burstRule({
    id: 'failed-logins-per-address',
    description: 'Failed sign-ins from one client address (any accounts) reach the threshold within the window.',
    severity: 'high',
    threshold: (t) => t.failedLoginsPerAddress,
    groupOf: (event) => {
      const ipIndex = event.ipIndex;
      if (!isFailedLogin(event) || !ipIndex) return undefined;
      return { key: ipIndex.toString('hex'), orgId: null, count: (ctx, window) => ctx.countFailedLoginsFromAddress(ipIndex, window) };
    },
    summary: (count, minutes) => `${count} failed sign-ins from one client address within ${minutes} minutes`,
  }),
  burstRule({
    id: 'sensitive-read-volume',
    description: 'One principal reads findings, attempts or evidence of one organisation in unusual volume.',
    severity: 'medium',
    threshold: (t) => t.sensitiveReadsPerActor,
    groupOf: (event) => {
      const actorId = event.actorId;
      if (!SENSITIVE_READS.includes(event.action as AuditAction) || !actorId) return undefined;
      const orgId = event.orgId;
      return {
        key: `${actorId}\u0000${orgId ?? ''}`,
        orgId,
        count: (ctx, window) => ctx.countEvents({ actions: SENSITIVE_READS, actorId, orgId }, window),
      };
    },
    summary: (count, minutes, event) => `${event.actorType} ${event.actorId ?? ''} read findings, attempts or evidence ${count} times within ${minutes} minutes`,
    detail: (event) => ({ actorType: event.actorType, actorId: event.actorId }),
  }),
  {
    id: 'privilege-change',
    description: 'A role, platform role or account status changed (one alert per change).',
    onEvent(event) {
      if (!PRIVILEGE_CHANGES.has(event.action) || event.outcome !== 'success') return Promise.resolve(undefined);
      return Promise.resolve({
        severity: 'medium' as const,
        summary: `${event.action} on ${event.resourceType ?? 'resource'} ${event.resourceId ?? ''} by ${event.actorType} ${event.actorId ?? ''}`.slice(0, 500),
        orgId: event.orgId,
        groupKey: hashGroupKey('privilege-change', event.id),
        detail: { action: event.action, resourceId: event.resourceId, actorType: event.actorType, actorId: event.actorId },
      });
    },
  },
  {
    id: 'api-key-created-without-mfa',
    description: 'A user created an API key without a multi-factor sign-in in the preceding 24 hours (their session was password-only).',
    async onEvent(event, ctx) {
      if (event.action !== 'api-key.created' || event.outcome !== 'success' || event.actorType !== 'user' || !event.actorId) return undefined;
      // A session lives at most refreshAbsoluteHours (24 h by default): no MFA completion by this user
      // in that span means the key was minted from a password-only sign-in. Users with a factor must
      // step up to create keys, so in practice this is "a user without MFA".
      const window = windowEndingAt(event, API_KEY_MFA_LOOKBACK_MINUTES);
      const verified = await ctx.countEvents({ actions: ['auth.mfa.verified'], actorId: event.actorId }, window);
      if (verified.count > 0) return undefined;
      return {
        severity: 'medium' as const,
        summary: `API key ${event.resourceId ?? ''} created by user ${event.actorId} without MFA`.slice(0, 500),
        orgId: event.orgId,
        groupKey: hashGroupKey('api-key-created-without-mfa', event.id),
        detail: { resourceId: event.resourceId, actorId: event.actorId },
      };
    },
  },
  {
    id: 'chain-verification-failed',
    description: 'The audit chain or a checkpoint failed verification.',
    onEvent(event) {
      if (event.action !== 'audit.chain.verification-failed') return Promise.resolve(undefined);
      const firstBadSeq = event.detail.firstBadSeq;
      return Promise.resolve({
        severity: 'critical' as const,
        summary: `Audit chain verification failed${typeof firstBadSeq === 'number' ? ` at sequence ${firstBadSeq}` : ''}`,
        orgId: null,
        groupKey: hashGroupKey('chain-verification-failed', event.id),
        detail: { firstBadSeq: typeof firstBadSeq === 'number' ? firstBadSeq : null },
      });
    },
  },
];
