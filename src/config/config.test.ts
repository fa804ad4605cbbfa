import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatKeyring, generateKeyring } from '../platform/crypto/keyring.js';
import { ConfigError, loadConfig } from './config.js';
import { KEY_NAMES } from './config.schema.js';

/** The problems loadConfig reports for an environment (fails the test when it accepts it). */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

const variablesOf = (problems: string[]) => problems.map((line) => line.slice(0, line.indexOf(':')));

const keysEnv = () => Object.fromEntries(KEY_NAMES.map((name) => [name, formatKeyring(generateKeyring())]));
const SERVER = { DATABASE_URL: 'postgres://app@db.internal:5432/vutf', REDIS_URL: 'redis://cache.internal:6379' };

describe('one line per bad variable', () => {
  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['PORT', '80.5'],
    ['PORT', '1e3'],
    ['PUBLIC_URL', 'ftp://example.test'],
    ['PUBLIC_URL', 'https://example.test/app'],
    ['DATABASE_POOL_MAX', '0'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '50'],
    ['NODE_ENV', 'prod'],
    ['LOG_LEVEL', 'loud'],
    ['ALLOW_EMBEDDED_IN_PRODUCTION', 'yes please'],
    ['DOCS_ENABLED', 'maybe'],
    ['METRICS_TOKEN', 'too-short'],
    ['SMTP_URL', 'http://mail.example.test'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'grpc://collector'],
    ['BOOTSTRAP_ADMIN_EMAIL', 'not-an-email'],
  ])('%s=%s is refused with a line naming it', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(variablesOf(problems)).toEqual([name]);
    expect(problems[0]).toMatch(/^[A-Z_]+: \S/);
  });

  it('reports every bad variable at once, each on its own line, and names no good one', () => {
    const bad = {
      PORT: 'eighty',
      PUBLIC_URL: 'ftp://example.test',
      DATABASE_POOL_MAX: 'many',
      DATABASE_STATEMENT_TIMEOUT_MS: 'soon',
      NODE_ENV: 'prod',
      LOG_LEVEL: 'loud',
      ALLOW_EMBEDDED_IN_PRODUCTION: 'perhaps',
      DOCS_ENABLED: 'maybe',
      METRICS_TOKEN: 'too-short',
      SMTP_URL: 'http://mail.example.test',
    };
    const problems = problemsOf({ ...bad, HOST: '0.0.0.0', DATA_DIR: '/var/lib/vutf' });
    expect(variablesOf(problems).sort()).toEqual(Object.keys(bad).sort());
    // The message carries the same lines, so an operator sees them all at start-up.
    for (const line of problems) expect(() => loadConfig(bad)).toThrow(line);
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ PORT: '', HOST: '', DATABASE_URL: '', REDIS_URL: '' });
    expect(config.port).toBe(8000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.mode).toBe('embedded');
  });
});

describe('defaults', () => {
  it('follows DESIGN §7 when nothing is set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      mode: 'embedded',
      port: 8000,
      host: '127.0.0.1',
      publicUrl: 'http://127.0.0.1:8000',
      trustProxy: false,
      dataDir: path.resolve('./data'),
      databaseUrl: undefined,
      redisUrl: undefined,
      redisPrefix: 'vutf',
      databasePoolMax: 10,
      databaseStatementTimeoutMs: 10_000,
      nodeEnv: 'development',
      logLevel: 'info',
      bootstrapAdmin: undefined,
      corsOrigins: [],
      docsEnabled: true,
      policyFile: undefined,
    });
    for (const name of KEY_NAMES) expect(config.keySources[name]).toEqual({ value: undefined, file: undefined });
  });

  it('derives PUBLIC_URL from HOST and PORT (IPv6 in brackets) and keeps an explicit one', () => {
    expect(loadConfig({ HOST: '0.0.0.0', PORT: '9090' }).publicUrl).toBe('http://0.0.0.0:9090');
    expect(loadConfig({ HOST: '::1', PORT: '9090' }).publicUrl).toBe('http://[::1]:9090');
    expect(loadConfig({ PUBLIC_URL: 'https://redteam.example.test' }).publicUrl).toBe('https://redteam.example.test');
  });

  it('converts numbers and resolves paths', () => {
    const config = loadConfig({ PORT: '0', DATA_DIR: 'rel/data', POLICY_FILE: 'policy.yaml', DATABASE_POOL_MAX: '25' });
    expect(config.port).toBe(0);
    expect(config.databasePoolMax).toBe(25);
    expect(config.dataDir).toBe(path.resolve('rel/data'));
    expect(config.policyFile).toBe(path.resolve('policy.yaml'));
  });

  it('reads comma-separated lists, trimming blanks', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.test, https://b.test,,' }).corsOrigins).toEqual(['https://a.test', 'https://b.test']);
  });

  it('turns docs off in production unless DOCS_ENABLED says otherwise', () => {
    const production = { ...SERVER, ...keysEnv(), NODE_ENV: 'production', PUBLIC_URL: 'https://redteam.example.test' };
    expect(loadConfig(production).docsEnabled).toBe(false);
    expect(loadConfig({ ...production, DOCS_ENABLED: 'true' }).docsEnabled).toBe(true);
    expect(loadConfig({ DOCS_ENABLED: 'false' }).docsEnabled).toBe(false);
    expect(loadConfig({ NODE_ENV: 'test' }).docsEnabled).toBe(true);
  });
});

describe('TRUST_PROXY', () => {
  it('is off by default, true for "true", a trimmed list otherwise', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.1' }).trustProxy).toEqual(['10.0.0.1']);
    expect(loadConfig({ TRUST_PROXY: ' 10.0.0.1, 192.168.0.0/16 ,' }).trustProxy).toEqual(['10.0.0.1', '192.168.0.0/16']);
  });
});

describe('run modes', () => {
  it('namespaces Redis keys by REDIS_PREFIX and refuses a prefix that could collide with key separators', () => {
    expect(loadConfig({ REDIS_PREFIX: 'staging-2' }).redisPrefix).toBe('staging-2');
    expect(problemsOf({ REDIS_PREFIX: 'a:b' })).toEqual([expect.stringMatching(/^REDIS_PREFIX: /)]);
  });

  it('is embedded with neither DATABASE_URL nor REDIS_URL', () => {
    expect(loadConfig({}).mode).toBe('embedded');
  });

  it('is server with both (and the keys supplied)', () => {
    const config = loadConfig({ ...SERVER, ...keysEnv() });
    expect(config.mode).toBe('server');
    expect(config.databaseUrl).toBe(SERVER.DATABASE_URL);
    expect(config.redisUrl).toBe(SERVER.REDIS_URL);
  });

  it('refuses DATABASE_URL alone, naming the missing REDIS_URL', () => {
    const problems = problemsOf({ DATABASE_URL: SERVER.DATABASE_URL, ...keysEnv() });
    expect(problems).toEqual([expect.stringMatching(/^REDIS_URL: server mode needs both/)]);
  });

  it('refuses REDIS_URL alone, naming the missing DATABASE_URL', () => {
    const problems = problemsOf({ REDIS_URL: SERVER.REDIS_URL });
    expect(problems).toEqual([expect.stringMatching(/^DATABASE_URL: server mode needs both/)]);
  });

  it('refuses malformed URLs', () => {
    expect(variablesOf(problemsOf({ DATABASE_URL: 'mysql://db', REDIS_URL: 'memcached://cache' }))).toEqual(['DATABASE_URL', 'REDIS_URL']);
  });

  it('requires every key in server mode, one line each', () => {
    const problems = problemsOf(SERVER);
    expect(variablesOf(problems)).toEqual([...KEY_NAMES]);
    for (const line of problems) expect(line).toContain('required in server mode');
  });

  it('accepts a key from a *_FILE in server mode', () => {
    const keys = keysEnv();
    const config = loadConfig({ ...SERVER, ...keys, JWT_SIGNING_KEYS: '', JWT_SIGNING_KEYS_FILE: '/run/secrets/jwt' });
    expect(config.keySources.JWT_SIGNING_KEYS).toEqual({ value: undefined, file: '/run/secrets/jwt' });
    expect(config.keySources.ENCRYPTION_KEYRING).toEqual({ value: keys.ENCRYPTION_KEYRING, file: undefined });
  });

  it('refuses a key set both directly and as a file', () => {
    const problems = problemsOf({ ENCRYPTION_KEYRING: formatKeyring(generateKeyring()), ENCRYPTION_KEYRING_FILE: '/run/secrets/enc' });
    expect(problems).toEqual([expect.stringMatching(/^ENCRYPTION_KEYRING_FILE: set either ENCRYPTION_KEYRING or ENCRYPTION_KEYRING_FILE/)]);
  });
});

describe('production', () => {
  const production = { NODE_ENV: 'production', PUBLIC_URL: 'https://redteam.example.test' };

  it('starts with server mode, keys and PUBLIC_URL', () => {
    const config = loadConfig({ ...production, ...SERVER, ...keysEnv() });
    expect(config.nodeEnv).toBe('production');
    expect(config.mode).toBe('server');
  });

  it('refuses the embedded database unless ALLOW_EMBEDDED_IN_PRODUCTION', () => {
    expect(problemsOf({ ...production, ...keysEnv() })).toEqual([expect.stringMatching(/^DATABASE_URL: the embedded database is refused/)]);
    expect(problemsOf({ ...production, ...keysEnv(), ALLOW_EMBEDDED_IN_PRODUCTION: 'false' })).toHaveLength(1);
    expect(loadConfig({ ...production, ...keysEnv(), ALLOW_EMBEDDED_IN_PRODUCTION: 'true' }).mode).toBe('embedded');
  });

  it('refuses a missing PUBLIC_URL', () => {
    expect(problemsOf({ NODE_ENV: 'production', ...SERVER, ...keysEnv() })).toEqual([
      expect.stringMatching(/^PUBLIC_URL: required when NODE_ENV=production/),
    ]);
  });

  it('refuses generated keys even with the embedded database allowed', () => {
    const problems = problemsOf({ ...production, ALLOW_EMBEDDED_IN_PRODUCTION: 'true' });
    expect(variablesOf(problems)).toEqual([...KEY_NAMES]);
    for (const line of problems) expect(line).toContain('required in production');
  });

  it('lists every production refusal at once', () => {
    expect(variablesOf(problemsOf({ NODE_ENV: 'production' })).sort()).toEqual(['DATABASE_URL', 'PUBLIC_URL', ...KEY_NAMES].sort());
  });
});

describe('bootstrap admin', () => {
  it('takes email and password together', () => {
    expect(loadConfig({ BOOTSTRAP_ADMIN_EMAIL: 'root@example.test', BOOTSTRAP_ADMIN_PASSWORD: 'x'.repeat(20) }).bootstrapAdmin).toEqual({
      email: 'root@example.test',
      password: 'x'.repeat(20),
    });
  });

  it('refuses a password without an email', () => {
    expect(problemsOf({ BOOTSTRAP_ADMIN_PASSWORD: 'x'.repeat(20) })).toEqual([expect.stringMatching(/^BOOTSTRAP_ADMIN_EMAIL: required/)]);
  });

  it('allows an email alone in embedded mode (password generated) but not in server mode', () => {
    expect(loadConfig({ BOOTSTRAP_ADMIN_EMAIL: 'root@example.test' }).bootstrapAdmin).toEqual({ email: 'root@example.test', password: undefined });
    expect(problemsOf({ ...SERVER, ...keysEnv(), BOOTSTRAP_ADMIN_EMAIL: 'root@example.test' })).toEqual([
      expect.stringMatching(/^BOOTSTRAP_ADMIN_PASSWORD: required in server mode/),
    ]);
  });
});
