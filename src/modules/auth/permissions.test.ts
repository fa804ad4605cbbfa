import { describe, expect, it } from 'vitest';
import { ORG_ROLES, PASSWORD_CHANGE_PERMISSIONS, RAW_CONTENT_PERMISSION, SELF_PERMISSIONS, canGrantRole, permissionsFor } from './permissions.js';

const of = (orgRole: (typeof ORG_ROLES)[number]) => permissionsFor({ orgRole, platformRole: null });

describe('role table', () => {
  it('[ASVS 8.1.1] every role is a subset of the next more powerful one, and owner holds every organisation permission', () => {
    const owner = of('owner');
    for (const role of ORG_ROLES) for (const permission of of(role)) expect(owner.has(permission), `${role}: ${permission}`).toBe(true);
    for (const role of ORG_ROLES) for (const permission of of('viewer')) expect(of(role).has(permission), `${role} lacks ${permission}`).toBe(true);
    expect([...of('admin')]).not.toContain('orgs:delete');
  });

  it('[ASVS 8.2.1] grants by function: red-teamers run scans, reviewers triage, auditors read the trail, viewers only read', () => {
    expect(of('red-teamer').has('scans:create')).toBe(true);
    expect(of('red-teamer').has('findings:triage')).toBe(false);
    expect(of('reviewer').has('findings:triage')).toBe(true);
    expect(of('reviewer').has('scans:create')).toBe(false);
    expect(of('auditor').has('audit:read')).toBe(true);
    expect(of('auditor').has('targets:write')).toBe(false);
    expect([...of('viewer')].every((permission) => permission.endsWith(':read'))).toBe(true);
    expect(of('viewer').has('members:manage')).toBe(false);
  });

  it('keeps raw attack content a separate, explicit grant that no role carries', () => {
    for (const role of ORG_ROLES) expect(of(role).has(RAW_CONTENT_PERMISSION)).toBe(false);
    expect(permissionsFor({ orgRole: 'reviewer', platformRole: null, rawContent: true }).has(RAW_CONTENT_PERMISSION)).toBe(true);
    // Outside an organisation the grant means nothing.
    expect(permissionsFor({ orgRole: null, platformRole: 'super-admin', rawContent: true }).has(RAW_CONTENT_PERMISSION)).toBe(false);
  });

  it('gives platform roles only platform permissions', () => {
    const superAdmin = permissionsFor({ orgRole: null, platformRole: 'super-admin' });
    expect(superAdmin.has('platform:orgs:manage')).toBe(true);
    expect(superAdmin.has('findings:triage')).toBe(false);
    const platformAuditor = permissionsFor({ orgRole: null, platformRole: 'auditor' });
    expect([...platformAuditor].sort()).toEqual(['health:details', 'metrics:read', 'platform:audit:read']);
  });

});

describe('self permissions', () => {
  it('[ASVS 8.2.1] a user with a pending forced password change may read themselves and change the password, not edit the profile', () => {
    expect([...SELF_PERMISSIONS]).toContain('self:update');
    expect([...PASSWORD_CHANGE_PERMISSIONS].sort()).toEqual(['self:password', 'self:read']);
    for (const permission of PASSWORD_CHANGE_PERMISSIONS) expect(SELF_PERMISSIONS).toContain(permission);
  });
});

describe('granting roles', () => {
  it('prevents escalation: only owners grant owner, admins grant the rest, nobody else grants anything', () => {
    for (const role of ORG_ROLES) expect(canGrantRole('owner', role)).toBe(true);
    for (const role of ORG_ROLES) expect(canGrantRole('admin', role)).toBe(role !== 'owner');
    for (const actor of ['red-teamer', 'reviewer', 'auditor', 'viewer', null] as const) {
      for (const role of ORG_ROLES) expect(canGrantRole(actor, role)).toBe(false);
    }
  });
});
