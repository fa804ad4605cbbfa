import { defineConfig } from 'vitest/config';

/**
 * Three tiers: unit tests beside the code (src/**), integration tests on the real stores
 * (test/integration), API and security tests through app.inject on the built app (test/api,
 * test/security). Integration/API/security run on the embedded PGlite, and also on the real
 * PostgreSQL/Redis when DATABASE_URL and REDIS_URL are set (test/setup/environment.ts).
 */
export default defineConfig({
  test: {
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/integration/**/*.test.ts', 'test/api/**/*.test.ts', 'test/security/**/*.test.ts'] },
      },
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'], testTimeout: 60_000 } },
    ],
  },
});
