import { definePeriodicJob } from '../../platform/jobs.js';
import type { Logger } from '../../platform/logger.js';
import { systemContext, type AuditRecorder } from './audit.recorder.js';
import type { AuditVerifier, VerifyResult } from './audit-verify.service.js';

/**
 * Verification that tells someone: a broken chain found by the periodic check or by an auditor's
 * `GET /audit/verify` becomes an `audit.chain.verification-failed` event (the analysis rule turns it
 * into a critical alert) and an error log line, instead of a result nobody reads.
 */
export function createChainWatch(deps: {
  verifier: Pick<AuditVerifier, 'verifyFromCheckpoint'>;
  recorder: Pick<AuditRecorder, 'recordNow'>;
  logger: Pick<Logger, 'error'>;
}) {
  return {
    async check(source: string): Promise<VerifyResult> {
      const result = await deps.verifier.verifyFromCheckpoint();
      if (!result.ok) {
        deps.logger.error({ firstBadSeq: result.firstBadSeq, reason: result.reason, source }, 'audit chain verification failed');
        await deps.recorder.recordNow(systemContext(source), {
          action: 'audit.chain.verification-failed',
          outcome: 'error',
          detail: { firstBadSeq: result.firstBadSeq, reason: result.reason },
        });
      }
      return result;
    },
  };
}

export type ChainWatch = ReturnType<typeof createChainWatch>;

/** The periodic check from the last checkpoint (cheap: only the events since it). */
export const auditVerifyJob = (watch: Pick<ChainWatch, 'check'>) =>
  definePeriodicJob('audit.verify', () => watch.check('audit.verify'));
