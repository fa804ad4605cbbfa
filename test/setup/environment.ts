import { randomBytes } from 'node:crypto';

/**
 * Which backends this test run uses. Integration/API tests always run on the embedded
 * defaults (PGlite + memory stores); when DATABASE_URL and REDIS_URL are set they run on the
 * real PostgreSQL and Redis instead, each test file in its own schema and Redis key prefix.
 */
export const serverUrls = (): { databaseUrl: string; redisUrl: string } | undefined => {
  const databaseUrl = process.env.DATABASE_URL;
  const redisUrl = process.env.REDIS_URL;
  return databaseUrl && redisUrl ? { databaseUrl, redisUrl } : undefined;
};

export const redisUrl = (): string | undefined => process.env.REDIS_URL;

/** A name no other test file (or run) will pick: schema names, Redis prefixes, temp dirs. */
export const uniqueName = (prefix: string): string => `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
