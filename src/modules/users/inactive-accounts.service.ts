import type { Logger } from '../../platform/logger.js';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { systemContext, type AuditRecorder } from '../audit/audit.recorder.js';
import type { RefreshTokenService } from '../auth/refresh-token.service.js';
import type { InactiveAccount, InactiveAccountsRepo } from './inactive-accounts.repo.js';
import type { UsersAdminService } from './users-admin.service.js';
import type { UsersRepo } from './users.repo.js';

const DAY_MS = 86_400_000;
/** Accounts read per query; each disable is its own short transaction (DESIGN §5 bounded batches). */
export const INACTIVE_BATCH = 100;
/** The audit actor of every event this job records. */
export const INACTIVE_JOB_ACTOR = 'users.disable-inactive';

export interface InactiveRunReport {
  disabled: number;
  exempted: number;
}

/**
 * Disables accounts unused for `retention.inactiveAccountDays` (issue 9 §5, NIST AC-2(3)). A disable
 * is the same as an administrator's: status `disabled` and every refresh family revoked in one
 * transaction with its audit event, then (after COMMIT) every session ended and the cached grants
 * dropped, so access tokens, cookies and API keys stop working at once. Only an administrator's
 * `POST /users/{id}/enable` brings the account back (sign-in refuses disabled accounts), and that
 * re-enable counts as activity (`markReactivated`).
 *
 * The last active platform super-admin is never disabled by this job (the same invariant as the
 * administrators' `last_super_admin` rule: the platform keeps one administrator who can re-enable
 * others); each run records `user.inactive.exempted` for it instead, so the exemption is visible in the
 * audit trail every day. `npm run admin:unlock -- --enable` remains the break-glass path.
 */
export function createInactiveAccountsService(deps: {
  db: Db;
  clock: Pick<Clock, 'now'>;
  inactiveAccountDays: () => number;
  repo: Pick<InactiveAccountsRepo, 'findInactive' | 'disableIfInactive'>;
  usersRepo: Pick<UsersRepo, 'lockActivePlatformRole'>;
  refreshTokens: Pick<RefreshTokenService, 'revokeAllForUser'>;
  settle: Pick<UsersAdminService, 'settle'>['settle'];
  audit: Pick<AuditRecorder, 'record'>;
  logger: Pick<Logger, 'info' | 'warn'>;
}) {
  /** One account in its own transaction; returns what happened to it. */
  async function handle(tx: Tx, account: InactiveAccount, cutoff: Date, days: number): Promise<'disabled' | 'exempted' | 'skipped'> {
    const detail = { reason: 'inactive', inactiveAccountDays: days, lastActivityAt: account.lastActivityAt.toISOString() };
    if (account.platformRole === 'super-admin') {
      // Locked, so an administrator disabling the other super-admin at the same time queues behind us.
      const active = await deps.usersRepo.lockActivePlatformRole(tx, 'super-admin');
      if (!active.some((id) => id !== account.id)) {
        await deps.audit.record(tx, systemContext(INACTIVE_JOB_ACTOR), { action: 'user.inactive.exempted', resourceId: account.id, detail: { ...detail, reason: 'last-active-super-admin' } });
        return 'exempted';
      }
    }
    const now = deps.clock.now();
    if (!(await deps.repo.disableIfInactive(tx, account.id, cutoff, now))) return 'skipped';
    await deps.refreshTokens.revokeAllForUser(tx, account.id, 'user-inactive');
    await deps.audit.record(tx, systemContext(INACTIVE_JOB_ACTOR), { action: 'user.inactive.disabled', resourceId: account.id, changed: ['status'], detail });
    return 'disabled';
  }

  return {
    /** One run: every account inactive at the clock's now, in batches, until done or `signal` aborts. */
    async run(signal?: AbortSignal): Promise<InactiveRunReport> {
      const days = deps.inactiveAccountDays();
      const cutoff = new Date(deps.clock.now().getTime() - days * DAY_MS);
      const report: InactiveRunReport = { disabled: 0, exempted: 0 };
      let afterId: string | undefined;
      for (;;) {
        if (signal?.aborted) break;
        const batch = await deps.repo.findInactive(deps.db, cutoff, INACTIVE_BATCH, afterId);
        for (const account of batch) {
          if (signal?.aborted) break;
          const outcome = await deps.db.transaction().execute((tx) => handle(tx, account, cutoff, days));
          if (outcome === 'disabled') {
            report.disabled += 1;
            await deps.settle(account.id, { endSessions: true });
          } else if (outcome === 'exempted') report.exempted += 1;
          afterId = account.id;
        }
        if (batch.length < INACTIVE_BATCH) break;
      }
      if (report.disabled > 0 || report.exempted > 0) deps.logger.info({ ...report, inactiveAccountDays: days }, 'inactive accounts processed');
      return report;
    },
  };
}

export type InactiveAccountsService = ReturnType<typeof createInactiveAccountsService>;
