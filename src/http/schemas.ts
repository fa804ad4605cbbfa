import { Type } from 'typebox';

/**
 * Building blocks for route schemas. Identifiers and names are strict (no control, format or
 * separator characters; services NFKC-normalise them); attack content is the opposite: any
 * Unicode, kept byte-exact, bounded only in size. Safety comes from encoding at output.
 */
export const Uuid = (description = 'UUIDv7 identifier.') => Type.String({ format: 'uuid', description });

export const NameString = (maxLength: number, description?: string) =>
  Type.String({
    minLength: 1,
    maxLength,
    pattern: '^[^\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Co}\\p{Cn}]*$',
    ...(description ? { description } : {}),
  });

export const Slug = () =>
  Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$', description: 'Lower-case URL name.' });

/** Prompts, responses and payloads: never normalised or "cleaned". */
export const AttackText = (maxLength: number, description?: string) =>
  Type.String({ maxLength, ...(description ? { description } : {}) });

export const Timestamp = () => Type.String({ format: 'date-time' });

/** NFKC and trimmed: two spellings of one name must compare equal. */
export const normaliseName = (value: string): string => value.normalize('NFKC').trim();

export const IdParams = Type.Object({ id: Uuid() }, { additionalProperties: false });
