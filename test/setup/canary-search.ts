import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

/**
 * Searching raw storage for canaries (issue 9 §2). A canary is a unique token; it counts as found in
 * plain text (any letter case), in hex (any case), in base64 or base64url at any of the three byte
 * alignments it can take inside a longer encoded blob, or URL-encoded (for the full values around it,
 * e.g. an email's `@` as `%40`). A value that is merely re-encoded is still plaintext to an attacker.
 */

/** A fresh canary token: lower-case letters and digits, unique per run (`label` says what it is). */
export const newCanary = (label: string) => `cnry${label}${randomBytes(9).toString('hex')}`;

/** Base64 characters that depend only on the canary's bytes, for a canary starting `shift` bytes into a blob. */
function base64Stable(value: string, shift: number): string {
  const bytes = Buffer.from(value, 'utf8');
  const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
  const first = Math.ceil((8 * shift) / 6);
  const last = Math.floor((8 * (shift + bytes.length)) / 6); // exclusive
  return encoded.slice(first, last);
}

export interface Needle {
  form: 'plain' | 'hex' | 'base64' | 'base64url' | 'url-encoded';
  text: string;
  /** Compared against a lower-cased haystack. */
  caseInsensitive: boolean;
}

/** Every form in which `canary` (and `fullValues` holding it, e.g. an email address) is searched. */
export function needlesOf(canary: string, fullValues: readonly string[] = []): Needle[] {
  const needles: Needle[] = [
    { form: 'plain', text: canary.toLowerCase(), caseInsensitive: true },
    { form: 'hex', text: Buffer.from(canary, 'utf8').toString('hex'), caseInsensitive: true },
  ];
  for (const shift of [0, 1, 2]) {
    const b64 = base64Stable(canary, shift);
    needles.push({ form: 'base64', text: b64, caseInsensitive: false });
    needles.push({ form: 'base64url', text: b64.replace(/\+/g, '-').replace(/\//g, '_'), caseInsensitive: false });
  }
  for (const value of fullValues) {
    for (const encoded of [encodeURIComponent(value), new URLSearchParams({ v: value }).toString().slice(2)]) {
      if (encoded !== value) needles.push({ form: 'url-encoded', text: encoded.toLowerCase(), caseInsensitive: true });
    }
  }
  return needles;
}

export interface Haystack {
  /** Where the bytes come from: a file path, `pg_dump`, a Redis key, a process log. */
  source: string;
  bytes: Buffer;
}

export interface Hit {
  canary: string;
  source: string;
  form: Needle['form'];
  count: number;
}

function count(haystack: string, needle: string): number {
  let found = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + 1)) found += 1;
  return found;
}

/** Every occurrence of every needle of every canary in every haystack (bytes read as latin1, so any byte sequence matches). */
export function searchAll(canaries: ReadonlyMap<string, Needle[]>, haystacks: readonly Haystack[]): Hit[] {
  const hits: Hit[] = [];
  for (const haystack of haystacks) {
    const exact = haystack.bytes.toString('latin1');
    const lower = exact.toLowerCase();
    for (const [canary, needles] of canaries) {
      for (const needle of needles) {
        const found = count(needle.caseInsensitive ? lower : exact, needle.text);
        if (found > 0) hits.push({ canary, source: haystack.source, form: needle.form, count: found });
      }
    }
  }
  return hits;
}

/** Every regular file under `dir`, recursively, except the directories named in `skip` (relative paths). */
export function readTree(dir: string, skip: readonly string[]): Haystack[] {
  const out: Haystack[] = [];
  const walk = (relative: string) => {
     
    for (const entry of readdirSync(path.join(dir, relative), { withFileTypes: true })) {
      const child = path.join(relative, entry.name);
      if (skip.includes(child)) continue;
      if (entry.isDirectory()) walk(child);
       
      else if (entry.isFile()) out.push({ source: `DATA_DIR/${child}`, bytes: readFileSync(path.join(dir, child)) });
    }
  };
  walk('');
  return out;
}

/** `pg_dump` of one schema (definitions and data, plain SQL format: bytea as hex, text as is). */
export async function pgDumpSchema(databaseUrl: string, schema: string): Promise<Haystack> {
  const { stdout } = await promisify(execFile)('pg_dump', ['--dbname', databaseUrl, '--schema', schema, '--no-owner', '--no-privileges'], {
    maxBuffer: 512 * 1024 * 1024,
    encoding: 'buffer',
    timeout: 120_000,
  });
  return { source: `pg_dump --schema ${schema}`, bytes: stdout };
}

/** Every key under `prefix` and its value, read by type (string, hash, list, set, zset, stream). */
export async function readRedisPrefix(redisUrl: string, prefix: string): Promise<{ haystacks: Haystack[]; keys: number; types: Record<string, number> }> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const haystacks: Haystack[] = [];
  const types: Record<string, number> = {};
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next.toString();
      for (const key of keys) {
        const type = await redis.type(key);
        types[type] = (types[type] ?? 0) + 1;
        let parts: Buffer[] = [];
        if (type === 'string') parts = [(await redis.getBuffer(key)) ?? Buffer.alloc(0)];
        else if (type === 'hash') parts = Object.entries(await redis.hgetallBuffer(key)).flatMap(([field, value]) => [Buffer.from(field), value]);
        else if (type === 'list') parts = await redis.lrangeBuffer(key, 0, -1);
        else if (type === 'set') parts = await redis.smembersBuffer(key);
        else if (type === 'zset') parts = await redis.zrangeBuffer(key, '0', '-1', 'WITHSCORES');
        else if (type === 'stream') {
          const entries = (await redis.xrangeBuffer(key, '-', '+')) as unknown as Array<[Buffer, Buffer[]]>;
          parts = entries.flatMap(([id, fields]) => [id, ...fields]);
        } else if (type !== 'none') throw new Error(`unexpected Redis type ${type} at ${key.toString()}`);
        haystacks.push({ source: `redis ${key.toString('latin1')} (${type})`, bytes: Buffer.concat([key, Buffer.from('\n'), ...parts.flatMap((part) => [part, Buffer.from('\n')])]) });
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return { haystacks, keys: haystacks.length, types };
}

/** Secrets and PII (none may be found) and controls (each must be found). */
export class Canaries {
  readonly secret = new Map<string, Needle[]>();
  readonly control = new Map<string, Needle[]>();
  add(label: string) {
    const canary = newCanary(label);
    this.secret.set(canary, needlesOf(canary));
    return canary;
  }
  /** A secret the service generated (TOTP seed, backup code, refresh token). */
  addGenerated(value: string) {
    this.secret.set(value, needlesOf(value));
  }
  addControl(label: string) {
    const canary = newCanary(label);
    this.control.set(canary, needlesOf(canary));
    return canary;
  }
}

/** Control keys of every Redis type, each holding the control canary base64'd: the reader must find all six. */
export async function writeRedisControls(redisUrl: string, prefix: string, canary: string) {
  const redis = new Redis(redisUrl);
  const value = Buffer.from(`xx${canary}`).toString('base64');
  const key = (type: string) => `${prefix}:canary-control:${type}`;
  await redis.set(key('string'), value);
  await redis.hset(key('hash'), 'field', value);
  await redis.rpush(key('list'), value);
  await redis.sadd(key('set'), value);
  await redis.zadd(key('zset'), 1, value);
  await redis.xadd(key('stream'), '*', 'field', value);
  redis.disconnect();
}

