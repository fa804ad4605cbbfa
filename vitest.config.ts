import { defineConfig } from 'vitest/config';

/**
 * Three tiers: unit tests beside the code (src/**), integration tests on the real stores
 * (test/integration), API and security tests through app.inject on the built app (test/api,
 * test/security). Integration/API/security run on the embedded PGlite, and also on the real
 * PostgreSQL/Redis when DATABASE_URL and REDIS_URL are set (test/setup/environment.ts).
 *
 * Files of a tier share their worker's module graph (`isolate: false`): importing the app took
 * about 2 s per file, 40% of the suite. Nothing global is kept between files: each builds its own
 * container on its own backend, and spies and fake timers are restored by the file that made them.
 * Module mocks (`vi.mock`) replace a module for the whole graph, so their files run isolated.
 */
const MODULE_MOCKS = ['src/platform/crypto/password-hasher.test.ts', 'test/integration/key-rotation-registry.test.ts'];
const INTEGRATION = ['test/integration/**/*.test.ts', 'test/api/**/*.test.ts', 'test/security/**/*.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'], exclude: MODULE_MOCKS, isolate: false } },
      { extends: true, test: { name: 'integration', include: INTEGRATION, exclude: MODULE_MOCKS, isolate: false } },
      { extends: true, test: { name: 'module-mocks', include: MODULE_MOCKS } },
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'], testTimeout: 60_000 } },
    ],
  },
});
