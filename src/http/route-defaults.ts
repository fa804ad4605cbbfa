import type { FastifyInstance, RouteOptions } from 'fastify';
import { Type } from 'typebox';

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } },
});

/** Error responses every route can produce; routes add their own (409, 412, 428...). */
const COMMON_ERRORS: Record<string, string> = {
  400: 'Malformed request (bad JSON, bad header, bad cursor).',
  404: 'No such resource (or it belongs to another organisation).',
  413: 'Body too large.',
  415: 'Body is not application/json.',
  422: 'Validation failed; `errors` lists every problem with a JSON pointer.',
  429: 'Rate limited; see Retry-After.',
  500: 'Unexpected error (no details are disclosed).',
  503: 'A dependency is unavailable; see Retry-After.',
};
const AUTH_ERRORS: Record<string, string> = {
  401: 'Authentication required or invalid.',
  403: 'Authenticated but not permitted.',
};

export const errorResponse = problemResponse;

/** A registered route: method(s) and URL as registered, options as every onRoute hook left them. */
export interface RegisteredRoute {
  readonly methods: readonly string[];
  readonly url: string;
  readonly options: RouteOptions;
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Every route registered so far, hidden and generated HEAD routes included: the route
     * table that the OpenAPI completeness and schema-strictness checks walk.
     */
    routeList(): readonly RegisteredRoute[];
  }
}

/**
 * Fills what every route must have, so no route can forget it: a querystring schema that
 * refuses unknown parameters, and its error responses and security in the OpenAPI document.
 */
export function registerRouteDefaults(app: FastifyInstance) {
  const routes: RegisteredRoute[] = [];
  app.decorate('routeList', () => routes);
  app.addHook('onRoute', (route: RouteOptions) => {
    // Recorded before any early return: hidden routes must still declare their access. The URL
    // is copied now (Fastify reuses the options object for a prefix's trailing-slash twin).
    routes.push({ methods: (Array.isArray(route.method) ? route.method : [route.method]).map(String), url: route.url, options: route });
    const schema = (route.schema ??= {}) as typeof route.schema & { hide?: boolean; querystring?: unknown; response?: unknown; security?: unknown };
    if (schema.hide) return;
    schema.querystring ??= Type.Object({}, { additionalProperties: false });
    const response = (schema.response ??= {}) as Record<string, unknown>;
    const isPublic = Boolean(route.config && 'access' in route.config && route.config.access && 'public' in route.config.access);
    // The document requires a bearer token or API key everywhere; a public operation lifts that.
    if (isPublic) schema.security ??= [];
    for (const [status, description] of Object.entries({ ...COMMON_ERRORS, ...(isPublic ? {} : AUTH_ERRORS) })) {
      response[status] ??= problemResponse(description);
    }
  });
}
