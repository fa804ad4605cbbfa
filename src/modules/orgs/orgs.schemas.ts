import { Type } from 'typebox';
import { NameString, Slug, Timestamp, Uuid } from '../../http/schemas.js';

export const OrgSchema = Type.Object(
  {
    id: Uuid(),
    name: Type.String(),
    slug: Type.String(),
    version: Type.Integer({ description: 'Current version; send it back (If-Match or body) to update.' }),
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
  },
  { title: 'Organisation', additionalProperties: false },
);

export const CreateOrgBody = Type.Object(
  { name: NameString(200, 'Display name.'), slug: Slug() },
  { additionalProperties: false },
);

export const UpdateOrgBody = Type.Object(
  {
    name: Type.Optional(NameString(200)),
    slug: Type.Optional(Slug()),
    version: Type.Optional(Type.Integer({ minimum: 1, description: 'The version you read, if not sent as If-Match.' })),
  },
  { additionalProperties: false, minProperties: 1 },
);
