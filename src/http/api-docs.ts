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
 * swagger-ui's light theme fails WCAG 2.1 AA contrast (1.6:1 to 3.6:1 for white on the method
 * badges, green on white for Authorize): the same hues, darkened to at least 4.5:1.
 */
const ACCESSIBLE_COLOURS_CSS = `
.swagger-ui .opblock.opblock-get .opblock-summary-method { background: #1865b5; }
.swagger-ui .opblock.opblock-post .opblock-summary-method { background: #17754a; }
.swagger-ui .opblock.opblock-put .opblock-summary-method { background: #9a4f00; }
.swagger-ui .opblock.opblock-patch .opblock-summary-method { background: #0b6e4f; }
.swagger-ui .opblock.opblock-delete .opblock-summary-method { background: #b42318; }
.swagger-ui .opblock.opblock-head .opblock-summary-method { background: #7a0fd6; }
.swagger-ui .btn.authorize { border-color: #17754a; color: #17754a; }
.swagger-ui .btn.authorize svg { color: #17754a; }
.swagger-ui .info .title small.version-stamp { background-color: #2d6a00; }
.swagger-ui .info a { color: #1d5fa8; }
.swagger-ui .json-schema-2020-12-expand-deep-button { color: #595959; }
.swagger-ui .parameter__in, .swagger-ui .parameter__extension { color: #595959; }
.swagger-ui .markdown code, .swagger-ui .renderedMarkdown code { color: #6b0fbf; }
.swagger-ui .btn.cancel { border-color: #b42318; color: #b42318; }
.swagger-ui .btn.execute { background-color: #1d5fa8; border-color: #1d5fa8; }
`;

/**
 * swagger-ui's own naming bugs (WCAG 4.1.2 and 2.5.3): the server <select> sits in an empty
 * <label>, "Try it out" shows the request body in an unlabelled <textarea>, the dialog's close
 * button is an unnamed icon, and the dialog's "Authorize" button is named "Apply credentials".
 * Fixed as swagger-ui renders them, by a script served from here (the CSP stays 'self').
 */
const ACCESSIBLE_NAMES_JS = `(function () {
  function name() {
    var servers = document.querySelector('select#servers:not([aria-label])');
    if (servers) servers.setAttribute('aria-label', 'Servers');
    document.querySelectorAll('textarea.body-param__text:not([aria-label])').forEach(function (textarea) {
      textarea.setAttribute('aria-label', 'Request body');
    });
    document.querySelectorAll('button.close-modal:not([aria-label])').forEach(function (button) {
      button.setAttribute('aria-label', 'Close');
    });
    document.querySelectorAll('.auth-btn-wrapper button[aria-label]').forEach(function (button) {
      if (button.textContent.trim() !== '') button.removeAttribute('aria-label');
    });
  }
  new MutationObserver(name).observe(document.documentElement, { childList: true, subtree: true });
})();
`;

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
          // The browser console's session (modules/sessions): state-changing requests also need X-CSRF-Token.
          session: { type: 'apiKey', in: 'cookie', name: '__Host-vutf_session' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }, { session: [] }],
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
      // A string replaces (in onSend) the API CSP set in onRequest (security-headers.ts): one header, never two.
      staticCSP: docsContentSecurityPolicy(options.publicUrl),
      theme: {
        title: 'ViolentUTF API documentation',
        css: [{ filename: 'accessible-colours.css', content: ACCESSIBLE_COLOURS_CSS }],
        js: [{ filename: 'accessible-names.js', content: ACCESSIBLE_NAMES_JS }],
      },
      // The page always loads the document from /docs/json (the same generator as /api/v1/openapi.json).
      // BaseLayout drops the standalone top bar: a box that loads a document from any URL, and a
      // logo whose inline <style> the CSP refuses.
      uiConfig: { deepLinking: false, layout: 'BaseLayout' },
    });
  });
}
