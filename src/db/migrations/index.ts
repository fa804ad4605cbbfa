import type { Migration } from 'kysely';
import * as identityBase from './2026-11-28T0001-identity-base.js';
import * as platformRecords from './2026-11-28T0002-platform-records.js';
import * as loginAttempts from './2026-11-28T0003-login-attempts.js';
import * as refreshTokens from './2026-11-28T0004-refresh-tokens.js';
import * as userCredentialsChanged from './2026-11-28T0005-user-credentials-changed.js';
import * as apiKeys from './2026-11-28T0006-api-keys.js';
import * as identityLifecycle from './2026-11-28T0007-identity-lifecycle.js';
import * as auditTrail from './2026-11-28T0008-audit-trail.js';
import * as auditAlerts from './2026-11-28T0009-audit-alerts.js';
import * as targets from './2026-11-28T0010-targets.js';
import * as mfa from './2026-11-28T0011-mfa.js';
import * as passkeys from './2026-11-28T0012-passkeys.js';
import * as scans from './2026-11-28T0013-scans.js';
import * as rawContentGrant from './2026-11-28T0014-raw-content-grant.js';
import * as probeLibrary from './2026-11-29T0015-probe-library.js';
import * as datasets from './2026-11-29T0016-datasets.js';
import * as findings from './2026-11-29T0017-findings.js';
import * as keyRotation from './2026-11-29T0018-key-rotation.js';
import * as retention from './2026-11-29T0019-retention.js';
import * as accountActivity from './2026-11-29T0020-account-activity.js';
import * as userAnonymisation from './2026-11-29T0021-user-anonymisation.js';

/**
 * Every migration, in order. Forward-only: a migration is never edited after it lands; a change
 * is a new file added here. Listed explicitly so the compiled service and the tests load the same set.
 */
export const migrations: Record<string, Migration> = {
  '2026-11-28T0001-identity-base': identityBase,
  '2026-11-28T0002-platform-records': platformRecords,
  '2026-11-28T0003-login-attempts': loginAttempts,
  '2026-11-28T0004-refresh-tokens': refreshTokens,
  '2026-11-28T0005-user-credentials-changed': userCredentialsChanged,
  '2026-11-28T0006-api-keys': apiKeys,
  '2026-11-28T0007-identity-lifecycle': identityLifecycle,
  '2026-11-28T0008-audit-trail': auditTrail,
  '2026-11-28T0009-audit-alerts': auditAlerts,
  '2026-11-28T0010-targets': targets,
  '2026-11-28T0011-mfa': mfa,
  '2026-11-28T0012-passkeys': passkeys,
  '2026-11-28T0013-scans': scans,
  '2026-11-28T0014-raw-content-grant': rawContentGrant,
  '2026-11-29T0015-probe-library': probeLibrary,
  '2026-11-29T0016-datasets': datasets,
  '2026-11-29T0017-findings': findings,
  '2026-11-29T0018-key-rotation': keyRotation,
  '2026-11-29T0019-retention': retention,
  '2026-11-29T0020-account-activity': accountActivity,
  '2026-11-29T0021-user-anonymisation': userAnonymisation,
};
