import { definePeriodicJob } from '../../platform/jobs.js';
import type { PeriodicJob } from '../../platform/queue/schedule-periodic.js';
import type { InactiveAccountsService } from './inactive-accounts.service.js';

export const INACTIVE_ACCOUNTS_JOB = 'users.disable-inactive';

/**
 * The daily inactive-accounts run (issue 9 §5). The service is reached when the job runs (it is built
 * after the queue); a run is idempotent (a second finds nothing new) and stops between accounts when
 * the queue asks, the next day's run finishing the rest.
 */
export const inactiveAccountsJobs = (deps: { service: () => Pick<InactiveAccountsService, 'run'> }) =>
  [definePeriodicJob(INACTIVE_ACCOUNTS_JOB, (signal) => deps.service().run(signal))] as const;

export const inactiveAccountsSchedules = (): PeriodicJob[] => [{ name: INACTIVE_ACCOUNTS_JOB, everyMs: 86_400_000 }];
