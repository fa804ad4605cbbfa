import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, root, signInFirstTime, startEmbedded, type Service } from '../setup/built-service.js';
import { emptyInstanceLike } from '../setup/backup-targets.js';
import { runBackup } from '../../src/ops/backup.command.js';
import { runRestore } from '../../src/ops/restore.command.js';
import type { CommandIo } from '../../src/ops/operator-command.js';

/**
 * `npm run backup` against the RUNNING built embedded service (`node dist/main.js`): the service holds
 * the data directory, so the command calls `POST /api/v1/admin/backups` with VIOLENTUTF_API_KEY (a real
 * API key of the super-admin) and saves the stream; the archive then restores into an empty DATA_DIR.
 * (Server mode never needs the API: its backup opens PostgreSQL, covered in backup.test.ts.)
 */

let service: Service | undefined;
let work: string;

const captured = () => {
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const io: CommandIo = { stdout: (line) => lines.stdout.push(line), stderr: (line) => lines.stderr.push(line) };
  return { io, lines };
};

beforeAll(async () => {
  // What `npm run backup` does first; incremental, so quick when dist/ is current.
  await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: root, timeout: 170_000 });
  service = await startEmbedded();
  work = mkdtempSync(path.join(tmpdir(), 'vutf-backup-service-'));
}, 240_000);

afterAll(async () => {
  await service?.stop();
  if (service) rmSync(service.dataDir, { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('[ASVS 14.2.4] npm run backup through the running embedded service', () => {
  it('downloads the archive with an API key, records it, and the archive restores into an empty DATA_DIR', async () => {
    const token = await signInFirstTime(service!);
    const created = await api<{ key: string }>(service!, 'POST', '/api-keys', token, { name: 'backup operator', scopes: ['platform:backups:manage'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const env = { DATA_DIR: service!.dataDir, VIOLENTUTF_URL: service!.base, VIOLENTUTF_API_KEY: created.body.key, LOG_LEVEL: 'silent' };

    // Without a key the command says what it needs instead of touching the locked data directory.
    const refused = captured();
    expect(await runBackup([path.join(work, 'refused.vutfbak')], { ...env, VIOLENTUTF_API_KEY: '' }, refused.io)).toBe(1);
    expect(refused.lines.stderr.join('\n')).toMatch(/holds the data directory; set VIOLENTUTF_API_KEY/);

    const file = path.join(work, 'through-service.vutfbak');
    const { io, lines } = captured();
    expect(await runBackup([file], env, io), lines.stderr.join('\n')).toBe(0);
    expect(lines.stdout.join('\n')).toMatch(/streamed by the running service/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file).subarray(0, 8).toString('latin1')).toBe('VUTFBAK\0');
    expect(readdirSync(work).filter((name) => name.includes('.partial'))).toEqual([]);

    const events = await api<{ items: Array<{ action: string; actor: { type: string }; detail: Record<string, number> }> }>(service!, 'GET', '/audit/events?action=backup.created', token);
    expect(events.status, JSON.stringify(events.body)).toBe(200);
    expect(events.body.items).toHaveLength(1);
    expect(events.body.items[0]).toMatchObject({ action: 'backup.created', actor: { type: 'api-key' } });
    expect(events.body.items[0]!.detail.tables).toBeGreaterThan(20);

    // The archive restores into an empty DATA_DIR given the running instance's keys.
    const target = await emptyInstanceLike({ DATA_DIR: service!.dataDir, LOG_LEVEL: 'silent', NODE_ENV: 'test' });
    const restored = captured();
    expect(await runRestore([file], target.env, restored.io), restored.lines.stderr.join('\n')).toBe(0);
    expect(restored.lines.stdout.join('\n')).toMatch(/counts and hashes match/);
    rmSync(target.env.DATA_DIR!, { recursive: true, force: true });
  }, 180_000);
});
