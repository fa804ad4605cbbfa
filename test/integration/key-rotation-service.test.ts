import { execFile } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeysRotate } from '../../src/ops/keys-rotate.command.js';
import type { CommandIo } from '../../src/ops/operator-command.js';
import { api, root, signInFirstTime, startEmbedded, type Service } from '../setup/built-service.js';
import { serverUrls } from '../setup/environment.js';

/**
 * `npm run keys:rotate` against the RUNNING built embedded service (`node dist/main.js`): the service
 * holds the data directory, so the command asks it to run the sweep (`POST /admin/keys/rotations`) with
 * VIOLENTUTF_API_KEY (here the super-admin's access token) and polls the run until it ends. (Server mode never needs the API: the command
 * opens PostgreSQL itself, covered in key-rotation.test.ts.)
 */

const embedded = !serverUrls();
let service: Service | undefined;

const captured = () => {
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const io: CommandIo = { stdout: (line) => lines.stdout.push(line), stderr: (line) => lines.stderr.push(line) };
  return { io, lines };
};

beforeAll(async () => {
  if (!embedded) return;
  // What `npm run keys:rotate` does first; incremental, so quick when dist/ is current.
  await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: root, timeout: 170_000 });
  service = await startEmbedded();
}, 240_000);

afterAll(async () => {
  await service?.stop();
  if (service) rmSync(service.dataDir, { recursive: true, force: true });
});

describe.skipIf(!embedded)('[ASVS 13.3.4] npm run keys:rotate through the running embedded service', () => {
  it('adds versions through the API (key file rewritten, 0600), and the command runs the sweep inside the service', async () => {
    const token = await signInFirstTime(service!);
    // service-client.ts sends VIOLENTUTF_API_KEY as a Bearer credential: the super-admin's access token.
    const created = { body: { key: token } };
    const keyFile = path.join(service!.dataDir, 'keys', 'encryption-keyring');
    expect(readFileSync(keyFile, 'utf8').trim().split(',')).toHaveLength(1);

    const added = await api<{ version: number }>(service!, 'POST', '/admin/keys/ENCRYPTION_KEYRING/versions', created.body.key);
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.body.version).toBe(2);
    expect(readFileSync(keyFile, 'utf8').trim().split(',').map((entry) => entry.split(':')[0])).toEqual(['1', '2']);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    const env = { DATA_DIR: service!.dataDir, VIOLENTUTF_URL: service!.base, VIOLENTUTF_API_KEY: created.body.key, LOG_LEVEL: 'silent' };
    const { io, lines } = captured();
    const code = await runKeysRotate([], env, io);
    expect(code, [...lines.stdout, ...lines.stderr].join('\n')).toBe(0);
    expect(lines.stdout[0]).toMatch(/the service holds the data directory; run [0-9a-f-]{36} started inside it/);
    expect(lines.stdout.some((line) => /ENCRYPTION_KEYRING users\.email: examined [1-9]\d*, rotated [1-9]/.test(line))).toBe(true);
    expect(lines.stdout.at(-1)).toMatch(/done: encryption version 2, .*failures 0$/);

    const status = await api<{ kinds: Array<{ kind: string; versions: Array<{ version: number; usage: Array<{ table: string }> }> }> }>(service!, 'GET', '/admin/keys', created.body.key);
    expect(status.status).toBe(200);
    const v1 = status.body.kinds.find((k) => k.kind === 'ENCRYPTION_KEYRING')!.versions.find((v) => v.version === 1)!;
    // Only the audit events (pinned: hashed into the chain) may still use version 1.
    expect(v1.usage.filter((u) => u.table !== 'audit_events')).toEqual([]);
  });
});
