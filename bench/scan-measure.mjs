/* global setTimeout, URL -- Node globals (the lint config declares none for .mjs files) */
/* eslint-disable security/detect-non-literal-fs-filename -- /proc paths of our own child processes and profiles under bench/results */
// What bench/scan.mjs measures beside throughput: the exactly-once check (attempts vs plan cells, read
// straight from the database), CPU time of the processes, and, with BENCH_PROFILE=1, where a scan's time
// goes, measured from outside the service so nothing in src/ changes:
// - the worker's PostgreSQL connections (found by their local ports in /proc) sampled in pg_stat_activity
//   every 50 ms: how many are running which statement, idle in a transaction (the worker's own turn while
//   a transaction is open) or idle, on average over the steady-state window;
// - Redis INFO commandstats before and after the window (server-wide: other clients count too);
// - a V8 CPU profile (node --cpu-prof) summarised by function and by area (app module, package, runtime).
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';

// CPU time of our processes and of the whole machine (clock ticks), to say where the time went.
export const TICKS = 100;
export function cpuTicks(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}
export function machineTicks() {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return { busy: values[0] + values[1] + values[2] + values[5] + values[6] + values[7], total: values.reduce((a, b) => a + b, 0) };
}

/** Exactly once: one attempt per plan cell, none missing (count(*), count(distinct cell_index), bounds). */
const ATTEMPT_COUNTS = `select s.cells_total, s.status, count(a.id)::int as attempts, count(distinct a.cell_index)::int as distinct_cells,
  min(a.cell_index) as min_cell, max(a.cell_index) as max_cell from scans s left join attempts a on a.scan_id = s.id where s.id = $1 group by s.id`;
function exactness(row) {
  const ok = row.attempts === row.cells_total && row.distinct_cells === row.cells_total && row.min_cell === 0 && row.max_cell === row.cells_total - 1;
  return { cellsTotal: row.cells_total, attempts: row.attempts, distinctCells: row.distinct_cells, duplicates: row.attempts - row.distinct_cells, missing: row.cells_total - row.distinct_cells, ok };
}
export async function countAttemptsPg(databaseUrl, scanId) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return exactness((await client.query(ATTEMPT_COUNTS, [scanId])).rows[0]);
  } finally {
    await client.end();
  }
}
export async function countAttemptsPglite(dataDir, scanId) {
  const { PGlite } = await import('@electric-sql/pglite');
  const pglite = new PGlite(path.join(dataDir, 'pg'));
  try {
    return exactness((await pglite.query(ATTEMPT_COUNTS, [scanId])).rows[0]);
  } finally {
    await pglite.close();
  }
}

/** Local ports of `pid`'s TCP connections to `remotePort` (its pool's sockets, as the server sees them). */
export function socketPorts(pid, remotePort) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  const ports = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || !inodes.has(cols[9])) continue;
      if (parseInt(cols[2].split(':').at(-1), 16) === remotePort) ports.push(parseInt(cols[1].split(':').at(-1), 16));
    }
  }
  return ports;
}

// Statement text → a short label: the verb and the table.
function label(query) {
  const text = query.replace(/\s+/g, ' ').trim();
  const verb = /^(select|insert|update|delete|begin|commit|rollback)\b/i.exec(text)?.[1].toLowerCase();
  if (!verb) return text.slice(0, 40);
  if (['begin', 'commit', 'rollback'].includes(verb)) return verb;
  const table = /^(insert into|update)\s+("?[a-z_]+"?)/i.exec(text)?.[2] ?? /\bfrom\s+("?[a-z_]+"?)/i.exec(text)?.[1] ?? '?';
  return `${verb} ${table.replaceAll('"', '')}${/for update/i.test(text) ? ' for update' : ''}`;
}

/** Samples the worker's PostgreSQL sessions until `stop()`; `summary(fromMs, toMs)` averages a window. */
export async function startPgSampler(databaseUrl, pid, everyMs = 50) {
  const { default: pg } = await import('pg');
  const url = new URL(databaseUrl);
  url.searchParams.delete('options');
  const client = new pg.Client({ connectionString: url.href, connectionTimeoutMillis: 5000 });
  await client.connect();
  const samples = [];
  let ports = [];
  let portsAt = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const now = Date.now();
      try {
        if (now - portsAt > 1000) {
          ports = socketPorts(pid, Number(url.port || 5432));
          portsAt = now;
        }
        const { rows } = await client.query('select state, wait_event_type, wait_event, query from pg_stat_activity where client_port = any($1::int[])', [ports]);
        samples.push({ t: now, rows: rows.map((row) => ({ state: row.state, wait: row.wait_event ? `${row.wait_event_type}:${row.wait_event}` : null, query: label(row.query ?? '') })) });
      } catch {
        // The worker exited (the scan loop reports that) or the sampler's own connection failed: stop sampling.
        stopped = true;
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await client.end().catch(() => undefined);
    },
    summary(fromMs, toMs) {
      const inWindow = samples.filter((sample) => sample.t >= fromMs && sample.t <= toMs);
      const counts = new Map();
      for (const sample of inWindow) {
        for (const row of sample.rows) {
          const key = row.state === 'active' ? `active: ${row.query}${row.wait ? ` (${row.wait})` : ''}` : `${row.state} (after ${row.query})`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }
      const connections = inWindow.length ? inWindow.reduce((sum, sample) => sum + sample.rows.length, 0) / inWindow.length : 0;
      const states = [...counts].map(([key, count]) => ({ key, avgConnections: Math.round((count / Math.max(1, inWindow.length)) * 100) / 100 })).sort((a, b) => b.avgConnections - a.avgConnections);
      return { samples: inWindow.length, avgConnections: Math.round(connections * 100) / 100, states: states.slice(0, 15) };
    },
  };
}

/** A connection reading Redis INFO commandstats as { command: { calls, usec } }. */
export async function openRedisStats(redisUrl) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  return {
    async read() {
      const stats = {};
      for (const line of (await redis.info('commandstats')).split('\n')) {
        const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
        if (match) stats[match[1]] = { calls: Number(match[2]), usec: Number(match[3]) };
      }
      return stats;
    },
    close: () => redis.disconnect(),
  };
}

export function commandStatsDelta(before, after, attempts) {
  return Object.entries(after)
    .map(([command, { calls, usec }]) => ({ command, calls: calls - (before[command]?.calls ?? 0), usec: usec - (before[command]?.usec ?? 0) }))
    .filter((entry) => entry.calls > 0)
    .sort((a, b) => b.calls - a.calls)
    .slice(0, 12)
    .map((entry) => ({ ...entry, perAttempt: Math.round((entry.calls / attempts) * 100) / 100, usecPerCall: Math.round((entry.usec / entry.calls) * 10) / 10 }));
}

// A profile node's area: our compiled module (dist/modules/scans/…), a package, Node's runtime, or V8's own.
function areaOf(url, name) {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const inPackage = url.split('/node_modules/').at(-1);
  if (inPackage !== url) return inPackage.split('/').slice(0, inPackage.startsWith('@') ? 2 : 1).join('/');
  const dist = /\/dist\/(.+?)\/[^/]+\.js$/.exec(url)?.[1];
  if (dist) return `dist/${dist}`;
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  return path.basename(url);
}

/** Self time by function and by area of every .cpuprofile in `dir` (idle time left out). */
export function summariseCpuProfiles(dir) {
  const byFunction = new Map();
  const byArea = new Map();
  let totalMs = 0;
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    profile.samples.forEach((id, index) => {
      const node = nodes.get(id);
      const { functionName, url, lineNumber } = node.callFrame;
      const name = functionName || '(anonymous)';
      if (name === '(idle)') return;
      const ms = (profile.timeDeltas[index] ?? 0) / 1000;
      totalMs += ms;
      const key = `${name} ${url ? `${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}` : ''}`.trim();
      byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
      const area = areaOf(url, name);
      byArea.set(area, (byArea.get(area) ?? 0) + ms);
    });
  }
  const top = (map, count) => [...map].sort((a, b) => b[1] - a[1]).slice(0, count).map(([key, ms]) => ({ key, ms: Math.round(ms), pct: Math.round((ms / totalMs) * 1000) / 10 }));
  return { totalCpuMs: Math.round(totalMs), byArea: top(byArea, 15), byFunction: top(byFunction, 20) };
}
