import type { Policy } from './config/policy.schema.js';
import type { Clock } from './platform/clock.js';
import type { BlindIndex, FieldCipher } from './platform/crypto/index.js';
import type { Db } from './platform/db/database.js';
import type { Logger } from './platform/logger.js';
import type { PeriodicJob } from './platform/queue/schedule-periodic.js';
import type { AuditRecorder } from './modules/audit/audit.recorder.js';
import { legalHoldsRepo } from './modules/retention/legal-holds.repo.js';
import { createLegalHoldsService } from './modules/retention/legal-holds.service.js';
import { RETENTION_EVERY_MS, retentionJob } from './modules/retention/retention.jobs.js';
import { retentionRepo } from './modules/retention/retention.repo.js';
import { createRetentionService } from './modules/retention/retention.service.js';
import { createUserAnonymisationService } from './modules/users/user-anonymisation.service.js';
import { createUsersRepo } from './modules/users/users.repo.js';

/**
 * Wires retention with legal hold (issue 9 §4, ADR 0013): the daily run, the dry run and the holds.
 * Built before the job registry; the policy is a getter (read on every run) because the policy
 * service is built after the registry.
 */
export function createRetentionModule(deps: {
  db: Db;
  clock: Clock;
  cipher: FieldCipher;
  /** The users repository seals and re-indexes the placeholders of anonymised users. */
  blindIndex: BlindIndex;
  logger: Logger;
  audit: Pick<AuditRecorder, 'record'>;
  policy: () => Pick<Policy, 'retention'>;
}) {
  const { db, clock, logger } = deps;
  // A stateless repository instance: the identity container builds its own later, from the same keys.
  const users = createUserAnonymisationService({ usersRepo: createUsersRepo({ db, cipher: deps.cipher, blindIndex: deps.blindIndex }) });
  const retention = createRetentionService({ db, clock, policy: deps.policy, repo: retentionRepo, runs: legalHoldsRepo, audit: deps.audit, logger, users });
  const legalHolds = createLegalHoldsService({ db, clock, cipher: deps.cipher, repo: legalHoldsRepo });
  const jobs = [retentionJob(retention)] as const;
  const schedules: PeriodicJob[] = [{ name: 'retention.run', everyMs: RETENTION_EVERY_MS }];
  return { retention, legalHolds, jobs, schedules };
}

export type RetentionModule = ReturnType<typeof createRetentionModule>;
