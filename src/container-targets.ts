import type { Config } from './config/config.js';
import type { Policy } from './config/policy.schema.js';
import type { Clock } from './platform/clock.js';
import type { BlindIndex, FieldCipher } from './platform/crypto/index.js';
import type { Db } from './platform/db/database.js';
import { createEgressClient } from './platform/egress/index.js';
import type { Logger } from './platform/logger.js';
import type { TargetLimiter } from './modules/targets/target-call.js';
import { createTargetSender } from './modules/targets/target-sender.js';
import { createTargetsRepo } from './modules/targets/targets.repo.js';
import { createTargetsService } from './modules/targets/targets.service.js';

/**
 * Wires targets (issue 5 §1): the repository and service, the one egress client every target
 * exchange goes through (the policy's egress section, read on every request so an admin's change
 * applies to the next call), and the send path shared by `POST /targets/{id}/test`, the LLM judge
 * and the scan engine.
 */
export function createTargetsModule(deps: {
  db: Db;
  cipher: FieldCipher;
  blindIndex: BlindIndex;
  clock: Clock;
  logger: Logger;
  config: Pick<Config, 'mode'>;
  policy: () => Policy;
  /** The per-target limiter (target-limiter.ts), shared by every caller in this process. */
  limiter: TargetLimiter;
}) {
  const { db, clock } = deps;
  const egress = createEgressClient({ mode: deps.config.mode, policy: () => deps.policy().egress, logger: deps.logger });
  const targetsRepo = createTargetsRepo({ db, cipher: deps.cipher });
  const service = createTargetsService({ db, targetsRepo, blindIndex: deps.blindIndex, clock });
  const sender = createTargetSender({ egress, limiter: deps.limiter, targets: service, clock });
  return {
    service,
    sender,
    /** For the LLM-judge scorer (issue 5 §4): org-scoped asks through the same send path. */
    judgeTransport: sender.judgeTransport(),
    /** For the scan engine (issue 6): the frozen version's send path and what scoring needs of it. */
    sendToVersion: sender.sendToVersion,
    versionInfo: sender.versionInfo,
    close: () => egress.close(),
  };
}

export type TargetsModule = ReturnType<typeof createTargetsModule>;
