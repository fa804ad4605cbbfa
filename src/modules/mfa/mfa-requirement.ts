import type { Policy } from '../../config/policy.schema.js';
import type { MfaRequirement, OrgRole } from '../../db/schema.js';

const DAY_MS = 86_400_000;

/** What the policies of a user's organisations ask of them (issue 8 §5). */
export interface MfaRequirementState {
  /** Some organisation of the user requires MFA for their role there. */
  required: boolean;
  /** End of the enrollment grace (the earliest among requiring organisations); null when not required. */
  graceEndsAt: Date | null;
  /** Required, not enrolled and past the grace: the user may only enroll. */
  enrollmentRequired: boolean;
}

export interface MfaOrgPolicyFacts {
  role: OrgRole;
  memberSinceMs: number;
  requirement: MfaRequirement | null;
  policySinceMs: number;
}

const requiresFor = (requirement: MfaRequirement, role: OrgRole) =>
  requirement === 'everyone' || (requirement === 'owners-and-admins' && (role === 'owner' || role === 'admin'));

/**
 * Required when any organisation requires it for the user's role there (an organisation's own
 * choice, else the policy file's default). The grace runs `enrollmentGraceDays` from the later of
 * the membership's start and the policy's start, so a policy switched on later still gives everyone time.
 */
export function mfaRequirementOf(orgs: readonly MfaOrgPolicyFacts[], enrolled: boolean, policy: Policy['mfa'], nowMs: number): MfaRequirementState {
  let graceEndsMs: number | null = null;
  for (const org of orgs) {
    if (!requiresFor(org.requirement ?? policy.defaultRequirement, org.role)) continue;
    const ends = Math.max(org.memberSinceMs, org.policySinceMs) + policy.enrollmentGraceDays * DAY_MS;
    graceEndsMs = graceEndsMs === null ? ends : Math.min(graceEndsMs, ends);
  }
  if (graceEndsMs === null) return { required: false, graceEndsAt: null, enrollmentRequired: false };
  return { required: true, graceEndsAt: new Date(graceEndsMs), enrollmentRequired: !enrolled && nowMs >= graceEndsMs };
}
