import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createContainer, type Container, type ContainerOverrides } from '../../src/container.js';
import { buildApp } from '../../src/app.js';
import { formatKeyring, generateKeyring } from '../../src/platform/crypto/keyring.js';
import { createLogger } from '../../src/platform/logger.js';
import type { Authenticator } from '../../src/http/principal.js';
import { serverUrls, uniqueName } from './environment.js';

/**
 * A fake at the identity boundary (real authentication arrives with the identity module):
 * `x-test-principal: <base64url JSON { userId, permissions }>` becomes a user principal.
 */
export const testPrincipalAuthenticator: Authenticator = (request) => {
  const header = request.headers['x-test-principal'];
  if (typeof header !== 'string') return Promise.resolve(undefined);
  const { userId, permissions } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { userId: string; permissions: string[] };
  return Promise.resolve({ type: 'user', id: userId, userId, permissions: new Set(permissions) });
};

export const asPrincipal = (userId: string, permissions: string[]) => ({
  'x-test-principal': Buffer.from(JSON.stringify({ userId, permissions })).toString('base64url'),
});

export const testKeysEnv = () => ({
  JWT_SIGNING_KEYS: formatKeyring(generateKeyring()),
  ENCRYPTION_KEYRING: formatKeyring(generateKeyring()),
  BLIND_INDEX_KEY: formatKeyring(generateKeyring()),
  AUDIT_SIGNING_KEY: formatKeyring(generateKeyring()),
});

/** The platform super-admin every test backend bootstraps (owner of organisation `default`). */
export const BOOTSTRAP_ADMIN = { email: 'root@example.test', password: 'correct horse battery staple 42' } as const;

export interface TestBackend {
  /** Environment for loadConfig: embedded (temp DATA_DIR) or server (own schema). */
  env: Record<string, string>;
  overrides: Pick<ContainerOverrides, 'redisPrefix' | 'loadDataDir'>;
  cleanup(): Promise<void>;
}

/**
 * One isolated backend per test file: a fresh embedded data dir seeded from the migrated
 * snapshot, or — when DATABASE_URL/REDIS_URL are set — a new PostgreSQL schema and Redis prefix.
 */
export async function createTestBackend(): Promise<TestBackend> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vutf-test-'));
  const server = serverUrls();
  const base = { DATA_DIR: dataDir, NODE_ENV: 'test', LOG_LEVEL: 'silent', BOOTSTRAP_ADMIN_EMAIL: BOOTSTRAP_ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: BOOTSTRAP_ADMIN.password };
  if (!server) {
    const snapshot = new Blob([readFileSync(inject('pgliteSnapshotPath'))]);
    return {
      env: base,
      overrides: { loadDataDir: snapshot },
      cleanup: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
    };
  }
  const schema = uniqueName(inject('testSchemaPrefix'));
  const admin = new pg.Client({ connectionString: server.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(server.databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    env: { ...base, ...testKeysEnv(), DATABASE_URL: url.toString(), REDIS_URL: server.redisUrl },
    overrides: { redisPrefix: schema },
    // The schema is dropped with every other one of this run, after the run (global-setup.ts).
    cleanup: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
  };
}

export interface TestApp {
  app: FastifyInstance;
  container: Container;
  config: Config;
  backend: TestBackend;
  close(): Promise<void>;
}

/** The fully built app (as `npm start` builds it) on an isolated backend, for app.inject tests. */
export async function createTestApp(
  options: {
    env?: Record<string, string>;
    /** Rewrites the backend's environment (e.g. to route DATABASE_URL through a TCP proxy). */
    mapEnv?: (env: Record<string, string>) => Record<string, string>;
    overrides?: ContainerOverrides;
    beforeReady?: (app: FastifyInstance, container: Container) => void;
  } = {},
): Promise<TestApp> {
  const backend = await createTestBackend();
  const env = { ...backend.env, ...options.env };
  const config = loadConfig(options.mapEnv ? options.mapEnv(env) : env);
  const container = await createContainer(config, {
    logger: createLogger('silent'),
    authenticators: [testPrincipalAuthenticator],
    ...backend.overrides,
    ...options.overrides,
  }).catch(async (error: unknown) => {
    await backend.cleanup();
    throw error;
  });
  const app = await buildApp(container);
  options.beforeReady?.(app, container);
  await app.ready();
  return {
    app,
    container,
    config,
    backend,
    async close() {
      await app.close();
      await container.close();
      await backend.cleanup();
    },
  };
}

/**
 * A service a test stops and starts again on ONE backend: a restart after a configuration change, or
 * an operator command that needs the embedded data directory to itself. Only the first start seeds the
 * embedded data directory; later starts reopen it. The environment is read at every start.
 */
export function createRestartableService(backend: TestBackend, env: () => Record<string, string>) {
  let running: TestApp | undefined;
  let seeded = false;
  const stop = async () => {
    const stopping = running;
    running = undefined;
    await stopping?.app.close();
    await stopping?.container.close();
  };
  return {
    async start(): Promise<TestApp> {
      const container = await createContainer(loadConfig(env()), {
        logger: createLogger('silent'),
        ...(backend.overrides.redisPrefix ? { redisPrefix: backend.overrides.redisPrefix } : {}),
        ...(!seeded && backend.overrides.loadDataDir ? { loadDataDir: backend.overrides.loadDataDir } : {}),
      });
      seeded = true;
      const app = await buildApp(container);
      await app.ready();
      running = { app, container, config: container.config, backend, close: stop };
      return running;
    },
    stop,
    /** The running service (a test bug when it is stopped). */
    current(): TestApp {
      if (!running) throw new Error('the service is not running');
      return running;
    },
  };
}

/** A real user row (principals of API tests must exist: memberships reference users). */
export async function createTestUser(t: TestApp, email: string, platformRole: 'super-admin' | 'auditor' | null = null): Promise<string> {
  const { newId } = await import('../../src/platform/ids.js');
  const id = newId();
  await t.container.db.transaction().execute((tx) =>
    t.container.repos.users.insert(tx, id, { email, displayName: email.split('@')[0]!, passwordHash: null, platformRole, mustChangePassword: false }, null, new Date()),
  );
  return id;
}
