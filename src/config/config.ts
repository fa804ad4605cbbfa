import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { EnvSchema, KEY_NAMES, type Env, type KeyName } from './config.schema.js';

export type RunMode = 'embedded' | 'server';

/** Where one key's material comes from; `generated` only happens in embedded mode. */
export interface KeySource {
  value?: string;
  file?: string;
}

/** The validated, typed configuration every part of the service reads. */
export interface Config {
  mode: RunMode;
  port: number;
  host: string;
  /** External origin without trailing slash. */
  publicUrl: string;
  trustProxy: boolean | string[];
  /** Absolute path. */
  dataDir: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  /** Namespace of every Redis key, so deployments (and test runs) can share one Redis server. */
  redisPrefix: string;
  databasePoolMax: number;
  databaseStatementTimeoutMs: number;
  nodeEnv: 'development' | 'production' | 'test';
  logLevel: string;
  bootstrapAdmin: { email: string; password: string | undefined } | undefined;
  keySources: Record<KeyName, KeySource>;
  corsOrigins: string[];
  metricsToken: string | undefined;
  docsEnabled: boolean;
  smtpUrl: string | undefined;
  mailFrom: string | undefined;
  policyFile: string | undefined;
  otelEndpoint: string | undefined;
  /** Where audit alerts are delivered and the key that signs them; unset: alerts are only stored. */
  auditAlertWebhook: AuditAlertWebhookConfig | undefined;
}

export interface AuditAlertWebhookConfig {
  url: string;
  /** HMAC-SHA-256 key (≥ 32 bytes), shared with the receiver. */
  secret: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((line) => `  - ${line}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

/**
 * Parses and validates the environment. Throws ConfigError with one line per bad variable,
 * including the cross-variable rules (mode combinations, production refusals).
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const converted = Value.Convert(EnvSchema, Value.Default(EnvSchema, { ...raw })) as Record<string, unknown>;
  const problems = Object.entries(EnvSchema.properties).flatMap(([name, schema]) => {
    // Value.Convert truncates "80.5" to 80: an integer variable must be written as one.
    if ((schema as { type?: unknown }).type === 'integer' && name in raw && !/^\d+$/.test(String(raw[name]))) {
      return [`${name}: must be integer`];
    }
    // One variable at a time: TypeBox stops collecting after 8 errors (a bad union alone yields
    // one per branch), so checking the whole object at once loses lines; keep the first per variable.
    const [first] = Value.Errors(Type.Object({ [name]: schema }), { [name]: converted[name] });
    return first ? [`${name}: ${first.message}`] : [];
  });
  if (problems.length > 0) throw new ConfigError(problems);
  const env = converted as Env;
  const crossProblems = crossVariableProblems(env);
  if (crossProblems.length > 0) throw new ConfigError(crossProblems);

  const auditAlertWebhook = auditAlertWebhookOf(env);

  const mode: RunMode = env.DATABASE_URL ? 'server' : 'embedded';
  const nodeEnv = env.NODE_ENV;
  const keySources = Object.fromEntries(
    KEY_NAMES.map((name) => [name, { value: env[name], file: env[`${name}_FILE`] }]),
  ) as Record<KeyName, KeySource>;
  return {
    mode,
    port: env.PORT,
    host: env.HOST,
    publicUrl: env.PUBLIC_URL ?? `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${env.PORT}`,
    trustProxy: env.TRUST_PROXY === 'true' ? true : env.TRUST_PROXY ? list(env.TRUST_PROXY) : false,
    dataDir: path.resolve(env.DATA_DIR),
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    redisPrefix: env.REDIS_PREFIX,
    databasePoolMax: env.DATABASE_POOL_MAX,
    databaseStatementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    nodeEnv,
    logLevel: env.LOG_LEVEL,
    bootstrapAdmin: env.BOOTSTRAP_ADMIN_EMAIL
      ? { email: env.BOOTSTRAP_ADMIN_EMAIL, password: env.BOOTSTRAP_ADMIN_PASSWORD }
      : undefined,
    keySources,
    corsOrigins: list(env.CORS_ORIGINS),
    metricsToken: env.METRICS_TOKEN,
    docsEnabled: env.DOCS_ENABLED ?? nodeEnv !== 'production',
    smtpUrl: env.SMTP_URL,
    mailFrom: env.MAIL_FROM,
    policyFile: env.POLICY_FILE ? path.resolve(env.POLICY_FILE) : undefined,
    otelEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
    auditAlertWebhook,
  };
}

const MIN_WEBHOOK_SECRET_BYTES = 32;

/** The alert webhook: URL and secret both or neither; the secret from its variable or file, long enough. */
function auditAlertWebhookOf(env: Env): AuditAlertWebhookConfig | undefined {
  const url = env.AUDIT_ALERT_WEBHOOK_URL;
  let secret = env.AUDIT_ALERT_WEBHOOK_SECRET;
  if (env.AUDIT_ALERT_WEBHOOK_SECRET_FILE) {
    try {
      secret = readFileSync(env.AUDIT_ALERT_WEBHOOK_SECRET_FILE, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'file not readable';
      throw new ConfigError([`AUDIT_ALERT_WEBHOOK_SECRET_FILE: ${reason}`]);
    }
  }
  if (!url && !secret) return undefined;
  if (!url) throw new ConfigError(['AUDIT_ALERT_WEBHOOK_URL: required when the webhook secret is set']);
  if (!secret) throw new ConfigError(['AUDIT_ALERT_WEBHOOK_SECRET: required when AUDIT_ALERT_WEBHOOK_URL is set (or AUDIT_ALERT_WEBHOOK_SECRET_FILE)']);
  const source = env.AUDIT_ALERT_WEBHOOK_SECRET_FILE ? 'AUDIT_ALERT_WEBHOOK_SECRET_FILE' : 'AUDIT_ALERT_WEBHOOK_SECRET';
  if (Buffer.byteLength(secret, 'utf8') < MIN_WEBHOOK_SECRET_BYTES) throw new ConfigError([`${source}: must be at least ${MIN_WEBHOOK_SECRET_BYTES} bytes`]);
  // Alerts name accounts and actors by id: in production they travel encrypted.
  if (env.NODE_ENV === 'production' && !url.startsWith('https://')) throw new ConfigError(['AUDIT_ALERT_WEBHOOK_URL: must be https when NODE_ENV=production']);
  return { url, secret };
}

function crossVariableProblems(env: Env): string[] {
  const problems: string[] = [];
  if (Boolean(env.DATABASE_URL) !== Boolean(env.REDIS_URL)) {
    problems.push(
      `${env.DATABASE_URL ? 'REDIS_URL' : 'DATABASE_URL'}: server mode needs both DATABASE_URL and REDIS_URL; ` +
        'embedded mode needs neither',
    );
  }
  for (const name of KEY_NAMES) {
    if (env[name] && env[`${name}_FILE`]) problems.push(`${name}_FILE: set either ${name} or ${name}_FILE, not both`);
  }
  if (env.AUDIT_ALERT_WEBHOOK_SECRET && env.AUDIT_ALERT_WEBHOOK_SECRET_FILE) {
    problems.push('AUDIT_ALERT_WEBHOOK_SECRET_FILE: set either AUDIT_ALERT_WEBHOOK_SECRET or AUDIT_ALERT_WEBHOOK_SECRET_FILE, not both');
  }
  if (env.BOOTSTRAP_ADMIN_PASSWORD && !env.BOOTSTRAP_ADMIN_EMAIL) {
    problems.push('BOOTSTRAP_ADMIN_EMAIL: required when BOOTSTRAP_ADMIN_PASSWORD is set');
  }
  const server = Boolean(env.DATABASE_URL);
  if (server && env.BOOTSTRAP_ADMIN_EMAIL && !env.BOOTSTRAP_ADMIN_PASSWORD) {
    problems.push('BOOTSTRAP_ADMIN_PASSWORD: required in server mode with BOOTSTRAP_ADMIN_EMAIL (no password file is written)');
  }
  if (env.NODE_ENV === 'production') {
    if (!env.PUBLIC_URL) problems.push('PUBLIC_URL: required when NODE_ENV=production');
    if (!server && !env.ALLOW_EMBEDDED_IN_PRODUCTION) {
      problems.push(
        'DATABASE_URL: the embedded database is refused when NODE_ENV=production (set DATABASE_URL and REDIS_URL, ' +
          'or ALLOW_EMBEDDED_IN_PRODUCTION=true)',
      );
    }
  }
  // Keys are generated only for an embedded development store; everywhere else they must be supplied.
  if (server || env.NODE_ENV === 'production') {
    for (const name of KEY_NAMES) {
      if (!env[name] && !env[`${name}_FILE`]) {
        problems.push(`${name}: required in ${server ? 'server mode' : 'production'} (generated keys are refused)`);
      }
    }
  }
  return problems;
}
