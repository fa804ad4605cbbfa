import { mkdirSync, readFileSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { formatKeyring, generateKeyring, parseKeyring, type Keyring } from '../platform/crypto/keyring.js';
import { ConfigError, type Config } from './config.js';
import { KEY_NAMES, type KeyName } from './config.schema.js';

/** Every key kind the service uses, each a versioned keyring. */
export type Keys = Record<KeyName, Keyring>;

const fileNameOf = (name: KeyName) => name.toLowerCase().replaceAll('_', '-');

/**
 * The file a keyring lives in when the service generated it (embedded mode, no variable or file
 * configured); undefined when it comes from configuration, which the service never rewrites.
 */
export function generatedKeyFile(config: Pick<Config, 'dataDir' | 'keySources'>, name: KeyName): string | undefined {
  const source = config.keySources[name];
  return source.value || source.file ? undefined : path.join(config.dataDir, 'keys', fileNameOf(name));
}

/**
 * Loads each keyring from its variable or file. In embedded mode a missing key is generated once
 * into DATA_DIR/keys (mode 0600) and reused on later starts; loadConfig already refused missing keys
 * in server mode and production.
 */
export function resolveKeys(config: Pick<Config, 'mode' | 'nodeEnv' | 'dataDir' | 'keySources'>): Keys {
  const problems: string[] = [];
  const keys: Partial<Keys> = {};
  for (const name of KEY_NAMES) {
    const source = config.keySources[name];
    try {
      if (source.value) keys[name] = parseKeyring(source.value);
      else if (source.file) keys[name] = parseKeyring(readFileSync(source.file, 'utf8'));
      else keys[name] = loadOrGenerate(generatedKeyFile(config, name)!);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
      problems.push(`${source.file ? `${name}_FILE` : name}: ${reason}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return keys as Keys;
}

function loadOrGenerate(file: string): Keyring {
  if (existsSync(file)) return parseKeyring(readFileSync(file, 'utf8'));
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const keyring = generateKeyring();
  // 'wx' so two processes racing on first start never overwrite each other's key.
  writeFileSync(file, `${formatKeyring(keyring)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return keyring;
}
