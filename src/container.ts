import { readFileSync } from 'node:fs';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from './config/config.js';
import { resolveKeys, type Keys } from './config/keys.js';
import { buildPolicy, readPolicyFile, watchPolicyFile, type PolicyWatcher } from './config/policy-file.js';
import { systemClock, type Clock } from './platform/clock.js';
import { createBlindIndex, createFieldCipher, createPasswordHasher } from './platform/crypto/index.js';
import { openDatabase, type DatabaseHandle } from './platform/db/database.js';
import { isDatabaseUnavailable } from './platform/db/database-errors.js';
import { migrateToLatest } from './platform/db/migrator.js';
import { purgeIdempotencyRecordsJob } from './platform/jobs.js';
import { createLogger, type Logger } from './platform/logger.js';
import { createJobQueue, createJobRegistry } from './platform/queue/index.js';
import { createCircuitBreaker } from './platform/resilience/circuit-breaker.js';
import { createStore, type Store } from './platform/stores/index.js';
import type { Authenticator } from './http/principal.js';
import { createWriteRunner } from './http/idempotency.js';
import { createHealthService } from './modules/health/health.service.js';
import { createMetricsTokenAuthenticator } from './modules/health/metrics-token.authenticator.js';
import { createMembershipsRepo } from './modules/orgs/memberships.repo.js';
import { createOrgsRepo } from './modules/orgs/orgs.repo.js';
import { createOrgsService } from './modules/orgs/orgs.service.js';
import { createPolicyRepo } from './modules/policy/policy.repo.js';
import { createPolicyService } from './modules/policy/policy.service.js';
import { createAccessTokenService } from './modules/auth/access-token.service.js';
import { createAccessService } from './modules/auth/access.service.js';
import { createAuthService } from './modules/auth/auth.service.js';
import { createBearerAuthenticator } from './modules/auth/bearer.authenticator.js';
import { createLockoutService } from './modules/auth/lockout.service.js';
import { loadPasswordBlocklist } from './modules/auth/password-blocklist.js';
import { createPasswordPolicy } from './modules/auth/password-policy.js';
import { createZxcvbnEstimator } from './modules/auth/password-policy-strength.js';
import { createRefreshTokenService } from './modules/auth/refresh-token.service.js';
import { createSessionRevocations } from './modules/auth/session-revocations.js';
import { createUsersService } from './modules/users/users.service.js';
import { createBootstrapService } from './modules/users/bootstrap.service.js';
import { createUsersRepo } from './modules/users/users.repo.js';
import { createApiKeyAuthenticator } from './modules/api-keys/api-key.authenticator.js';
import { createApiKeysRepo } from './modules/api-keys/api-keys.repo.js';
import { createApiKeysService } from './modules/api-keys/api-keys.service.js';

// eslint-disable-next-line security/detect-non-literal-fs-filename -- our own package.json, resolved from this module
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What the composition root may be given instead of building it (tests wire fakes the same way). */
export interface ContainerOverrides {
  logger?: Logger;
  clock?: Clock;
  /** Extra authenticators tried after the built-in ones. */
  authenticators?: Authenticator[];
  /** Key prefix for Redis (stores and queue): one per deployment, one per test file. */
  redisPrefix?: string;
  /** Seed a new embedded database from a dump (test snapshots, restore). */
  loadDataDir?: Blob;
  /** Whether this process runs jobs (the embedded service and workers do; server-mode API processes do not). */
  runJobs?: boolean;
}

/**
 * Builds everything in dependency order: platform → repositories → services → jobs. The only
 * place that knows how the pieces fit; `close()` tears them down in reverse.
 */
export async function createContainer(config: Config, overrides: ContainerOverrides = {}) {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  const keys: Keys = resolveKeys(config);
  const cipher = createFieldCipher(keys.ENCRYPTION_KEYRING);
  const blindIndex = createBlindIndex(keys.BLIND_INDEX_KEY);
  const closers: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const closer of closers.reverse()) {
      try {
        await closer();
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'error while closing');
      }
    }
  };

  try {
    // An initial policy is needed before the database (statement limits) and cannot come from it.
    const initialPolicy = config.policyFile ? await readPolicyFile(config.policyFile) : buildPolicy({}, 'built-in defaults');
    const databaseBreaker = createCircuitBreaker({
      name: 'database',
      timeoutMs: config.databaseStatementTimeoutMs + 2000,
      resetTimeoutMs: 5000,
      isFailure: isDatabaseUnavailable,
      onStateChange: (state) => logger.warn({ breaker: 'database', state }, 'circuit breaker changed state'),
    });
    closers.push(() => databaseBreaker.shutdown());
    const database: DatabaseHandle = await openDatabase({
      mode: config.mode,
      dataDir: config.dataDir,
      databaseUrl: config.databaseUrl,
      poolMax: config.databasePoolMax,
      statementTimeoutMs: config.databaseStatementTimeoutMs,
      breaker: databaseBreaker,
      logger,
      ...(overrides.loadDataDir ? { loadDataDir: overrides.loadDataDir } : {}),
    });
    closers.push(() => database.close());
    await migrateToLatest(database.db as never);
    const { db } = database;

    const redisPrefix = overrides.redisPrefix ?? 'vutf';
    const store: Store = await createStore({ mode: config.mode, redisUrl: config.redisUrl, prefix: `${redisPrefix}:store`, clock, logger });
    closers.push(() => store.close());
    const registry = createJobRegistry([purgeIdempotencyRecordsJob({ db, clock })]);
    const queue = createJobQueue({ mode: config.mode, redisUrl: config.redisUrl, prefix: `${redisPrefix}:jobs`, registry, logger, clock });
    closers.push(() => queue.close());

    const policyRepo = createPolicyRepo(db);
    const policy = createPolicyService({ policyRepo, logger });
    await policy.apply(initialPolicy);
    let policyWatcher: PolicyWatcher | undefined;
    if (config.policyFile) {
      policyWatcher = watchPolicyFile(config.policyFile, {
        onChange: async (snapshot) => {
          await policy.apply(snapshot);
        },
        onInvalid: (error) => logger.error({ err: (error as Error).message }, 'policy file rejected; the current policy stays in force'),
      });
      closers.push(() => policyWatcher?.stop());
    }

    const passwordHasher = createPasswordHasher({
      memoryCostKiB: initialPolicy.policy.password.hashMemoryCostKiB,
      timeCost: initialPolicy.policy.password.hashTimeCost,
      parallelism: initialPolicy.policy.password.hashParallelism,
    });
    const usersRepo = createUsersRepo({ db, cipher, blindIndex });
    const orgsRepo = createOrgsRepo({ db });
    const membershipsRepo = createMembershipsRepo();
    const orgs = createOrgsService({ db, orgsRepo, membershipsRepo, clock });
    // The API is its own audience; the OAuth/OIDC server will share the issuer and the JWKS.
    const accessTokens = createAccessTokenService({
      keyring: keys.JWT_SIGNING_KEYS,
      issuer: config.publicUrl,
      audience: `${config.publicUrl}/api`,
      clock,
      ttlSeconds: () => policy.current().tokens.accessTtlSeconds,
    });
    const access = createAccessService({
      store,
      cacheTtlSeconds: 30,
      loadGrants: async (userId) => {
        const [grants, memberships] = await Promise.all([usersRepo.findGrants(db, userId), membershipsRepo.listForUser(db, userId)]);
        if (!grants) return undefined;
        return {
          status: grants.status,
          platformRole: grants.platformRole,
          mustChangePassword: grants.mustChangePassword,
          credentialsChangedAtMs: grants.credentialsChangedAt?.getTime() ?? null,
          memberships,
        };
      },
    });
    const refreshTokens = createRefreshTokenService({
      db,
      clock,
      lifetimes: () => {
        const { refreshIdleMinutes, refreshAbsoluteHours } = policy.current().tokens;
        return { idleSeconds: refreshIdleMinutes * 60, absoluteSeconds: refreshAbsoluteHours * 3600 };
      },
    });
    const passwordPolicy = createPasswordPolicy({
      blocklist: loadPasswordBlocklist(),
      policy: () => policy.current().password,
      strength: createZxcvbnEstimator(),
    });
    const sessions = createSessionRevocations({ store, clock });
    const auth = createAuthService({
      db,
      clock,
      blindIndex,
      passwordHasher,
      passwordPolicy,
      usersRepo,
      membershipsRepo,
      lockout: createLockoutService({ db, clock, policy: () => policy.current().lockout }),
      refreshTokens,
      accessTokens,
      access,
      sessions,
    });
    const apiKeysRepo = createApiKeysRepo({ db, cipher });
    const apiKeys = createApiKeysService({ apiKeysRepo, blindIndex, clock });
    const users = createUsersService({ db, usersRepo, orgsRepo, membershipsRepo });
    const bootstrap = createBootstrapService({ db, usersRepo, orgsRepo, membershipsRepo, passwordHasher, clock, logger });
    await bootstrap.ensureAdmin({
      mode: config.mode,
      dataDir: config.dataDir,
      admin: config.bootstrapAdmin,
      minPasswordLength: policy.current().password.minLength,
    });

    const health = createHealthService({
      clock,
      timeoutMs: 1000,
      components: [
        { name: 'database', ping: () => database.ping() },
        { name: 'store', ping: () => store.ping() },
        { name: 'queue', ping: () => queue.ping() },
      ],
    });
    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics });
    const startedAt = clock.now();

    if (overrides.runJobs ?? config.mode === 'embedded') {
      await queue.start();
      // Hourly housekeeping; the hour in the job id makes many processes enqueue it once.
      const schedule = () => {
        const hour = Math.floor(clock.nowMs() / 3_600_000);
        queue.enqueue('platform.purge-idempotency-records', {}, { jobId: `purge-idempotency-${hour}` }).catch((error: unknown) => {
          logger.warn({ err: (error as Error).message }, 'could not schedule the idempotency purge');
        });
      };
      const timer = setInterval(schedule, 3_600_000);
      timer.unref();
      closers.push(() => clearInterval(timer));
      schedule();
    }

    return {
      config,
      logger,
      clock,
      keys,
      database,
      db,
      store,
      queue,
      cipher,
      blindIndex,
      passwordHasher,
      policy,
      policyWatcher,
      metrics,
      health,
      runWrite: createWriteRunner({ db, cipher, clock, retentionHours: () => policy.current().retention.idempotencyRecordsHours }),
      authenticators: [
        createMetricsTokenAuthenticator(config.metricsToken),
        createBearerAuthenticator({ accessTokens, access, sessions }),
        createApiKeyAuthenticator({ db, apiKeysRepo, blindIndex, access, clock }),
        ...(overrides.authenticators ?? []),
      ],
      services: { orgs, accessTokens, access, auth, users, apiKeys },
      repos: { users: usersRepo, orgs: orgsRepo, memberships: membershipsRepo, apiKeys: apiKeysRepo },
      about: () => {
        const applied = policy.applied();
        return { mode: config.mode, version: VERSION, startedAt, policySequence: applied.sequence, policyHash: applied.contentHash };
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

export type Container = Awaited<ReturnType<typeof createContainer>>;
