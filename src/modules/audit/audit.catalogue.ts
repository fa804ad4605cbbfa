/**
 * The one typed catalogue of audit events (issue 4). An action is `resource.verb` or
 * `area.thing.verb`; every event names one, so a search by action is a search by meaning, and a
 * misspelt action fails the type check instead of creating a new kind of event nobody looks for.
 *
 * `kind` says why it is recorded: `write` (in the write's own transaction), `read` (a sensitive
 * resource was read; durable before the response), `auth` (authentication), `access` (a denied
 * request), `system` (the service acting on its own).
 */
export const AUDIT_ACTIONS = {
  // Authentication: failures are keyed by the blind index of the submitted email, never by the address.
  'auth.login.succeeded': { kind: 'auth', resource: 'user' },
  'auth.login.failed': { kind: 'auth', resource: 'account' },
  'auth.account.locked': { kind: 'auth', resource: 'account' },
  'auth.account.unlocked': { kind: 'auth', resource: 'user' },
  'auth.password.changed': { kind: 'auth', resource: 'user' },
  'auth.password.reset': { kind: 'auth', resource: 'user' },
  'auth.password-reset.requested': { kind: 'auth', resource: 'account' },
  'auth.token.refreshed': { kind: 'auth', resource: 'session' },
  'auth.token.reuse-detected': { kind: 'auth', resource: 'session' },
  'auth.token.refresh-failed': { kind: 'auth', resource: 'session' },
  'auth.logout': { kind: 'auth', resource: 'session' },
  'auth.logout-all': { kind: 'auth', resource: 'user' },
  'auth.registration.requested': { kind: 'auth', resource: 'account' },
  'auth.registration.confirmed': { kind: 'auth', resource: 'user' },
  'auth.invitation.accepted': { kind: 'auth', resource: 'invitation' },
  'auth.api-key.rejected': { kind: 'auth', resource: 'api-key' },
  // The second step of a sign-in (issue 8 §4): a challenge issued, an answer refused.
  'auth.mfa.challenged': { kind: 'auth', resource: 'user' },
  'auth.mfa.failed': { kind: 'auth', resource: 'user' },
  'auth.mfa.verified': { kind: 'auth', resource: 'user' },
  // A refused passwordless passkey sign-in (the reason only here: the caller gets one answer).
  'auth.passkey.failed': { kind: 'auth', resource: 'user' },

  // Browser sessions (issue 8 §6): the cookie's value is never recorded, only the session's public id.
  'session.created': { kind: 'auth', resource: 'session' },
  'session.evicted': { kind: 'auth', resource: 'session' },
  'session.list': { kind: 'read', resource: 'session' },
  'session.revoked': { kind: 'write', resource: 'session' },
  'session.revoked-all': { kind: 'write', resource: 'user' },
  'user.sessions.revoked': { kind: 'write', resource: 'user' },

  // A request refused by authentication or authorisation (401/403) on any route.
  'access.denied': { kind: 'access', resource: 'route' },

  // Users (reads of user records are sensitive: they carry personal data).
  'user.list': { kind: 'read', resource: 'user' },
  'user.read': { kind: 'read', resource: 'user' },
  'user.profile.updated': { kind: 'write', resource: 'user' },
  'user.disabled': { kind: 'write', resource: 'user' },
  'user.enabled': { kind: 'write', resource: 'user' },
  // The daily inactive-accounts job (issue 9 §5): a disable for inactivity, or the last active super-admin kept.
  'user.inactive.disabled': { kind: 'system', resource: 'user' },
  'user.inactive.exempted': { kind: 'system', resource: 'user' },
  'user.deleted': { kind: 'write', resource: 'user' },
  'user.unlocked': { kind: 'write', resource: 'user' },
  'user.platform-role.changed': { kind: 'write', resource: 'user' },

  // Organisations and memberships.
  'org.created': { kind: 'write', resource: 'org' },
  'org.updated': { kind: 'write', resource: 'org' },
  'org.deleted': { kind: 'write', resource: 'org' },
  'member.list': { kind: 'read', resource: 'membership' },
  'user.role.changed': { kind: 'write', resource: 'membership' },
  'member.removed': { kind: 'write', resource: 'membership' },
  // The raw-content grant of a membership (issue 6 §4): given and taken away by owners only.
  'member.raw-content.granted': { kind: 'write', resource: 'membership' },
  'member.raw-content.revoked': { kind: 'write', resource: 'membership' },
  'invitation.created': { kind: 'write', resource: 'invitation' },
  'invitation.list': { kind: 'read', resource: 'invitation' },
  'invitation.revoked': { kind: 'write', resource: 'invitation' },

  // API keys: their metadata is secrets metadata.
  'api-key.created': { kind: 'write', resource: 'api-key' },
  'api-key.list': { kind: 'read', resource: 'api-key' },
  'api-key.rotated': { kind: 'write', resource: 'api-key' },
  'api-key.revoked': { kind: 'write', resource: 'api-key' },

  // Targets (issue 5): credential metadata is secrets metadata; a test sends traffic to the target.
  'target.created': { kind: 'write', resource: 'target' },
  'target.updated': { kind: 'write', resource: 'target' },
  'target.deleted': { kind: 'write', resource: 'target' },
  'target.tested': { kind: 'write', resource: 'target' },
  'target.credentials.read': { kind: 'read', resource: 'target' },
  // A scorer preview that sent a response to a judge target (recorded by the scorer service; the resource is the judge).
  'scorer.judge.previewed': { kind: 'read', resource: 'target' },

  // MFA factors and policies (issue 8): changes to how someone signs in.
  'mfa.totp.enrollment-started': { kind: 'write', resource: 'user' },
  'mfa.totp.enabled': { kind: 'write', resource: 'user' },
  'mfa.totp.disabled': { kind: 'write', resource: 'user' },
  'mfa.backup-codes.regenerated': { kind: 'write', resource: 'user' },
  'mfa.reset': { kind: 'write', resource: 'user' },
  'passkey.registration-started': { kind: 'write', resource: 'user' },
  'passkey.registered': { kind: 'write', resource: 'passkey' },
  'passkey.renamed': { kind: 'write', resource: 'passkey' },
  'passkey.removed': { kind: 'write', resource: 'passkey' },
  'mfa.policy.updated': { kind: 'write', resource: 'org' },

  // Scans (issue 6): creating one sends traffic to a target; the lifecycle actions change what runs.
  'scan.created': { kind: 'write', resource: 'scan' },
  'scan.cancelled': { kind: 'write', resource: 'scan' },
  'scan.paused': { kind: 'write', resource: 'scan' },
  'scan.resumed': { kind: 'write', resource: 'scan' },

  // Datasets (issue 7 §2): imported attack content; reading items is a read of the organisation's content.
  'dataset.created': { kind: 'write', resource: 'dataset' },
  'dataset.deleted': { kind: 'write', resource: 'dataset' },
  'dataset.items.read': { kind: 'read', resource: 'dataset' },

  // Findings, attempts and evidence (issue 6 onwards): reads are sensitive and watched for volume.
  'finding.list': { kind: 'read', resource: 'finding' },
  'finding.read': { kind: 'read', resource: 'finding' },
  // Triage (issue 7 §4): status moves, assignees and comments (never their text); derivation acts as the system.
  'finding.updated': { kind: 'write', resource: 'finding' },
  'finding.commented': { kind: 'write', resource: 'finding' },
  'finding.comments.read': { kind: 'read', resource: 'finding' },
  'finding.created': { kind: 'system', resource: 'finding' },
  'finding.reopened': { kind: 'system', resource: 'finding' },
  'attempt.read': { kind: 'read', resource: 'attempt' },
  // A page of a scan's attempts (metadata only): the resource is the scan.
  'attempt.list': { kind: 'read', resource: 'scan' },
  'evidence.read': { kind: 'read', resource: 'evidence' },

  // Policy.
  'policy.applied': { kind: 'system', resource: 'policy' },

  // The audit trail itself: reading it is audited.
  'audit.events.read': { kind: 'read', resource: 'audit-trail' },
  'audit.events.exported': { kind: 'read', resource: 'audit-trail' },
  'audit.stats.read': { kind: 'read', resource: 'audit-trail' },
  'audit.chain.verified': { kind: 'read', resource: 'audit-trail' },
  // Recorded by the verifier when a check finds the chain or a checkpoint broken.
  'audit.chain.verification-failed': { kind: 'system', resource: 'audit-trail' },
  'audit.alert.list': { kind: 'read', resource: 'alert' },
  'audit.alert.acknowledged': { kind: 'write', resource: 'alert' },
  'audit.alert.raised': { kind: 'system', resource: 'alert' },

  // Retention and legal hold (issue 9 §4): a run's event carries its counts per data class.
  'legal-hold.placed': { kind: 'write', resource: 'legal-hold' },
  'legal-hold.released': { kind: 'write', resource: 'legal-hold' },
  'legal-hold.list': { kind: 'read', resource: 'legal-hold' },
  'retention.preview.read': { kind: 'read', resource: 'retention' },
  'retention.run.list': { kind: 'read', resource: 'retention' },
  'retention.run.completed': { kind: 'write', resource: 'retention-run' },

  // Key rotation (issue 9 §1): a version added, a re-encryption run (with its counts), the key inventory read.
  'keys.version.added': { kind: 'write', resource: 'key' },
  'keys.rotation.completed': { kind: 'write', resource: 'key' },
  'keys.status.read': { kind: 'read', resource: 'key' },

  // Backups (issue 9 §3): an archive of the whole database is the largest read there is; a restore acts as the system.
  'backup.created': { kind: 'read', resource: 'database' },
  'backup.restored': { kind: 'system', resource: 'database' },
} as const satisfies Record<string, { kind: AuditKind; resource: string }>;

export type AuditKind = 'write' | 'read' | 'auth' | 'access' | 'system';
export type AuditAction = keyof typeof AUDIT_ACTIONS;
export type AuditResourceType = (typeof AUDIT_ACTIONS)[AuditAction]['resource'];
export type AuditOutcome = 'success' | 'denied' | 'error';
export type AuditActorType = 'user' | 'api-key' | 'oauth-client' | 'system' | 'anonymous';

export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['success', 'denied', 'error'];
export const AUDIT_ACTOR_TYPES: readonly AuditActorType[] = ['user', 'api-key', 'oauth-client', 'system', 'anonymous'];

export const isAuditAction = (value: string): value is AuditAction => Object.hasOwn(AUDIT_ACTIONS, value);
