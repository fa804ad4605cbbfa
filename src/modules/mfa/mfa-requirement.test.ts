import { describe, expect, it } from 'vitest';
import { mfaRequirementOf, type MfaOrgPolicyFacts } from './mfa-requirement.js';

const DAY_MS = 86_400_000;
const policy = { defaultRequirement: 'owners-and-admins' as const, enrollmentGraceDays: 7, stepUpMaxAgeMinutes: 15 };
const org = (overrides: Partial<MfaOrgPolicyFacts>): MfaOrgPolicyFacts => ({ role: 'viewer', memberSinceMs: 0, requirement: null, policySinceMs: 0, ...overrides });

describe('mfaRequirementOf', () => {
  it('follows the default for owners and admins only, and each organisation’s own choice otherwise', () => {
    expect(mfaRequirementOf([org({ role: 'admin' })], false, policy, 0).required).toBe(true);
    expect(mfaRequirementOf([org({ role: 'viewer' })], false, policy, 0).required).toBe(false);
    expect(mfaRequirementOf([org({ role: 'viewer', requirement: 'everyone' })], false, policy, 0).required).toBe(true);
    expect(mfaRequirementOf([org({ role: 'owner', requirement: 'optional' })], false, policy, 0).required).toBe(false);
    expect(mfaRequirementOf([], false, policy, 0)).toEqual({ required: false, graceEndsAt: null, enrollmentRequired: false });
  });

  it('counts the grace from the later of membership and policy start, takes the earliest end, and restricts only the unenrolled after it', () => {
    const orgs = [org({ role: 'admin', memberSinceMs: 10 * DAY_MS, policySinceMs: 2 * DAY_MS }), org({ role: 'owner', memberSinceMs: 1 * DAY_MS, policySinceMs: 5 * DAY_MS })];
    const state = mfaRequirementOf(orgs, false, policy, 11 * DAY_MS);
    expect(state.graceEndsAt?.getTime()).toBe(12 * DAY_MS);
    expect(state.enrollmentRequired).toBe(false);
    expect(mfaRequirementOf(orgs, false, policy, 12 * DAY_MS).enrollmentRequired).toBe(true);
    expect(mfaRequirementOf(orgs, true, policy, 12 * DAY_MS).enrollmentRequired).toBe(false);
  });
});
