import { readFileSync } from 'node:fs';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from './config/config.js';
import { resolveKeys, type Keys } from './config/keys.js';
import { buildPolicy, readPolicyFile, watchPolicyFile, type PolicyWatcher } from './config/policy-file.js';
import { systemClock, type Clock } from './platform/clock.js';
import { createBlindIndex, createFieldCipher } from './platform/crypto/index.js';
import { openDatabase, type DatabaseHandle } from './platform/db/database.js';
import { isDatabaseUnavailable } from './platform/db/database-errors.js';
import { migrateToLatest } from './platform/db/migrator.js';
import { purgeIdempotencyRecordsJob } from './platform/jobs.js';
import { createLogger, type Logger } from './platform/logger.js';
import { createJobQueue, createJobRegistry } from './platform/queue/index.js';
import { schedulePeriodic } from './platform/queue/schedule-periodic.js';
import { createCircuitBreaker } from './platform/resilience/circuit-breaker.js';
import { createStore, type Store } from './platform/stores/index.js';
import type { Authenticator } from './http/principal.js';
import { createWriteRunner } from './http/idempotency.js';
import { createIdentityModules } from './container-identity.js';
import { createHealthService } from './modules/health/health.service.js';
import { createMetricsTokenAuthenticator } from './modules/health/metrics-token.authenticator.js';
import { createPolicyRepo } from './modules/policy/policy.repo.js';
import { createPolicyService } from './modules/policy/policy.service.js';
import { createEmailTokensRepo } from './modules/auth/email-tokens.repo.js';
import { authHousekeepingJobs } from './modules/auth/auth.jobs.js';
import { mfaHousekeepingJobs } from './modules/mfa/mfa.jobs.js';
import { deliverOutboxJob, purgeFinishedMailJob } from './modules/mail/mail.jobs.js';
import { createMailRepo } from './modules/mail/mail.repo.js';
import { createAuditModule } from './container-audit.js';
import type { AuditRepo } from './modules/audit/audit.repo.js';
import { createSmtpTransport } from './modules/mail/mail.transport.js';
import { createScorerService } from './modules/scorers/scorers.service.js';
import { createConverterService } from './modules/converters/converters.service.js';
import { loadTaxonomyService } from './modules/taxonomies/taxonomies.service.js';
import { createDatasetsModule } from './container-datasets.js';
import type { JudgeTransport } from './modules/scorers/judge.js';
import { createTargetsModule } from './container-targets.js';
import { createTargetLimiter } from './modules/targets/target-limiter.js';
import { createScansModule, type ScansModule } from './container-scans.js';
import { scanJobs, scanSchedules } from './modules/scans/scans.jobs.js';
import { createFindingsModule, type FindingsModule } from './container-findings.js';
import { findingJobs, findingSchedules } from './modules/findings/findings.jobs.js';
import { inactiveAccountsJobs, inactiveAccountsSchedules } from './modules/users/inactive-accounts.jobs.js';
import type { InactiveAccountsService } from './modules/users/inactive-accounts.service.js';
import { createRetentionModule } from './container-retention.js';
import { createBackupModule } from './container-backup.js';
import { createKeysModule } from './container-keys.js';

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
  /** Replaces the audit insert: the write benchmark's no-op sink (bench/), never the service's. */
  auditRepo?: Pick<AuditRepo, 'insert'>;
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

    const redisPrefix = overrides.redisPrefix ?? config.redisPrefix;
    const store: Store = await createStore({ mode: config.mode, redisUrl: config.redisUrl, prefix: `${redisPrefix}:store`, clock, logger });
    closers.push(() => store.close());
    const mailRepo = createMailRepo({ cipher });
    const emailTokensRepo = createEmailTokensRepo({ cipher });
    // Without SMTP_URL mail stays in the outbox table (DESIGN §7): no transport, no relay job.
    const mailTransport = config.smtpUrl
      ? createSmtpTransport({ smtpUrl: config.smtpUrl, from: config.mailFrom ?? `no-reply@${new URL(config.publicUrl).hostname}` })
      : undefined;
    if (mailTransport) closers.push(() => mailTransport.close());
    // The policy service comes later (it records through the recorder); jobs read it only once it is applied.
    const audit = createAuditModule({ db, clock, cipher, logger, keys, config, policy: () => policy.current(), ...(overrides.auditRepo ? { auditRepo: overrides.auditRepo } : {}) });
    // Before anything is signed, and so a keyring that contradicts the registered public keys stops the start.
    await audit.sealer.registerKeys();
    // Key versions and rotation (issue 9 §1): this database notes when it first saw each version (JWT retirement).
    const keyRotation = createKeysModule({ db, keys, config, clock, cipher, blindIndex, recorder: audit.recorder, refreshAuditKeys: () => audit.sealer.refreshKeys() });
    await keyRotation.service.noteConfiguredVersions();
    // Retention with legal hold (issue 9 §4): the daily run reads the policy in force when it runs.
    const retention = createRetentionModule({ db, clock, cipher, blindIndex, logger, audit: audit.recorder, policy: () => policy.current() });
    const built: { scans?: ScansModule; findings?: FindingsModule } = {};
    // Identity is built after the queue; the inactive-accounts job (issue 9 §5) reaches its service when it runs.
    const identityBuilt: { inactiveAccounts?: InactiveAccountsService } = {};
    const findingsModule = (): FindingsModule => {
      if (!built.findings) throw new Error('The findings module is used before the container built it.');
      return built.findings;
    };
    const scansModule = (): ScansModule => {
      if (!built.scans) throw new Error('The scans module is used before the container built it.');
      return built.scans;
    };
    const registry = createJobRegistry([
      ...audit.jobs,
      purgeIdempotencyRecordsJob({ db, clock }),
      ...authHousekeepingJobs({ db, clock, emailTokensRepo, retention: () => policy.current().retention }),
      ...mfaHousekeepingJobs({ db, clock }),
      purgeFinishedMailJob({ db, clock, mailRepo, retention: () => policy.current().retention }),
      ...retention.jobs,
      ...(mailTransport ? [deliverOutboxJob({ db, clock, mailRepo, transport: mailTransport, logger })] : []),
      // The scans module needs targets and scorers, built after the queue: its jobs reach it when they run.
      ...scanJobs({ runner: () => scansModule().executor, reconciler: () => scansModule().reconciler }),
      ...findingJobs({ deriver: () => findingsModule().deriver, sweep: () => findingsModule().sweep }),
      ...inactiveAccountsJobs({
        service: () => {
          if (!identityBuilt.inactiveAccounts) throw new Error('The inactive-accounts service is used before the container built it.');
          return identityBuilt.inactiveAccounts;
        },
      }),
    ]);
    const queue = createJobQueue({ mode: config.mode, redisUrl: config.redisUrl, prefix: `${redisPrefix}:jobs`, registry, logger, clock });
    closers.push(() => queue.close());

    const policyRepo = createPolicyRepo(db);
    const policy = createPolicyService({ policyRepo, logger, audit: audit.recorder });
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

    const identity = createIdentityModules({ config, keys, db, store, clock, cipher, blindIndex, policy, initialPolicy, logger, mailRepo, emailTokensRepo, audit: audit.recorder });
    const { bootstrap, ...services } = identity.services;
    identityBuilt.inactiveAccounts = identity.services.inactiveAccounts;
    await bootstrap.ensureAdmin({
      mode: config.mode,
      dataDir: config.dataDir,
      admin: config.bootstrapAdmin,
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
    // Targets (issue 5 §1): one egress client under the policy's egress section, the per-target limiter
    // shared through the store (every process), and the send path the test route and the judge use.
    const targets = createTargetsModule({ db, cipher, blindIndex, clock, logger, config, policy: () => policy.current(), limiter: createTargetLimiter({ store, clock, logger }) });
    closers.push(() => targets.close());
    const judgeTransport: JudgeTransport = targets.judgeTransport;
    // Read on every judge call, so the transport may be wired after the service.
    const scorers = createScorerService({ judge: () => judgeTransport, audit: audit.recorder });
    // Stateless, shared by the preview route and the scan engine.
    const converters = createConverterService();
    // Shipped classification data (issue 7 §3): probe mappings, selections and findings name its nodes.
    const taxonomies = loadTaxonomyService();
    // Datasets (issue 7 §2): imports and their items, which scans select as probes.
    const datasets = createDatasetsModule({ db, clock, taxonomy: taxonomies });
    // Findings (issue 7 §4): derived from a scan's attempts when the engine reports it settled (and by a sweep).
    built.findings = createFindingsModule({
      db,
      cipher,
      clock,
      logger,
      queue,
      audit: audit.recorder,
      taxonomy: taxonomies,
      loadPlan: (orgId, scanId) => scansModule().service.loadPlan(orgId, scanId),
      isMember: async (executor, orgId, userId) => (await identity.repos.memberships.findLive(executor, orgId, userId)) !== undefined,
    });
    // Scans (issue 6): plans, the chunk outbox and its reconciler, the executor, the event log.
    built.scans = createScansModule({
      onSettled: built.findings.trigger.onSettled,
      db,
      cipher,
      store,
      clock,
      logger,
      queue,
      targets: targets.service,
      scorers,
      converters,
      taxonomies,
      datasets: datasets.probeSource,
      sendToVersion: targets.sendToVersion,
      versionInfo: targets.versionInfo,
      // Lease and status-check timings from the policy's scans section (tests shorten them there).
      executorOptions: { leaseMs: policy.current().scans.chunkLeaseMs, heartbeatMs: policy.current().scans.leaseHeartbeatMs, statusCheckMs: policy.current().scans.statusCheckMs },
    });
    // The shipped probe library, checked and seeded once per version (idempotent; concurrent starts serialise).
    await built.scans.probes.seedShipped();
    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics });
    const startedAt = clock.now();

    if (overrides.runJobs ?? config.mode === 'embedded') {
      await queue.start();
      // The slot in each job id makes many processes enqueue a periodic job once (schedule-periodic.ts).
      const hourly = 3_600_000;
      const scheduler = schedulePeriodic({ queue, clock, logger }, [
        { name: 'platform.purge-idempotency-records', everyMs: hourly },
        { name: 'auth.purge-login-attempts', everyMs: hourly },
        { name: 'auth.purge-refresh-families', everyMs: hourly },
        { name: 'auth.purge-email-tokens', everyMs: hourly },
        { name: 'mfa.purge-webauthn-challenges', everyMs: hourly },
        { name: 'mfa.purge-login-challenges', everyMs: hourly },
        { name: 'mail.purge-finished', everyMs: hourly },
        ...(mailTransport ? [{ name: 'mail.deliver-outbox' as const, everyMs: 10_000 }] : []),
        ...audit.schedules,
        ...retention.schedules,
        ...scanSchedules(policy.current().scans.reconcileEveryMs),
        ...findingSchedules(),
        ...inactiveAccountsSchedules(),
      ]);
      closers.push(() => scheduler.stop());
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
      passwordHasher: identity.passwordHasher,
      policy,
      policyWatcher,
      metrics,
      health,
      scorers,
      converters,
      targets,
      taxonomies,
      datasets,
      scans: scansModule(),
      findings: findingsModule(),
      retention,
      keyRotation,
      // Encrypted backups (issue 9 §3): the archive key derives from the encryption keyring.
      backup: createBackupModule({ database, keyring: keys.ENCRYPTION_KEYRING, clock, audit: audit.recorder }),
      runWrite: createWriteRunner({
        db,
        cipher,
        clock,
        retentionHours: () => policy.current().retention.idempotencyRecordsHours,
        afterWork: audit.http.recordWrite,
      }),
      audit,
      authenticators: [createMetricsTokenAuthenticator(config.metricsToken), ...identity.authenticators, ...(overrides.authenticators ?? [])],
      services,
      repos: identity.repos,
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
