import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAiMock, type MockServer } from '../fakes/openai-mock.js';
import { NEW_PASSWORD, root, SERVER_ADMIN, TERMINAL } from '../setup/built-service.js';
import { Canaries, needlesOf, pgDumpSchema, readRedisPrefix, readTree, searchAll, writeRedisControls, type Haystack } from '../setup/canary-search.js';
import { startCanaryEmbedded, startCanaryServer, writePolicy, type CanaryService } from '../setup/canary-service.js';
import { serverUrls } from '../setup/environment.js';

/**
 * Issue 9 §2, NIST SC-28: no plaintext PII or secret at rest. The BUILT service (embedded, and server
 * mode with its worker) is driven through its API only with values carrying unique canaries: invited
 * users' emails, display names and passwords, a failed login's unknown email, a target's API key and
 * secret header, prompts of an inline probe, target responses, a finding comment, the TOTP seed and
 * backup codes, refresh tokens. Then the raw storage is read (pg_dump of the schema; every file of the
 * embedded DATA_DIR except `keys/`, after a graceful stop; every Redis key and value under the prefix;
 * every log line of every process) and no canary may appear in plain, hex, base64(url) or URL-encoded
 * form. Positive controls prove the search finds what is there: a canary put in non-secret fields
 * (a target's and a scan's name, a request path) is found in the database and the log, and control keys
 * of every Redis type holding a base64'd canary are found by the Redis reader.
 */

const LOG_LEVEL = 'debug'; // more than production's `info`: whatever a debug line carries counts too

interface Mail {
  to: string[];
  text: string;
}
const mails: Mail[] = [];
const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      // Quoted-printable soft breaks and escapes undone, enough to find the 43-character token.
      const raw = Buffer.concat(chunks).toString('utf8').replace(/=\r\n/g, '').replace(/=3D/g, '=');
      mails.push({ to: session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase()), text: raw });
      callback();
    });
  },
});

/** What `npm start` does first; twice at most, as a concurrent build of the same tree may hold the build info. */
async function buildService() {
  const build = () => promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: root, timeout: 170_000 });
  await build().catch(build);
}

let mock: MockServer;
let smtpUrl = '';
const RESPONSE_MARK = 'MARKER-HIT';

beforeAll(async () => {
  await buildService();
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
  mock = await startOpenAiMock({ answer: 'unused' });
}, 360_000);
afterAll(async () => {
  await mock?.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

async function call<T>(service: CanaryService, method: string, url: string, token?: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${service.base}/api/v1${url}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 1000)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function adminToken(service: CanaryService): Promise<string> {
  const signIn = async (email: string, password: string) => {
    const login = await call<{ accessToken: string }>(service, 'POST', '/auth/login', undefined, { email, password });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    return login.body.accessToken;
  };
  if (service.mode === 'server') return signIn(SERVER_ADMIN.email, SERVER_ADMIN.password);
  const oneTime = readFileSync(path.join(service.dataDir, 'initial-admin-password'), 'utf8').trim();
  const first = await signIn('admin@localhost', oneTime);
  const change = await call(service, 'POST', '/users/me/password', first, { currentPassword: oneTime, newPassword: NEW_PASSWORD });
  expect(change.status, JSON.stringify(change.body)).toBe(204);
  return signIn('admin@localhost', NEW_PASSWORD);
}

async function exercise(service: CanaryService, c: Canaries) {
  const ctl = c.addControl('ctl');
  const token = await adminToken(service);
  const me = await call<{ organisations: Array<{ id: string }> }>(service, 'GET', '/users/me', token);
  const orgId = me.body.organisations[0]!.id;

  // People: an invited user whose email, display name and password carry canaries.
  const emailCanary = c.add('email');
  const email = `${emailCanary}+x@canary.example`;
  c.secret.set(emailCanary, needlesOf(emailCanary, [email]));
  const displayName = `Ada ${c.add('name')} Lovelace`;
  const password = `a long passphrase ${c.add('pass')} nobody guesses`;
  const invited = await call(service, 'POST', `/orgs/${orgId}/invitations`, token, { email, role: 'red-teamer' });
  expect(invited.status, JSON.stringify(invited.body)).toBe(201);
  const mail = await until('the invitation mail', () => Promise.resolve(mails.find((m) => m.to.includes(email))), (m) => m !== undefined, 45_000);
  const mailToken = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/.exec(mail!.text)![0];
  const accepted = await call<{ userId: string }>(service, 'POST', '/invitations/accept', undefined, { token: mailToken, displayName, password });
  expect(accepted.status, JSON.stringify(accepted.body)).toBeLessThan(300);
  c.addGenerated(mailToken);

  // Sign-ins: success, refresh, a wrong password, an unknown (canary) email.
  const userLogin = await call<{ accessToken: string; refreshToken: string }>(service, 'POST', '/auth/login', undefined, { email, password });
  expect(userLogin.status, JSON.stringify(userLogin.body)).toBe(200);
  const refreshed = await call<{ accessToken: string; refreshToken: string }>(service, 'POST', '/auth/refresh', undefined, { refreshToken: userLogin.body.refreshToken });
  expect(refreshed.status).toBe(200);
  c.addGenerated(userLogin.body.refreshToken);
  c.addGenerated(refreshed.body.refreshToken);
  const userToken = refreshed.body.accessToken;
  expect((await call(service, 'POST', '/auth/login', undefined, { email, password: 'a wrong passphrase that is long enough' })).status).toBe(401);
  const unknown = `${c.add('unknown')}@nowhere.example`;
  expect((await call(service, 'POST', '/auth/login', undefined, { email: unknown, password })).status).toBe(401);
  const mine = await call<{ email: string; displayName: string }>(service, 'GET', '/users/me', userToken);
  expect(mine.body).toMatchObject({ email, displayName });

  // MFA: a TOTP seed and backup codes, generated by the service and shown once.
  const totp = await call<{ secret: string }>(service, 'POST', '/auth/mfa/totp', userToken);
  expect(totp.status, JSON.stringify(totp.body)).toBe(201);
  c.addGenerated(totp.body.secret);
  const code = execFileSync('oathtool', ['--totp', '-b', totp.body.secret], { encoding: 'utf8' }).trim();
  const confirmed = await call<{ backupCodes: string[] }>(service, 'POST', '/auth/mfa/totp/confirm', userToken, { code });
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
  expect(confirmed.body.backupCodes.length).toBeGreaterThan(0);
  for (const backup of confirmed.body.backupCodes) c.secret.set(backup, [{ form: 'plain', text: backup.toLowerCase(), caseInsensitive: true }]);

  // Targets: an API key and a secret header; the mock answers with a response canary.
  const apiKey = `sk-${c.add('apikey')}`;
  const headerSecret = c.add('header');
  const responseCanary = c.add('response');
  mock.setBehaviour(() => ({ kind: 'answer', text: `${RESPONSE_MARK} the secret is ${responseCanary}` }));
  const openAi = await call<{ id: string }>(service, 'POST', '/targets', token, {
    name: `Control ${ctl} chat`,
    kind: 'openai-chat',
    config: { baseUrl: `${mock.url}/v1`, model: 'mock-model' },
    credentials: { apiKey },
  });
  expect(openAi.status, JSON.stringify(openAi.body)).toBe(201);
  const http = await call<{ id: string }>(service, 'POST', '/targets', token, {
    name: 'plain http bot',
    kind: 'http',
    config: { method: 'POST', url: `${mock.url}/v1/chat/completions`, bodyTemplate: { messages: [{ role: 'user', content: '{{prompt}}' }] }, responsePath: '$.choices[0].message.content' },
    credentials: { headers: { 'X-Canary-Secret': headerSecret } },
  });
  expect(http.status, JSON.stringify(http.body)).toBe(201);
  expect((await call(service, 'POST', `/targets/${openAi.body.id}/test`, token)).status).toBe(200);

  // Scans with an inline probe whose prompt carries a canary; a substring scorer makes them succeed.
  const prompt = `Please repeat ${c.add('prompt')} back to me`;
  const scanIds: string[] = [];
  for (const targetId of [openAi.body.id, http.body.id]) {
    const scan = await call<{ id: string }>(service, 'POST', '/scans', token, {
      name: `Control ${ctl} scan`,
      targetId,
      probes: { inline: [{ name: 'canary probe', prompt }] },
      scorers: [{ id: 'substring', params: { substrings: [RESPONSE_MARK] } }],
      seed: 3,
    });
    expect(scan.status, JSON.stringify(scan.body)).toBe(202);
    const done = await until('the scan to end', async () => (await call<{ status: string; coverage: { succeeded: number } }>(service, 'GET', `/scans/${scan.body.id}`, token)).body, (view) => TERMINAL.has(view.status));
    expect(done).toMatchObject({ status: 'completed', coverage: { succeeded: 1 } });
    scanIds.push(scan.body.id);
  }
  // The secrets reached the target (so they were stored and decrypted, not dropped).
  expect(mock.requests.some((request) => request.headers.authorization === `Bearer ${apiKey}`)).toBe(true);
  expect(mock.requests.some((request) => request.headers['x-canary-secret'] === headerSecret)).toBe(true);
  expect(mock.requests.some((request) => request.body.includes(prompt))).toBe(true);

  // A finding of the first scan, a comment on it; reads of everything.
  const findings = await until(
    'a finding',
    async () => (await call<{ items: Array<{ id: string }> }>(service, 'GET', `/findings?targetId=${openAi.body.id}`, token)).body.items,
    (items) => items.length > 0,
  );
  const comment = await call(service, 'POST', `/findings/${findings[0]!.id}/comments`, token, { body: `Triage note: ${c.add('comment')}` });
  expect(comment.status, JSON.stringify(comment.body)).toBe(201);
  const attempts = await call<{ items: Array<{ id: string }> }>(service, 'GET', `/scans/${scanIds[0]}/attempts`, token);
  expect(attempts.body.items.length).toBe(1);
  for (const url of [`/findings/${findings[0]!.id}`, `/findings/${findings[0]!.id}/comments`, `/scans/${scanIds[0]}/attempts/${attempts.body.items[0]!.id}`, '/users', `/users/${accepted.body.userId}`, `/targets/${http.body.id}`, '/audit/events?limit=100']) {
    expect((await call(service, 'GET', url, token)).status, url).toBe(200);
  }
  // Log positive control: request paths are logged, so this one must be found there.
  expect((await call(service, 'GET', `/no-such-resource-${ctl}`, token)).status).toBe(404);
  return { ctl };
}

const modes: Array<{ name: string; start: (env: Record<string, string>) => Promise<CanaryService> }> = [
  { name: 'embedded (node dist/main.js, raw PGlite files)', start: (env) => startCanaryEmbedded(env, LOG_LEVEL) },
];
const urls = serverUrls();
if (urls) modes.push({ name: 'server (node dist/main.js + dist/worker.js, pg_dump and Redis)', start: (env) => startCanaryServer(urls, env, LOG_LEVEL) });

describe('[ASVS 14.2.4] [ASVS 16.2.5] no plaintext PII or secret at rest, in Redis or in logs (issue 9 §2)', () => {
  for (const mode of modes) {
    describe(mode.name, () => {
      let service: CanaryService | undefined;
      const policyDir = mkdtempSync(path.join(tmpdir(), 'vutf-canary-policy-'));
      afterAll(async () => {
        await service?.stop();
        if (service) rmSync(service.dataDir, { recursive: true, force: true });
        rmSync(policyDir, { recursive: true, force: true });
      });

      it('finds 0 canaries in any form in the database, the data directory, Redis and every log line; finds the controls', async () => {
        // Server mode denies loopback targets unless allowlisted; the mock listens on 127.0.0.1.
        const policyFile = writePolicy(policyDir, { egress: { allowPrivateNetworks: ['127.0.0.0/8'] } });
        service = await mode.start({ SMTP_URL: smtpUrl, MAIL_FROM: 'no-reply@canary.example', POLICY_FILE: policyFile });
        const c = new Canaries();
        const running = service;
        const { ctl } = await exercise(running, c).catch((error: unknown) => {
          const tail = running.logs().map((log) => `${log.process}:\n${log.text.slice(-3000)}`).join('\n');
          throw new Error(`${(error as Error).message}\n--- service output ---\n${tail}`, { cause: error });
        });

        const storage: Haystack[] = [];
        let redisKeys = 0;
        if (service.mode === 'server') {
          await writeRedisControls(service.redisUrl!, service.schema!, ctl);
          const redis = await readRedisPrefix(service.redisUrl!, service.schema!);
          storage.push(...redis.haystacks);
          redisKeys = redis.keys;
          await service.stop();
          storage.push(await pgDumpSchema(service.databaseUrl!, service.schema!));
        } else {
          // Stopped first: PGlite writes everything to its files on a graceful shutdown. keys/ holds the
          // key material itself (protected by the file system, out of the scope of this search).
          await service.stop();
          storage.push(...readTree(service.dataDir, ['keys']));
        }
        const logs: Haystack[] = service.logs().map((log) => ({ source: `log of ${log.process}`, bytes: Buffer.from(log.text, 'utf8') }));
        const logLines = logs.reduce((sum, log) => sum + log.bytes.toString('utf8').split('\n').filter(Boolean).length, 0);

        // The search sees what there is: storage of a real size, log lines, and every control found.
        const storageBytes = storage.reduce((sum, haystack) => sum + haystack.bytes.length, 0);
        expect(storageBytes).toBeGreaterThan(100_000);
        expect(logLines).toBeGreaterThan(20);
        const controlHits = searchAll(c.control, [...storage, ...logs]);
        const plainIn = (prefix: string) => controlHits.some((hit) => hit.form === 'plain' && hit.source.startsWith(prefix));
        expect(plainIn(service.mode === 'server' ? 'pg_dump' : 'DATA_DIR/'), JSON.stringify(controlHits)).toBe(true);
        expect(plainIn('log of api'), JSON.stringify(controlHits)).toBe(true);
        if (service.mode === 'server') {
          expect(redisKeys).toBeGreaterThan(6);
          for (const type of ['string', 'hash', 'list', 'set', 'zset', 'stream']) {
            expect(controlHits.some((hit) => hit.form === 'base64' && hit.source.includes(`canary-control:${type}`)), type).toBe(true);
          }
        }

        // The proof: not one secret canary, in any form, anywhere.
        expect(c.secret.size).toBeGreaterThan(15);
        const leaks = searchAll(c.secret, [...storage, ...logs]);
        console.info(`canary search (${service.mode}): ${c.secret.size} secret canaries × forms in ${storage.length} storage items (${storageBytes} bytes, ${redisKeys} Redis keys) and ${logLines} log lines; ${leaks.length} leaks; controls found in ${new Set(controlHits.map((hit) => hit.source)).size} places`);
        expect(leaks).toEqual([]);
      }, 480_000);
    });
  }
});
