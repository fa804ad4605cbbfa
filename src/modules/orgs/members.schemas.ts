import { Type } from 'typebox';
import { Timestamp, Uuid } from '../../http/schemas.js';

export const OrgRoleSchema = Type.Union(
  [Type.Literal('owner'), Type.Literal('admin'), Type.Literal('red-teamer'), Type.Literal('reviewer'), Type.Literal('auditor'), Type.Literal('viewer')],
  { description: 'Role in the organisation.' },
);

export const MemberSchema = Type.Object(
  {
    id: Uuid('The member’s user id.'),
    email: Type.String(),
    displayName: Type.String(),
    role: OrgRoleSchema,
    createdAt: Timestamp(),
    rawContent: Type.Boolean({ description: 'Whether this membership holds the raw-content grant (reading prompts, responses and evidence).' }),
    rawContentGrantedAt: Type.Union([Timestamp(), Type.Null()], { description: 'When the raw-content grant was given; null when not held.' }),
  },
  { title: 'Member', additionalProperties: false },
);

export const MemberParams = Type.Object({ id: Uuid('Organisation id.'), userId: Uuid('The member’s user id.') }, { additionalProperties: false });

/** The role and nothing else: a member's user, organisation or timestamps never come from a body. */
export const UpdateMemberBody = Type.Object({ role: OrgRoleSchema }, { additionalProperties: false });
