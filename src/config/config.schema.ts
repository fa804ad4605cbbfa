import { Type, type Static } from 'typebox';

/**
 * The whole configuration contract of DESIGN §7 as one schema. Every variable is read from the
 * environment as text and converted; `loadConfig` reports one line per bad variable.
 */
const Bool = (description: string, defaultValue?: boolean) =>
  Type.Optional(Type.Boolean({ description, ...(defaultValue === undefined ? {} : { default: defaultValue }) }));
const Text = (description: string, options: Record<string, unknown> = {}) =>
  Type.Optional(Type.String({ description, minLength: 1, ...options }));

export const EnvSchema = Type.Object(
  {
    PORT: Type.Integer({ description: 'Listen port.', minimum: 0, maximum: 65535, default: 8000 }),
    HOST: Type.String({ description: 'Listen address.', minLength: 1, default: '127.0.0.1' }),
    PUBLIC_URL: Text('External origin: JWT issuer, passkey relying party, CSRF origin check, links in mail.', {
      pattern: '^https?://[^/?#]+$',
    }),
    TRUST_PROXY: Text('Trust X-Forwarded-* from these proxies (comma-separated addresses/CIDRs, or "true").'),
    DATA_DIR: Type.String({ description: 'Embedded database, generated keys, lock file.', minLength: 1, default: './data' }),
    DATABASE_URL: Text('PostgreSQL URL; with REDIS_URL selects server mode.', { pattern: '^postgres(ql)?://' }),
    REDIS_URL: Text('Redis URL; with DATABASE_URL selects server mode.', { pattern: '^rediss?://' }),
    REDIS_PREFIX: Type.String({
      description: 'Key prefix in Redis (stores, queue, pub/sub): one per deployment sharing a Redis server.',
      default: 'vutf',
      pattern: '^[a-z][a-z0-9_-]{0,39}$',
    }),
    DATABASE_POOL_MAX: Type.Integer({ description: 'PostgreSQL pool size.', minimum: 1, maximum: 200, default: 10 }),
    DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({
      description: 'Per-statement time limit.',
      minimum: 100,
      maximum: 600_000,
      default: 10_000,
    }),
    NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
      description: 'development, test or production.',
      default: 'development',
    }),
    LOG_LEVEL: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
      { description: 'pino log level.', default: 'info' },
    ),
    ALLOW_EMBEDDED_IN_PRODUCTION: Bool('Allow the embedded database when NODE_ENV=production.', false),
    BOOTSTRAP_ADMIN_EMAIL: Text('First start creates this platform super-admin.', { maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+$' }),
    BOOTSTRAP_ADMIN_PASSWORD: Text('Password of the bootstrap admin.', { maxLength: 1024 }),
    JWT_SIGNING_KEYS: Text('JWT signing keyring ("version:base64", comma-separated).'),
    JWT_SIGNING_KEYS_FILE: Text('File holding JWT_SIGNING_KEYS.'),
    ENCRYPTION_KEYRING: Text('Field-encryption keyring ("version:base64", comma-separated).'),
    ENCRYPTION_KEYRING_FILE: Text('File holding ENCRYPTION_KEYRING.'),
    BLIND_INDEX_KEY: Text('Blind-index keyring ("version:base64", comma-separated).'),
    BLIND_INDEX_KEY_FILE: Text('File holding BLIND_INDEX_KEY.'),
    AUDIT_SIGNING_KEY: Text('Audit checkpoint signing keyring ("version:base64", comma-separated).'),
    AUDIT_SIGNING_KEY_FILE: Text('File holding AUDIT_SIGNING_KEY.'),
    CORS_ORIGINS: Text('Comma-separated allowed origins (exact match).'),
    METRICS_TOKEN: Text('Bearer token for /metrics and /health/details.', { minLength: 32 }),
    DOCS_ENABLED: Bool('Serve /docs (default on, off in production).'),
    SMTP_URL: Text('Outgoing mail server; unset keeps mail in the outbox table.', { pattern: '^smtps?://' }),
    MAIL_FROM: Text('Sender address of outgoing mail.'),
    AUDIT_ALERT_WEBHOOK_URL: Text('Audit alerts are POSTed here, signed (HMAC-SHA-256); unset: alerts are only stored.', {
      pattern: '^https?://',
      maxLength: 2048,
    }),
    AUDIT_ALERT_WEBHOOK_SECRET: Text('HMAC key of the alert webhook signature (at least 32 bytes).'),
    AUDIT_ALERT_WEBHOOK_SECRET_FILE: Text('File holding AUDIT_ALERT_WEBHOOK_SECRET.'),
    POLICY_FILE: Text('Tunable policy file (YAML or JSON), reloaded on change or SIGHUP.'),
    OTEL_EXPORTER_OTLP_ENDPOINT: Text('OpenTelemetry collector endpoint.', { pattern: '^https?://' }),
  },
  { additionalProperties: true },
);

export type Env = Static<typeof EnvSchema>;

export const KEY_NAMES = ['JWT_SIGNING_KEYS', 'ENCRYPTION_KEYRING', 'BLIND_INDEX_KEY', 'AUDIT_SIGNING_KEY'] as const;
export type KeyName = (typeof KEY_NAMES)[number];
