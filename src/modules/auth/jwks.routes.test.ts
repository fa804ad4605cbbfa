import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../../platform/clock.js';
import { generateKeyring } from '../../platform/crypto/index.js';
import { createAccessTokenService, type Jwks } from './access-token.service.js';
import { jwksRoutes } from './jwks.routes.js';

let app: FastifyInstance | undefined;
let routeConfigs: unknown[] = [];
afterEach(async () => {
  await app?.close();
  app = undefined;
  routeConfigs = [];
});

/** The plugin alone, with the app's default no-store in place, to show the route overrides it. */
async function build(jwks: () => Jwks) {
  const instance = Fastify().withTypeProvider<TypeBoxTypeProvider>();
  instance.addHook('onRequest', (_request, reply, done) => {
    reply.header('cache-control', 'no-store');
    done();
  });
  instance.addHook('onRoute', (route) => {
    routeConfigs.push(route.config);
  });
  await instance.register(jwksRoutes, { accessTokens: { jwks } });
  await instance.ready();
  app = instance;
  return instance;
}

describe('GET /.well-known/jwks.json', () => {
  it('serves the public keys with a shared-cache lifetime instead of no-store, declared public', async () => {
    const tokens = createAccessTokenService({ keyring: generateKeyring(), issuer: 'https://a.test', audience: 'https://a.test', clock: createManualClock() });
    const instance = await build(() => tokens.jwks());
    const response = await instance.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=300');
    expect(response.json()).toEqual(tokens.jwks());
    // The authentication hook lets only routes declaring public access through without credentials.
    expect(routeConfigs).toContainEqual({ access: { public: true } });
  });

  it('cannot serialise a private member even if one reached the handler', async () => {
    const tokens = createAccessTokenService({ keyring: generateKeyring(), issuer: 'https://a.test', audience: 'https://a.test', clock: createManualClock() });
    const [key] = tokens.jwks().keys;
    const leaky = (): Jwks => {
      const keys = [{ ...key!, d: 'private-part' }];
      return { keys };
    };
    const response = await (await build(leaky)).inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    expect(response.body).not.toContain('private-part');
    expect(response.json()).toEqual({ keys: [key] });
  });
});
