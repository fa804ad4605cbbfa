import { Type } from 'typebox';
import { NameString, Timestamp, Uuid } from '../../http/schemas.js';
import { OrgRoleSchema } from '../orgs/members.schemas.js';

export const InvitationStatusSchema = Type.Union([Type.Literal('pending'), Type.Literal('accepted'), Type.Literal('revoked'), Type.Literal('expired')], {
  description: 'pending until accepted, revoked (by an admin or a newer invitation) or past expiresAt.',
});

/** An invitation as admins see it; the token is never part of it (it exists only in the mail). */
export const InvitationSchema = Type.Object(
  {
    id: Uuid(),
    email: Type.String(),
    role: OrgRoleSchema,
    status: InvitationStatusSchema,
    expiresAt: Timestamp(),
    createdAt: Timestamp(),
  },
  { title: 'Invitation', additionalProperties: false },
);

export const EmailAddress = () => Type.String({ format: 'email', minLength: 3, maxLength: 254, description: 'Email address (compared case-insensitively).' });

/** Who and as what: the organisation comes from the path, the inviter from the credential. */
export const CreateInvitationBody = Type.Object({ email: EmailAddress(), role: OrgRoleSchema }, { additionalProperties: false });

export const InvitationParams = Type.Object({ id: Uuid('Organisation id.'), invitationId: Uuid('Invitation id.') }, { additionalProperties: false });

/** A mailed token, checked by the service (any malformed one answers the same 400 as an unknown one). */
export const MailedToken = () => Type.String({ minLength: 1, maxLength: 256, description: 'The token from the mail.' });

/** A new password; its rules are the password policy's, which names the rule it breaks (422). */
export const NewPassword = (description?: string) => Type.String({ minLength: 1, maxLength: 4096, ...(description ? { description } : {}) });

/**
 * Only the token and, for someone without an account yet, the new account's name and password: the
 * organisation, role, email and any platform role come from the invitation, never from the body.
 */
export const AcceptInvitationBody = Type.Object(
  {
    token: MailedToken(),
    displayName: Type.Optional(NameString(200, 'Needed when no account uses the invited email yet.')),
    password: Type.Optional(NewPassword('Needed when no account uses the invited email yet.')),
  },
  { additionalProperties: false },
);

export const AcceptedInvitationSchema = Type.Object(
  { userId: Uuid(), orgId: Uuid(), role: OrgRoleSchema },
  { title: 'AcceptedInvitation', additionalProperties: false },
);
