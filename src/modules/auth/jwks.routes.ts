import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AccessTokenService } from './access-token.service.js';

/**
 * The response schema lists only public members with additionalProperties false, so even a bug
 * that put a private `d` into a key could not serialise it.
 */
const JwkSchema = Type.Object(
  {
    kty: Type.Literal('OKP'),
    crv: Type.Literal('Ed25519'),
    x: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    kid: Type.String(),
    alg: Type.Literal('EdDSA'),
    use: Type.Literal('sig'),
  },
  { additionalProperties: false },
);
const JwksSchema = Type.Object({ keys: Type.Array(JwkSchema) }, { additionalProperties: false });

/**
 * Five minutes: an outside verifier sees a new key version soon after it is configured, without
 * fetching per verification. The keys are the same for every caller, so shared caches may keep them.
 */
export const JWKS_CACHE_CONTROL = 'public, max-age=300';

export interface JwksRouteDeps {
  accessTokens: Pick<AccessTokenService, 'jwks'>;
}

export const jwksRoutes: FastifyPluginAsyncTypebox<JwksRouteDeps> = async (app, { accessTokens }) => {
  app.get(
    '/.well-known/jwks.json',
    {
      config: { access: { public: true } },
      schema: {
        tags: ['auth'],
        summary: 'Public keys that verify access tokens (RFC 7517 JWK Set)',
        response: { 200: JwksSchema },
      },
    },
    (_request, reply) => {
      // Replaces the default no-store: this document holds no tenant data.
      reply.header('cache-control', JWKS_CACHE_CONTROL);
      return accessTokens.jwks();
    },
  );
};
