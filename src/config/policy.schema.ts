import { Type, type Static, type TSchema } from 'typebox';

/**
 * The tunable policy (POLICY_FILE), every field optional in the file and defaulted here.
 * Defaults follow NIST SP 800-63B-4 and FedRAMP moderate where they apply (DESIGN §7).
 */
const Int = (defaultValue: number, minimum: number, maximum: number, description: string) =>
  Type.Integer({ default: defaultValue, minimum, maximum, description });

const Section = <T extends Record<string, TSchema>>(properties: T) =>
  Type.Object(properties, { additionalProperties: false, default: {} });

const RateTier = (limit: number, windowSeconds: number, description: string) =>
  Type.Object(
    { limit: Int(limit, 1, 1_000_000, 'Requests per window.'), windowSeconds: Int(windowSeconds, 1, 86_400, 'Window length.') },
    { additionalProperties: false, default: {}, description },
  );

/** An analysis threshold: `count` events within `windowMinutes` raise an alert (issue 4 item 4). */
const AlertThreshold = (count: number, windowMinutes: number, description: string) =>
  Type.Object(
    {
      count: Int(count, 2, 100_000, 'Events within the window that raise the alert.'),
      windowMinutes: Int(windowMinutes, 1, 1440, 'Window length (at most a day).'),
    },
    { additionalProperties: false, default: {}, description },
  );

export const PolicySchema = Type.Object(
  {
    password: Section({
      minLength: Int(15, 8, 128, 'Minimum length (NIST SP 800-63B-4: 15 without MFA).'),
      minLengthWithMfa: Int(8, 8, 128, 'Minimum length where the organisation requires MFA.'),
      maxLength: Int(128, 64, 1024, 'Maximum accepted length.'),
      minStrengthScore: Int(3, 0, 4, 'Minimum zxcvbn score.'),
      hashMemoryCostKiB: Int(19_456, 19_456, 1_048_576, 'argon2id memory cost.'),
      hashTimeCost: Int(2, 2, 20, 'argon2id iterations.'),
      hashParallelism: Int(1, 1, 16, 'argon2id lanes.'),
    }),
    lockout: Section({
      maxFailures: Int(5, 1, 100, 'Failed logins before the account locks.'),
      windowMinutes: Int(15, 1, 1440, 'Window in which failures count.'),
      lockMinutes: Int(30, 1, 10_080, 'How long a lock lasts before it lifts by itself.'),
    }),
    accounts: Section({
      selfRegistration: Type.Boolean({ default: false, description: 'Anyone may create an account (confirmed by mail); off by default.' }),
      invitationTtlHours: Int(72, 1, 720, 'How long an invitation can be accepted.'),
      registrationTtlHours: Int(24, 1, 168, 'How long a self-registration confirmation stays valid.'),
      passwordResetTtlMinutes: Int(15, 5, 60, 'How long a password-reset token stays valid.'),
      mailPerRecipientPerHour: Int(3, 1, 100, 'Mails that anonymous requests (password reset, self-registration) may send to one address per hour.'),
    }),
    sessions: Section({
      idleTimeoutMinutes: Int(15, 1, 1440, 'Idle timeout of a browser session.'),
      privilegedIdleTimeoutMinutes: Int(10, 1, 1440, 'Idle timeout for owners and admins.'),
      absoluteTimeoutHours: Int(12, 1, 720, 'Longest life of a session.'),
      maxPerUser: Int(10, 1, 100, 'Browser sessions one user may hold at once; a new sign-in ends the oldest beyond this.'),
    }),
    tokens: Section({
      accessTtlSeconds: Int(600, 60, 3600, 'Lifetime of an access token.'),
      refreshIdleMinutes: Int(480, 5, 10_080, 'A refresh token unused this long dies.'),
      refreshAbsoluteHours: Int(24, 1, 720, 'A login (refresh-token family) ends this long after it began.'),
    }),
    mfa: Section({
      defaultRequirement: Type.Union([Type.Literal('everyone'), Type.Literal('owners-and-admins'), Type.Literal('optional')], {
        default: 'owners-and-admins',
      }),
      enrollmentGraceDays: Int(7, 0, 90, 'Days a user may sign in before enrolling when MFA is required.'),
      stepUpMaxAgeMinutes: Int(15, 1, 1440, 'How recent MFA must be for sensitive actions.'),
    }),
    rateLimits: Section({
      perIp: RateTier(600, 60, 'Every request from one client address, before its body is read.'),
      authentication: RateTier(30, 60, 'Login and token attempts per client address (lets a client log in 15 times in 10 s).'),
      read: RateTier(1200, 60, 'Authenticated reads (GET, HEAD) per user or API key.'),
      write: RateTier(300, 60, 'Authenticated writes per user or API key.'),
      scanStart: RateTier(30, 3600, 'Scans started per user or API key.'),
    }),
    retention: Section({
      idempotencyRecordsHours: Int(24, 1, 720, 'How long an Idempotency-Key is remembered.'),
      auditEventsDays: Int(365, 90, 3650, 'Audit events, purged in whole sealed segments (FISMA moderate: at least 90 days online).'),
      attemptsDays: Int(365, 1, 3650, 'Scan attempts and their evidence, counted from the end of their scan.'),
      softDeletedDays: Int(30, 1, 3650, 'Soft-deleted rows before purge.'),
      revokedSessionsDays: Int(1, 1, 90, 'Refresh-token families (API sessions) kept after revocation, so a replayed token still counts as reuse; expired ones go at once.'),
      expiredEmailTokensDays: Int(7, 1, 365, 'Invitation, reset and registration tokens kept after expiry (support questions).'),
      finishedOutboxDays: Int(30, 1, 3650, 'Sent or failed mail, and delivered or failed alert webhook deliveries.'),
      acknowledgedAlertsDays: Int(365, 30, 3650, 'Acknowledged audit alerts (open alerts are never purged).'),
      inactiveAccountDays: Int(90, 1, 3650, 'Accounts unused this long are disabled.'),
    }),
    audit: Section({
      alerts: Type.Object(
        {
          failedLoginsPerAccount: AlertThreshold(10, 15, 'Failed sign-ins for one account (by blind index of the email).'),
          failedLoginsPerAddress: AlertThreshold(25, 10, 'Failed sign-ins from one client address.'),
          sensitiveReadsPerActor: AlertThreshold(500, 10, 'Reads of findings, attempts or evidence by one user, API key or client.'),
          webhookMaxAttempts: Int(8, 1, 20, 'Deliveries of one alert to the webhook before it is given up on.'),
        },
        { additionalProperties: false, default: {} },
      ),
    }),
    egress: Section({
      allowPrivateNetworks: Type.Array(Type.String({ maxLength: 64 }), {
        default: [],
        maxItems: 100,
        description: 'CIDRs of private networks targets may reach in server mode.',
      }),
      responseLimitBytes: Int(5_242_880, 1024, 104_857_600, 'Largest response read from a target.'),
      timeoutMs: Int(30_000, 100, 600_000, 'Longest wait for a target.'),
    }),
    scans: Section({
      chunkLeaseMs: Int(30_000, 1_000, 600_000, 'A chunk lease: a dead worker\'s chunk is taken over this long after its last renewal. Read at start.'),
      leaseHeartbeatMs: Int(10_000, 200, 200_000, 'How often a running chunk renews its lease (at most a third of the lease is used). Read at start.'),
      statusCheckMs: Int(1_000, 100, 60_000, 'How often a running chunk re-reads its scan (cancel, pause, fail-fast, budgets). Read at start.'),
      reconcileEveryMs: Int(30_000, 1_000, 3_600_000, 'How often pending chunks without a live lease are fed to the queue again. Read at start.'),
    }),
  },
  { additionalProperties: false },
);

export type Policy = Static<typeof PolicySchema>;
