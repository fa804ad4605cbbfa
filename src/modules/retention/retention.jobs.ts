import { definePeriodicJob } from '../../platform/jobs.js';
import { systemContext } from '../audit/audit.recorder.js';
import type { RetentionService } from './retention.service.js';

/** How often the retention job runs (daily). */
export const RETENTION_EVERY_MS = 86_400_000;

/**
 * `retention.run`: daily; one attempt (the next day's run is the retry, and finishes what an
 * interrupted run left: every batch commits on its own).
 */
export const retentionJob = (retention: Pick<RetentionService, 'run'>) =>
  definePeriodicJob('retention.run', (signal) => retention.run({ trigger: 'schedule', context: systemContext('retention.run'), actorId: null, signal }));
