import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { isUniqueViolation } from '../../platform/db/database-errors.js';
import type { PasswordHasher } from '../../platform/crypto/index.js';
import { isAppError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import type { OrgsRepo } from '../orgs/orgs.repo.js';
import type { MembershipsRepo } from '../orgs/memberships.repo.js';
import type { PasswordPolicy } from '../auth/password-policy.js';
import type { UsersRepo } from './users.repo.js';

export class BootstrapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BootstrapError';
  }
}

export const INITIAL_PASSWORD_FILE = 'initial-admin-password';
const DEFAULT_ADMIN_EMAIL = 'admin@localhost';
const ADMIN_DISPLAY_NAME = 'Platform administrator';

/**
 * First start (DESIGN §7): with no platform super-admin, create one as owner of a default
 * organisation. A generated password goes to DATA_DIR/initial-admin-password (0600), never to
 * the log, and must be changed at first login. Server mode needs explicit bootstrap values.
 * A password from the environment is held to the same policy as any other password set on the
 * platform (ASVS V6.4.1): it is what the most powerful account signs in with, with no forced change.
 */
export function createBootstrapService(deps: {
  db: Db;
  usersRepo: Pick<UsersRepo, 'insert' | 'countPlatformRole' | 'findByEmail'>;
  orgsRepo: Pick<OrgsRepo, 'insert'>;
  membershipsRepo: Pick<MembershipsRepo, 'insert'>;
  passwordHasher: Pick<PasswordHasher, 'hash'>;
  passwordPolicy: Pick<PasswordPolicy, 'check'>;
  clock: Clock;
  logger: Pick<Logger, 'info' | 'warn'>;
}) {
  return {
    async ensureAdmin(options: {
      mode: 'embedded' | 'server';
      dataDir: string;
      admin: { email: string; password: string | undefined } | undefined;
    }): Promise<void> {
      if ((await deps.usersRepo.countPlatformRole(deps.db, 'super-admin')) > 0) return;
      const email = options.admin?.email ?? DEFAULT_ADMIN_EMAIL;
      const configured = options.admin?.password;
      const generated = configured === undefined;
      if (generated && options.mode === 'server') {
        throw new BootstrapError('no platform admin exists: set BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD for the first start');
      }
      if (!generated) checkPolicy(deps.passwordPolicy, configured, email);
      const password = configured ?? randomBytes(24).toString('base64url');
      // Hash before the transaction: no slow work between BEGIN and COMMIT (DESIGN §5).
      const passwordHash = await deps.passwordHasher.hash(password);
      const now = deps.clock.now();
      try {
        await deps.db.transaction().execute(async (tx) => {
          const userId = newId();
          await deps.usersRepo.insert(
            tx,
            userId,
            { email, displayName: ADMIN_DISPLAY_NAME, passwordHash, platformRole: 'super-admin', mustChangePassword: generated },
            null,
            now,
          );
          const org = await deps.orgsRepo.insert(tx, newId(), { name: 'Default organisation', slug: 'default' }, userId, now);
          await deps.membershipsRepo.insert(tx, newId(), { orgId: org.id, userId, role: 'owner' }, userId, now);
        });
      } catch (error) {
        // Another process bootstrapped at the same moment: its admin stands.
        if (isUniqueViolation(error)) return;
        throw error;
      }
      if (generated) {
        const file = path.join(options.dataDir, INITIAL_PASSWORD_FILE);
        const stale = existsSync(file);
        // `mode` applies only when the file is created: tighten a stale file from an earlier start before writing.
        if (stale) chmodSync(file, 0o600);
        writeFileSync(file, `${password}\n`, { mode: 0o600, flag: stale ? 'w' : 'wx' });
        deps.logger.warn({ passwordFile: file }, `created the platform admin "${email}"; its one-time password is in the file named here`);
      } else {
        deps.logger.info('created the platform admin from BOOTSTRAP_ADMIN_EMAIL');
      }
    },
  };
}

/** The policy's refusal as a start failure naming the rule (the password itself never appears). */
function checkPolicy(policy: Pick<PasswordPolicy, 'check'>, password: string, email: string): void {
  try {
    // No organisation exists yet, so none can require MFA: the full minimum length applies.
    policy.check(password, { email, displayName: ADMIN_DISPLAY_NAME, orgRequiresMfa: false, field: 'BOOTSTRAP_ADMIN_PASSWORD' });
  } catch (error) {
    if (!isAppError(error)) throw error;
    throw new BootstrapError(`BOOTSTRAP_ADMIN_PASSWORD is refused by the password policy (${error.code}): ${error.detail ?? 'choose another password'}`);
  }
}
