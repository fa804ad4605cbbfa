import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { FastifyInstance } from 'fastify';

/**
 * A shadow router of every registered path, used to tell 404 (no such path) from 405 (path
 * exists, other method) and to list routes for the OpenAPI completeness test.
 */
export interface RouteTable {
  allowedMethods(url: string): string[];
  list(): ReadonlyArray<{ method: string; url: string }>;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export function trackRoutes(app: FastifyInstance): RouteTable {
  const router = FindMyWay({ ignoreTrailingSlash: false });
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (route) => {
    // The CORS plugin's catch-all preflight route would make every path look like it exists.
    if (route.url === '*' || route.url.endsWith('/*')) {
      if (route.method === 'OPTIONS') return;
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods as HTTPMethod[]) {
      routes.push({ method, url: route.url });
      if (!router.hasRoute(method, route.url)) router.on(method, route.url, () => undefined);
    }
  });
  return {
    allowedMethods(url) {
      const path = url.split('?')[0] ?? url;
      return METHODS.filter((method) => router.find(method, path) !== null);
    },
    list: () => routes,
  };
}
