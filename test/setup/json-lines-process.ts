import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

/**
 * Starts `node --import tsx <script>` with exactly `env` (plus PATH). The script prints one JSON event
 * per line on stdout (`{ "event": "ready" }`, `{ "event": "failed", ... }`); `event(name)` resolves with
 * the named one and fails, never hangs, when the process reports `failed`, exits or runs out of time.
 */
export function startJsonLinesProcess(script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { ...env, PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Array<Record<string, unknown>> = [];
  let output = '';
  let pending = '';
  child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) events.push(JSON.parse(line) as Record<string, unknown>);
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const event = async (name: string, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events.find((candidate) => candidate.event === name);
      if (found) return found;
      const failed = events.find((candidate) => candidate.event === 'failed');
      if (failed || child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`${path.basename(script)} gave no '${name}': ${JSON.stringify(failed ?? events)} ${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, exited, event, events };
}
