import type { Policy } from '../../config/policy.schema.js';
import type { PolicySnapshot } from '../../config/policy-file.js';
import type { Logger } from '../../platform/logger.js';
import { systemContext, type AuditRecorder } from '../audit/audit.recorder.js';
import type { PolicyRepo, PolicyVersionRow } from './policy.repo.js';

/** The policy in force, with the sequence number and hash it was recorded under. */
export interface AppliedPolicy {
  policy: Policy;
  contentHash: string;
  sequence: number;
  source: string;
  appliedAt: Date;
}

/**
 * Holds the current policy for everyone who reads it (`current()` is a plain getter on the hot
 * path) and records each newly applied version, numbered and hashed, in the database.
 */
export function createPolicyService(deps: {
  policyRepo: Pick<PolicyRepo, 'appendIfChanged' | 'list'>;
  logger: Pick<Logger, 'info'>;
  audit: Pick<AuditRecorder, 'recordNow'>;
}) {
  let applied: AppliedPolicy | undefined;
  const listeners: Array<(policy: Policy) => void> = [];

  return {
    current(): Policy {
      if (!applied) throw new Error('policy read before it was applied');
      return applied.policy;
    },
    applied(): AppliedPolicy {
      if (!applied) throw new Error('policy read before it was applied');
      return applied;
    },
    async apply(snapshot: PolicySnapshot): Promise<AppliedPolicy> {
      if (applied?.contentHash === snapshot.contentHash) return applied;
      const row = await deps.policyRepo.appendIfChanged(snapshot.contentHash, snapshot.policy, snapshot.source);
      // Recorded before it takes effect (at start and on every reload, by each process): a version
      // whose event cannot be written is not enforced, the previous one stays.
      await deps.audit.recordNow(systemContext('policy'), {
        action: 'policy.applied',
        resourceId: String(row.sequence),
        detail: { sequence: row.sequence, contentHash: row.contentHash },
      });
      applied = { policy: snapshot.policy, contentHash: row.contentHash, sequence: row.sequence, source: row.source, appliedAt: row.appliedAt };
      deps.logger.info({ policySequence: row.sequence, policyHash: row.contentHash, source: row.source }, 'policy applied');
      for (const listener of listeners) listener(snapshot.policy);
      return applied;
    },
    onChange(listener: (policy: Policy) => void) {
      listeners.push(listener);
    },
    versions(limit: number, beforeSequence: number | undefined): Promise<PolicyVersionRow[]> {
      return deps.policyRepo.list(limit, beforeSequence);
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
