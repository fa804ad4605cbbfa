import type { RouteOptions } from 'fastify';
import type { RegisteredRoute } from '../../src/http/route-defaults.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * The OpenAPI document is complete (DESIGN §6): every route is in it, with every error it can
 * answer as problem+json, and every route declares who may call it. The route table comes
 * from `app.routeList()` (collected by the onRoute hook in route-defaults.ts), so a route added
 * anywhere is checked without this file changing.
 */

interface MediaType {
  schema?: { $ref?: string };
}
interface Operation {
  responses?: Record<string, { description?: string; content?: Record<string, MediaType> }>;
  requestBody?: unknown;
  security?: unknown[];
}
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  servers?: Array<{ url: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { required?: string[] }>; securitySchemes: Record<string, unknown> };
  security?: unknown[];
}

const PROBLEM_REF = '#/components/schemas/Problem';
const COMMON_ERRORS = ['400', '404', '422', '429', '500', '503'];
const AUTH_ERRORS = ['401', '403'];
const BODY_ERRORS = ['413', '415'];

/** Left out of the document on purpose: the document itself, the /docs page and its assets, the CORS preflight. */
const UNDOCUMENTED_BY_DESIGN = (method: string, url: string) =>
  url === '/api/v1/openapi.json' || url === '/docs' || url.startsWith('/docs/') || (method === 'OPTIONS' && url === '*');

const isHidden = (route: RouteOptions) => Boolean((route.schema as { hide?: boolean } | undefined)?.hide);
const isPublic = (route: RouteOptions) => Boolean(route.config?.access && 'public' in route.config.access);

/** Fastify's `/orgs/:id` (optionally `:id(regex)`) is OpenAPI's `/orgs/{id}`. */
const toOpenApiPath = (url: string) => url.replace(/\([^)]*\)/g, '').replace(/:(\w+)/g, '{$1}');

interface RouteEntry {
  method: string;
  url: string;
  route: RouteOptions;
}

/** One entry per method; HEAD routes Fastify generates for a GET are the GET operation. */
function routeEntries(routes: readonly RegisteredRoute[]): RouteEntry[] {
  const entries = routes.flatMap(({ methods, url, options }) => methods.map((method) => ({ method, url, route: options })));
  const gets = new Set(entries.filter((entry) => entry.method === 'GET').map((entry) => entry.url));
  return entries.filter((entry) => !(entry.method === 'HEAD' && gets.has(entry.url)));
}

/** Every problem with the document, as readable lines ([] when complete). */
function documentationGaps(routes: readonly RegisteredRoute[], document: OpenApiDocument): string[] {
  const gaps: string[] = [];
  const expected = new Set<string>();
  for (const { method, url, route } of routeEntries(routes)) {
    const name = `${method} ${url}`;
    if (UNDOCUMENTED_BY_DESIGN(method, url)) continue;
    if (isHidden(route)) {
      gaps.push(`${name}: hidden from the document (only the docs page, the document and the CORS preflight may be)`);
      continue;
    }
    const path = toOpenApiPath(url);
    expected.add(`${method.toLowerCase()} ${path}`);
    const operation = document.paths[path]?.[method.toLowerCase()];
    if (!operation) {
      gaps.push(`${name}: missing from the document`);
      continue;
    }
    const statuses = [...COMMON_ERRORS, ...(isPublic(route) ? [] : AUTH_ERRORS), ...(operation.requestBody ? BODY_ERRORS : [])];
    for (const status of statuses) {
      const response = operation.responses?.[status];
      if (!response) {
        gaps.push(`${name}: no ${status} response`);
        continue;
      }
      const types = Object.keys(response.content ?? {});
      if (types.length !== 1 || types[0] !== 'application/problem+json') {
        gaps.push(`${name}: ${status} is not documented as application/problem+json only (${types.join(', ') || 'no content'})`);
      } else if (response.content!['application/problem+json']!.schema?.$ref !== PROBLEM_REF) {
        gaps.push(`${name}: ${status} body is not the Problem schema`);
      }
    }
    if (isPublic(route) && !(Array.isArray(operation.security) && operation.security.length === 0)) {
      gaps.push(`${name}: public, but the document says it needs credentials`);
    }
    if (!isPublic(route) && operation.security !== undefined && operation.security.length === 0) {
      gaps.push(`${name}: needs a permission, but the document says no credentials are needed`);
    }
  }
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of Object.keys(item)) {
      if (!expected.has(`${method} ${path}`)) gaps.push(`${method.toUpperCase()} ${path}: documented but no such route`);
    }
  }
  return gaps;
}

/** Routes that do not say who may call them ([] when all do). */
function undeclaredAccess(routes: readonly RegisteredRoute[]): string[] {
  return routes.flatMap(({ methods, url, options }) => {
    const access: unknown = options.config?.access;
    const declared =
      typeof access === 'object' &&
      access !== null &&
      (('public' in access && access.public === true) ||
        ('permission' in access &&
          [access.permission].flat().length > 0 &&
          [access.permission].flat().every((permission) => typeof permission === 'string' && permission.length > 0)));
    return declared ? [] : [`${methods.join(',')} ${url}`];
  });
}

const registered = (method: string | string[], url: string, options: object): RegisteredRoute => ({
  methods: [method].flat(),
  url,
  options: { method, url, handler: () => undefined, ...options } as RouteOptions,
});

describe('OpenAPI document', () => {
  let testApp: TestApp;
  let document: OpenApiDocument;
  let routes: readonly RegisteredRoute[];

  beforeAll(async () => {
    testApp = await createTestApp();
    routes = testApp.app.routeList();
    const response = await testApp.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    document = response.json<OpenApiDocument>();
  });

  afterAll(async () => {
    await testApp?.close();
  });

  it('is OpenAPI 3.1.0 with the Problem schema and both security schemes', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(document.info.title).toBe('ViolentUTF API');
    expect(document.servers?.[0]?.url).toBe(testApp.config.publicUrl);
    expect(Object.keys(document.components.securitySchemes).sort()).toEqual(['apiKey', 'bearer', 'session']);
    expect(document.security).toEqual([{ bearer: [] }, { apiKey: [] }, { session: [] }]);
    expect(document.components.schemas.Problem?.required).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'instance', 'code', 'requestId']),
    );
  });

  it('sees the route table (the walk below is not vacuous)', () => {
    const names = routeEntries(routes).map(({ method, url }) => `${method} ${url}`);
    expect(names).toEqual(
      expect.arrayContaining(['GET /health/live', 'GET /health/details', 'GET /api/v1/orgs', 'PATCH /api/v1/orgs/:id', 'GET /api/v1/openapi.json', 'GET /docs']),
    );
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/health/live', '/api/v1/orgs', '/api/v1/orgs/{id}']));
  });

  it('documents every route with its problem+json errors (401/403 unless public, 413/415 with a body)', () => {
    expect(documentationGaps(routes, document)).toEqual([]);
  });

  it('has every route declare its access (public or a permission)', () => {
    expect(undeclaredAccess(routes), 'these routes answer every request with 500 route_without_access').toEqual([]);
  });

  // The checks themselves: a broken document or route table must be reported.
  describe('the checks catch', () => {
    const clone = () => structuredClone(document);
    // Only what the breakage adds, so these stay meaningful while the real document has gaps.
    const addedGaps = (broken: OpenApiDocument, extraRoutes: RegisteredRoute[] = []) => {
      const baseline = new Set(documentationGaps(routes, document));
      return documentationGaps([...routes, ...extraRoutes], broken).filter((gap) => !baseline.has(gap));
    };

    it('a missing error response, a wrong media type and an undocumented route', () => {
      const broken = clone();
      delete broken.paths['/api/v1/orgs/{id}']!.patch!.responses!['422'];
      broken.paths['/health/live']!.get!.responses!['503']!.content = { 'application/json': {} };
      delete broken.paths['/api/v1/policy'];
      expect(addedGaps(broken)).toEqual([
        'GET /health/live: 503 is not documented as application/problem+json only (application/json)',
        'PATCH /api/v1/orgs/:id: no 422 response',
        'GET /api/v1/policy: missing from the document',
      ]);
    });

    it('a non-public route without 401/403, and a public one that claims to need credentials', () => {
      const broken = clone();
      delete broken.paths['/health/details']!.get!.responses!['401'];
      delete broken.paths['/health/live']!.get!.security;
      expect(addedGaps(broken)).toEqual([
        'GET /health/live: public, but the document says it needs credentials',
        'GET /health/details: no 401 response',
      ]);
    });

    it('a documented operation with no route, and a hidden API route', () => {
      const broken = clone();
      broken.paths['/api/v1/ghosts'] = { get: {} };
      const hidden = registered('GET', '/api/v1/secret', { schema: { hide: true }, config: { access: { permission: 'x' } } });
      expect(addedGaps(broken, [hidden])).toEqual([
        'GET /api/v1/secret: hidden from the document (only the docs page, the document and the CORS preflight may be)',
        'GET /api/v1/ghosts: documented but no such route',
      ]);
    });

    it('routes without an access declaration, or with an empty one', () => {
      const undeclared = [
        registered('GET', '/a', { config: {} }),
        registered(['POST', 'PUT'], '/b', {}),
        registered('GET', '/c', { config: { access: { permission: '' } } }),
        registered('GET', '/d', { config: { access: { public: false } } }),
        registered('GET', '/ok', { config: { access: { permission: 'orgs:read' } } }),
      ];
      expect(undeclaredAccess(undeclared)).toEqual(['GET /a', 'POST,PUT /b', 'GET /c', 'GET /d']);
    });
  });
});
