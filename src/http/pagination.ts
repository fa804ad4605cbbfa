import { Type, type Static } from 'typebox';
import { AppError } from '../platform/errors.js';

/** Query parameters every list accepts. */
export const PaginationQuery = {
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size (at most 100).' }),
  cursor: Type.Optional(
    Type.String({ maxLength: 512, pattern: '^[A-Za-z0-9_-]+$', description: 'Opaque cursor from the previous page.' }),
  ),
};

/** The envelope of every list response. */
export const Page = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) }, { additionalProperties: false });

type CursorValue = string | number;

const invalidCursor = () => new AppError(400, 'invalid_cursor', { detail: 'The cursor is not one this API issued.' });

/** A keyset position (the sort values of the last row seen) as an opaque URL-safe string. */
export const encodeCursor = (values: readonly CursorValue[]): string =>
  Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');

export function decodeCursor(cursor: string | undefined, arity: number): CursorValue[] | undefined {
  if (cursor === undefined) return undefined;
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  if (
    !Array.isArray(values) ||
    values.length !== arity ||
    !values.every((value) => (typeof value === 'string' && value.length <= 200) || Number.isFinite(value))
  ) {
    throw invalidCursor();
  }
  return values as CursorValue[];
}

/**
 * Repositories fetch `limit + 1` rows in keyset order; this cuts the page and derives the next
 * cursor from the last row kept.
 */
export function toPage<R, I>(rows: R[], limit: number, keyOf: (row: R) => CursorValue[], toItem: (row: R) => I) {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(toItem),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}

export type PaginationParams = { limit: number; cursor?: string | undefined };
export type PageOf<I> = { items: I[]; nextCursor: string | null };
export type PaginationQueryType = Static<ReturnType<typeof Type.Object<typeof PaginationQuery>>>;
