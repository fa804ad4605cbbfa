import { Type } from 'typebox';
import { NameString, Timestamp, Uuid } from '../../http/schemas.js';

const Scope = () => Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z:-]*$', description: 'A permission string, e.g. `orgs:read`.' });

export const ApiKeySchema = Type.Object(
  {
    id: Uuid(),
    name: Type.String(),
    prefix: Type.String({ description: 'The first characters of the key (`vutf_` + lookup prefix), to recognise it; not a secret.' }),
    scopes: Type.Array(Type.String()),
    expiresAt: Type.Union([Timestamp(), Type.Null()]),
    lastUsedAt: Type.Union([Timestamp(), Type.Null()], { description: 'Recorded at most once a minute.' }),
    lastUsedIp: Type.Union([Type.String(), Type.Null()]),
    revokedAt: Type.Union([Timestamp(), Type.Null()]),
    createdAt: Timestamp(),
  },
  { title: 'ApiKey', additionalProperties: false },
);

export const NewApiKeySchema = Type.Object(
  {
    id: Uuid(),
    name: Type.String(),
    key: Type.String({ description: 'The key itself, shown this once: send it as `X-API-Key`. It cannot be read again.' }),
    prefix: Type.String(),
    scopes: Type.Array(Type.String()),
    expiresAt: Type.Union([Timestamp(), Type.Null()]),
    createdAt: Timestamp(),
  },
  { title: 'NewApiKey', additionalProperties: false },
);

export const CreateApiKeyBody = Type.Object(
  {
    name: NameString(200, 'Display name.'),
    scopes: Type.Array(Scope(), {
      minItems: 1,
      maxItems: 64,
      description: 'What the key may do: a subset of your current permissions (never `self:*`). The creator’s later loss of a permission also removes it from the key.',
    }),
    expiresAt: Type.Optional(Timestamp()),
  },
  { additionalProperties: false },
);
