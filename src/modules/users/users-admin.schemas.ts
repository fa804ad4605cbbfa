import { Type } from 'typebox';
import { Timestamp, Uuid } from '../../http/schemas.js';

const userFields = {
  id: Uuid(),
  email: Type.String(),
  displayName: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Literal('locked')]),
  platformRole: Type.Union([Type.Literal('super-admin'), Type.Literal('auditor'), Type.Null()]),
  mustChangePassword: Type.Boolean(),
  lastLoginAt: Type.Union([Timestamp(), Type.Null()]),
  createdAt: Timestamp(),
  updatedAt: Timestamp(),
  version: Type.Integer({ description: 'Current version; send it as If-Match to delete.' }),
};

/** A user as the platform administrator lists them (no password hash, no blind index, ever). */
export const UserSummarySchema = Type.Object(userFields, { title: 'UserSummary', additionalProperties: false });

/** One user with the organisations they belong to and their role in each. */
export const UserDetailSchema = Type.Object(
  {
    ...userFields,
    organisations: Type.Array(
      Type.Object({ id: Uuid(), name: Type.String(), slug: Type.String(), role: Type.String() }, { additionalProperties: false }),
    ),
  },
  { title: 'UserDetail', additionalProperties: false },
);
