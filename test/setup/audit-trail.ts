import { normaliseEmail } from '../../src/platform/crypto/index.js';
import { EMAIL_INDEX_PURPOSE } from '../../src/modules/users/users.repo.js';
import { auditEncryptedColumns } from '../../src/modules/audit/audit.repo.js';
import type { TestApp } from './test-app.js';

/** What a test may filter the raw audit rows by (every filter optional; all given must match). */
export interface AuditFilter {
  action?: string;
  actorId?: string;
  resourceId?: string;
  requestId?: string;
  outcome?: 'success' | 'denied' | 'error';
  /** The email whose blind index the event carries (failed logins, locks). */
  subjectEmail?: string;
}

/**
 * Audit events straight from the table, oldest first, client address and user agent decrypted: what
 * the trail holds, independent of the audit API under test.
 */
export async function readAudit(t: Pick<TestApp, 'container'>, filter: AuditFilter = {}) {
  let query = t.container.db.selectFrom('auditEvents').selectAll();
  if (filter.action) query = query.where('action', '=', filter.action);
  if (filter.actorId) query = query.where('actorId', '=', filter.actorId);
  if (filter.resourceId) query = query.where('resourceId', '=', filter.resourceId);
  if (filter.requestId) query = query.where('requestId', '=', filter.requestId);
  if (filter.outcome) query = query.where('outcome', '=', filter.outcome);
  if (filter.subjectEmail) query = query.where('subjectIndex', '=', emailIndexOf(t, filter.subjectEmail));
  const rows = await query.orderBy('id').execute();
  const sealed = auditEncryptedColumns(t.container.cipher);
  return rows.map((row) => sealed.open(row));
}

export const emailIndexOf = (t: Pick<TestApp, 'container'>, email: string): Buffer => t.container.blindIndex.compute(normaliseEmail(email), EMAIL_INDEX_PURPOSE);
