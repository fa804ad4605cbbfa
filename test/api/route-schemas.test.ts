import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredRoute } from '../../src/http/route-defaults.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * DESIGN §9: every object schema a request is validated against says `additionalProperties:
 * false`, so an unknown field is a 422, never silently accepted or dropped. Walks the whole
 * route table (`app.routeList()`), nested schemas and shared `$ref`s included.
 */

type Schema = Record<string, unknown>;

const REQUEST_PARTS = ['body', 'querystring', 'params'] as const;

const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);

const isObjectSchema = (schema: Schema) =>
  schema.type === 'object' ||
  (Array.isArray(schema.type) && schema.type.includes('object')) ||
  (schema.type === undefined && (isSchema(schema.properties) || isSchema(schema.patternProperties)));

/** Keywords holding one subschema, a list of them, or a map of them (JSON Schema 2020-12 and draft-07). */
const SINGLE = ['additionalProperties', 'unevaluatedProperties', 'items', 'additionalItems', 'unevaluatedItems', 'contains', 'not', 'if', 'then', 'else', 'propertyNames'];
const LIST = ['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items'];
const MAP = ['properties', 'patternProperties', 'dependentSchemas', '$defs', 'definitions'];

const escapePointer = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * The JSON pointers of every object schema under `schema` that admits unknown properties.
 * `resolve` turns a `$ref` into its schema (undefined: reported as unresolvable).
 */
function looseObjects(schema: unknown, pointer: string, resolve: (ref: string) => unknown, seen = new Set<unknown>()): string[] {
  if (!isSchema(schema) || seen.has(schema)) return [];
  seen.add(schema);
  const found: string[] = [];
  if (typeof schema.$ref === 'string') {
    const target = resolve(schema.$ref);
    if (target === undefined) found.push(`${pointer} ($ref ${schema.$ref} does not resolve)`);
    else found.push(...looseObjects(target, `${pointer}→${schema.$ref}`, resolve, seen));
  }
  // An allOf member may stay open when the composition as a whole is closed by unevaluatedProperties.
  const closedComposition = schema.unevaluatedProperties === false;
  if (isObjectSchema(schema) && schema.additionalProperties !== false && schema.unevaluatedProperties !== false) {
    found.push(pointer || '/');
  }
  for (const keyword of SINGLE) {
    if (isSchema(schema[keyword])) found.push(...looseObjects(schema[keyword], `${pointer}/${keyword}`, resolve, seen));
  }
  for (const keyword of LIST) {
    const list = schema[keyword];
    if (!Array.isArray(list)) continue;
    list.forEach((item, index) => {
      const itemPointer = `${pointer}/${keyword}/${index}`;
      const loose = looseObjects(item, itemPointer, resolve, seen);
      found.push(...(keyword === 'allOf' && closedComposition ? loose.filter((entry) => entry !== itemPointer) : loose));
    });
  }
  for (const keyword of MAP) {
    const map = schema[keyword];
    if (!isSchema(map)) continue;
    for (const [name, subschema] of Object.entries(map)) {
      found.push(...looseObjects(subschema, `${pointer}/${keyword}/${escapePointer(name)}`, resolve, seen));
    }
  }
  return found;
}

describe('route schemas', () => {
  let testApp: TestApp;
  let routes: readonly RegisteredRoute[];
  let resolve: (ref: string) => unknown;

  beforeAll(async () => {
    testApp = await createTestApp();
    routes = testApp.app.routeList();
    // Shared schemas are referenced as `Id#` (whole schema); anything else is reported.
    resolve = (ref) => (/^[^#]+#?$/.test(ref) ? testApp.app.getSchema(ref.replace(/#$/, '')) : undefined);
  });

  afterAll(async () => {
    await testApp?.close();
  });

  it('walks routes that validate bodies, query strings and path parameters', () => {
    const parts = new Set(routes.flatMap(({ options }) => REQUEST_PARTS.filter((part) => isSchema((options.schema as Schema | undefined)?.[part]))));
    expect([...parts].sort()).toEqual(['body', 'params', 'querystring']);
  });

  it('closes every object schema in bodies, query strings and path parameters (additionalProperties: false)', () => {
    const loose = routes.flatMap(({ methods, url, options }) =>
      REQUEST_PARTS.flatMap((part) =>
        looseObjects((options.schema as Schema | undefined)?.[part], '', resolve).map((pointer) => `${methods.join(',')} ${url} ${part}${pointer}`),
      ),
    );
    expect(loose).toEqual([]);
  });

  it('gives every documented route a query-string schema, so unknown parameters are refused', () => {
    const open = routes
      .filter(({ options }) => !(options.schema as { hide?: boolean } | undefined)?.hide)
      .filter(({ options }) => !isSchema((options.schema as Schema | undefined)?.querystring))
      .map(({ methods, url }) => `${methods.join(',')} ${url}`);
    expect(open).toEqual([]);
  });

  // The walker itself: it must find an open object wherever it hides.
  describe('the walk catches', () => {
    const none = () => undefined;

    it('an open object at the top, in a property, in array items and in a union', () => {
      const schema = Type.Object(
        {
          nested: Type.Object({ a: Type.String() }),
          list: Type.Array(Type.Object({ b: Type.String() })),
          either: Type.Union([Type.Object({ c: Type.String() }, { additionalProperties: false }), Type.Object({ d: Type.String() })]),
          map: Type.Record(Type.String(), Type.String()),
        },
      );
      expect(looseObjects(schema, '', none)).toEqual(['/', '/properties/nested', '/properties/list/items', '/properties/either/anyOf/1', '/properties/map']);
    });

    it('an open object behind a $ref, and a $ref that does not resolve', () => {
      const shared = { type: 'object', properties: { x: { type: 'string' } } };
      const schema = { type: 'object', additionalProperties: false, properties: { s: { $ref: 'Shared#' }, t: { $ref: 'Missing#' } } };
      const lookup = (ref: string) => (ref === 'Shared#' ? shared : undefined);
      expect(looseObjects(schema, '', lookup)).toEqual(['/properties/s→Shared#', '/properties/t ($ref Missing# does not resolve)']);
    });

    it('nothing in closed schemas (including a closed allOf composition)', () => {
      const closed = Type.Object({ a: Type.Object({ b: Type.Array(Type.Object({}, { additionalProperties: false })) }, { additionalProperties: false }) }, { additionalProperties: false });
      const composed = { allOf: [{ type: 'object', properties: { a: {} } }, { type: 'object', properties: { b: {} } }], unevaluatedProperties: false };
      expect(looseObjects(closed, '', none)).toEqual([]);
      expect(looseObjects(composed, '', none)).toEqual([]);
    });
  });
});
