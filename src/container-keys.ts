import type { Config } from './config/config.js';
import type { Keys } from './config/keys.js';
import type { Clock } from './platform/clock.js';
import type { BlindIndex, FieldCipher } from './platform/crypto/index.js';
import type { Db } from './platform/db/database.js';
import type { AuditRecorder } from './modules/audit/audit.recorder.js';
import { CLOCK_LEEWAY_SECONDS } from './modules/auth/access-token.service.js';
import { createKeyRotation } from './modules/keys/key-rotation.service.js';
import { keysRepo } from './modules/keys/keys.repo.js';
import { createKeysService } from './modules/keys/keys.service.js';

/**
 * Wires key rotation (issue 9 §1, ADR 0012): the sweep over the registry of encrypted and indexed
 * columns, and the service behind `/admin/keys` and `npm run keys:rotate`. It uses the very cipher and
 * blind index the repositories use, so a version added here is what they seal with next.
 */
export function createKeysModule(deps: {
  db: Db;
  keys: Keys;
  config: Pick<Config, 'mode' | 'dataDir' | 'keySources'>;
  clock: Clock;
  cipher: FieldCipher;
  blindIndex: BlindIndex;
  recorder: Pick<AuditRecorder, 'recordNow'>;
  refreshAuditKeys: () => Promise<void>;
}) {
  const rotation = createKeyRotation({
    db: deps.db,
    repo: keysRepo,
    cipher: deps.cipher,
    blindIndex: deps.blindIndex,
    keyrings: { encryption: deps.keys.ENCRYPTION_KEYRING, blindIndex: deps.keys.BLIND_INDEX_KEY },
  });
  const service = createKeysService({ ...deps, repo: keysRepo, rotation, accessTokenLeewaySeconds: CLOCK_LEEWAY_SECONDS });
  return { rotation, service };
}

export type KeysModule = ReturnType<typeof createKeysModule>;
