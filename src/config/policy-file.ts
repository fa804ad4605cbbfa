import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import YAML from 'yaml';
import { parseCidrList } from '../platform/egress/index.js';
import { canonicalJson } from '../platform/canonical-json.js';
import { PolicySchema, type Policy } from './policy.schema.js';

/** One applied policy: its content and the hash that identifies it. */
export interface PolicySnapshot {
  policy: Policy;
  contentHash: string;
  source: string;
}

export class PolicyError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid policy:\n${problems.map((line) => `  - ${line}`).join('\n')}`);
    this.name = 'PolicyError';
  }
}

/** Validates a parsed policy document, fills defaults, and hashes the effective result. */
export function buildPolicy(document: unknown, source: string): PolicySnapshot {
  const input = document ?? {};
  const withDefaults = Value.Default(PolicySchema, structuredClone(input));
  const problems = problemsOf(PolicySchema, withDefaults, '');
  if (problems.length === 0) {
    // The egress client ignores a malformed network (it can never widen access), but an operator who
    // meant to allow one should hear about it when the file is applied, not when a target fails.
    const { invalid } = parseCidrList((withDefaults as Policy).egress.allowPrivateNetworks);
    problems.push(...invalid.map((entry) => `egress.allowPrivateNetworks: ${JSON.stringify(entry)} is not a CIDR network`));
  }
  if (problems.length > 0) throw new PolicyError(problems);
  const policy = withDefaults as Policy;
  const contentHash = createHash('sha256').update(canonicalJson(policy)).digest('hex');
  return { policy, contentHash, source };
}

/**
 * One line per bad setting, walking the objects ourselves: TypeBox stops collecting after 8
 * errors (a bad union alone yields one per branch), so checking the whole document at once
 * loses lines, and reports an unknown key twice.
 */
function problemsOf(schema: TSchema, value: unknown, at: string): string[] {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties;
  if (properties && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return [
      ...Object.keys(value).filter((key) => !Object.hasOwn(properties, key)).map((key) => `${at}${key}: unknown setting`),
      ...Object.entries(properties).flatMap(([key, property]) => problemsOf(property, (value as Record<string, unknown>)[key], `${at}${key}.`)),
    ];
  }
  const [first] = Value.Errors(schema, value);
  return first ? [`${at.replace(/\.$/, '') || '(policy)'}${first.instancePath.replaceAll('/', '.')}: ${first.message}`] : [];
}

export async function readPolicyFile(file: string): Promise<PolicySnapshot> {
  const text = await readFile(file, 'utf8');
  let document: unknown;
  try {
    // YAML is a superset of JSON, so one parser reads both formats.
    document = YAML.parse(text, { maxAliasCount: 50 });
  } catch (error) {
    throw new PolicyError([`${file}: not valid YAML or JSON (${(error as Error).message.split('\n')[0]})`]);
  }
  return buildPolicy(document, file);
}

export interface PolicyWatcher {
  /** Re-reads the file now (what SIGHUP does). */
  reload(): Promise<void>;
  stop(): void;
}

/**
 * Re-reads the policy file when it changes (polling, so editors that replace the file are seen)
 * or on SIGHUP; calls `onChange` with each valid new snapshot, `onInvalid` otherwise (the current
 * policy stays in force).
 */
export function watchPolicyFile(
  file: string,
  handlers: { onChange: (snapshot: PolicySnapshot) => Promise<void>; onInvalid: (error: unknown) => void },
  intervalMs = 1000,
): PolicyWatcher {
  let running = Promise.resolve();
  const reload = () => {
    running = running.then(async () => {
      try {
        await handlers.onChange(await readPolicyFile(file));
      } catch (error) {
        handlers.onInvalid(error);
      }
    });
    return running;
  };
  const onSignal = () => void reload();
  watchFile(file, { interval: intervalMs, persistent: false }, () => void reload());
  process.on('SIGHUP', onSignal);
  return {
    reload,
    stop() {
      unwatchFile(file);
      process.off('SIGHUP', onSignal);
    },
  };
}
