import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
// Hashes of the inline scripts and styles in swagger-ui's own pages, computed by the package at build time.
import swaggerUiHashes from '@fastify/swagger-ui/static/csp.json' with { type: 'json' };

/**
 * The CSP of the /docs page (the API's own CSP is `default-src 'none'`): everything from this
 * origin, no CDN, no inline script or style except swagger-ui's hashed ones, no framing, no
 * plugins, no form posts. "Try it out" may call the public origin of the API.
 */
export function docsContentSecurityPolicy(publicUrl: string): string {
  const directives: Record<string, string[]> = {
    'default-src': ["'none'"],
    'script-src': ["'self'", ...swaggerUiHashes.script],
    'script-src-attr': ["'none'"],
    'style-src': ["'self'", ...swaggerUiHashes.style],
    // swagger-ui's stylesheet draws its icons as data: SVGs.
    'img-src': ["'self'", 'data:'],
    'font-src': ["'self'"],
    'connect-src': [...new Set(["'self'", new URL(publicUrl).origin])],
    'base-uri': ["'none'"],
    'form-action': ["'none'"],
    'frame-ancestors': ["'none'"],
    'object-src': ["'none'"],
  };
  return Object.entries(directives)
    .map(([name, sources]) => `${name} ${sources.join(' ')}`)
    .join('; ');
}

/**
 * The OpenAPI 3.1 document, generated from the route schemas (so it cannot drift), and the
 * interactive page at /docs served from local assets under its own CSP (no CDN, no inline
 * script without a hash).
 */
export async function registerApiDocs(app: FastifyInstance, options: { enabled: boolean; publicUrl: string }) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'ViolentUTF API',
        version: '1',
        description: 'Self-hosted, security-hardened REST API for AI red-teaming. Errors are RFC 9457 problem+json.',
      },
      servers: [{ url: options.publicUrl }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, index) => (typeof json.$id === 'string' ? json.$id : `def-${index}`),
    },
  });

  app.get(
    '/api/v1/openapi.json',
    { config: { access: { public: true } }, schema: { hide: true } },
    () => app.swagger(),
  );

  if (!options.enabled) return;
  await app.register(async (docs) => {
    // Third-party routes cannot declare access themselves: the documentation page is public.
    docs.addHook('onRoute', (route) => {
      route.config = { ...(route.config as object), access: { public: true } };
    });
    await docs.register(swaggerUi, {
      routePrefix: '/docs',
      // A string replaces (in onSend) the API CSP that helmet set in onRequest: one header, never two.
      staticCSP: docsContentSecurityPolicy(options.publicUrl),
      theme: { title: 'ViolentUTF API documentation' },
      // The page always loads the document from /docs/json (the same generator as /api/v1/openapi.json).
      uiConfig: { deepLinking: false },
    });
  });
}
