import { createServer, type AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/platform/clock.js';
import { createLogger } from '../../src/platform/logger.js';
import { deliverOutboxJob, MAIL_MAX_ATTEMPTS } from '../../src/modules/mail/mail.jobs.js';
import { createSmtpTransport } from '../../src/modules/mail/mail.transport.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';

/**
 * The SMTP relay against a real SMTP server on loopback (smtp-server): what arrives, what the outbox
 * records, retries with backoff, giving up, an unreachable server, and what the logs leave out.
 */
const MINUTE = 60_000;
const MAIL_FROM = 'no-reply@vutf.test';

interface Received {
  from: string;
  to: string[];
  subject: string;
  body: string;
}

/** Plain-text message → subject and decoded body (quoted-printable or 7bit, as nodemailer writes them). */
function parseMessage(raw: string): { subject: string; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const headers = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  let body = raw.slice(split + 4);
  if (/^content-transfer-encoding:\s*quoted-printable/im.test(headers)) {
    body = Buffer.from(
      body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
      'latin1',
    ).toString('utf8');
  } else if (/^content-transfer-encoding:\s*base64/im.test(headers)) {
    body = Buffer.from(body, 'base64').toString('utf8');
  }
  return { subject: /^subject:\s*(.*)$/im.exec(headers)?.[1] ?? '', body: body.replace(/\r\n/g, '\n').trimEnd() };
}

const received: Received[] = [];
/** Recipients the server answers with this reply code at RCPT TO. */
const refused = new Map<string, number>();
const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onRcptTo(address, _session, callback) {
    const code = refused.get(address.address);
    if (code === undefined) return callback();
    const error = Object.assign(new Error(`Mailbox ${address.address} unavailable`), { responseCode: code });
    return callback(error);
  },
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const { subject, body } = parseMessage(Buffer.concat(chunks).toString('utf8'));
      const mailFrom = session.envelope.mailFrom;
      received.push({ from: mailFrom ? mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), subject, body });
      callback();
    });
  },
});

const clock = createManualClock(new Date());
const logLines: string[] = [];
let t: TestApp;
let smtpUrl: string;
let seq = 0;

beforeAll(async () => {
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
  t = await createTestApp({
    env: { SMTP_URL: smtpUrl, MAIL_FROM },
    // runJobs off: the tests run the relay themselves instead of the 10-second schedule.
    overrides: { clock, runJobs: false, logger: createLogger('info', { write: (line: string) => void logLines.push(line) }) },
  });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

const freshRecipient = () => `relay.user${++seq}.${Date.now()}@example.test`;
const tokens: string[] = [];
/** Writes a password-reset mail to the outbox in its own transaction, as the services do. */
async function enqueueMail(to: string): Promise<{ id: string; token: string }> {
  const token = `tok${String(++seq).padStart(3, '0')}`.padEnd(43, 'x');
  tokens.push(token);
  const id = await t.container.db
    .transaction()
    .execute((tx) => t.container.services.mail.send(tx, to, 'password-reset', { token, expiresAt: new Date(clock.nowMs() + 15 * MINUTE) }));
  return { id, token };
}
const rowOf = (id: string) => t.container.db.selectFrom('mailOutbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const jobLogger = createLogger('info', { write: (line: string) => void logLines.push(line) });
const relay = (url = smtpUrl) =>
  deliverOutboxJob({ db: t.container.db, clock, mailRepo: t.container.repos.mail, transport: createSmtpTransport({ smtpUrl: url, from: MAIL_FROM }), logger: jobLogger }).handler(
    {},
    { jobId: 'test', attempt: 1, signal: new AbortController().signal },
  );
const deliveredTo = (to: string) => received.filter((m) => m.to.includes(to));

describe('mail relay (SMTP)', () => {
  it('delivers an outbox message with its recipient, subject and body, and marks it sent once', async () => {
    const to = freshRecipient();
    const { id, token } = await enqueueMail(to);
    expect((await rowOf(id)).status).toBe('pending');

    await relay();
    const messages = deliveredTo(to);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ from: MAIL_FROM, to: [to], subject: 'Reset your ViolentUTF password' });
    expect(messages[0]!.body).toContain(token);
    expect(messages[0]!.body).toContain(`${t.config.publicUrl}/reset-password#token=${token}`);
    expect(await rowOf(id)).toMatchObject({ status: 'sent', attempts: 1, lastError: null, sentAt: clock.now() });

    await relay();
    expect(deliveredTo(to)).toHaveLength(1);
  });

  it('retries a refused message with growing backoff, gives up after the last attempt, and still delivers the others', async () => {
    const bad = freshRecipient();
    const good = freshRecipient();
    refused.set(bad, 450);
    const refusedMail = await enqueueMail(bad);
    const goodMail = await enqueueMail(good);

    const waits: number[] = [];
    for (let attempt = 1; attempt <= MAIL_MAX_ATTEMPTS; attempt++) {
      await relay();
      const row = await rowOf(refusedMail.id);
      expect(row.attempts).toBe(attempt);
      expect(row.lastError).toBe('EENVELOPE 450 at RCPT TO');
      if (attempt < MAIL_MAX_ATTEMPTS) {
        expect(row.status).toBe('pending');
        const wait = row.nextAttemptAt.getTime() - clock.nowMs();
        waits.push(wait / MINUTE);
        // Not due yet: another run leaves it alone.
        await relay();
        expect((await rowOf(refusedMail.id)).attempts).toBe(attempt);
        clock.advance(wait);
      } else {
        expect(row.status).toBe('failed');
      }
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 60]);
    expect(deliveredTo(bad)).toHaveLength(0);
    expect(deliveredTo(good)).toHaveLength(1);
    expect((await rowOf(goodMail.id)).status).toBe('sent');

    // Given up: later runs never try it again.
    clock.advance(24 * 60 * MINUTE);
    await relay();
    expect(await rowOf(refusedMail.id)).toMatchObject({ status: 'failed', attempts: MAIL_MAX_ATTEMPTS });
  });

  it('survives an unreachable server: one attempt counted, the rest of the batch put back untried', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const mails = [await enqueueMail(freshRecipient()), await enqueueMail(freshRecipient()), await enqueueMail(freshRecipient())];

    await expect(relay(`smtp://127.0.0.1:${closedPort}`)).resolves.toBeUndefined();
    const rows = await Promise.all(mails.map((m) => rowOf(m.id)));
    expect(rows.every((row) => row.status === 'pending')).toBe(true);
    const tried = rows.filter((row) => row.attempts === 1);
    expect(tried).toHaveLength(1);
    expect(tried[0]!.lastError).toMatch(/^(ESOCKET|ECONNECTION)\b/);
    expect(rows.filter((row) => row.attempts === 0)).toHaveLength(2);
    for (const row of rows) expect(row.nextAttemptAt.getTime()).toBe(clock.nowMs() + MINUTE);

    // The server is back: after the pause all three go out.
    clock.advance(MINUTE);
    await relay();
    for (const mail of mails) expect((await rowOf(mail.id)).status).toBe('sent');
  });

  it('is registered in the container and runs through the job queue when SMTP_URL is set', async () => {
    const to = freshRecipient();
    const { id } = await enqueueMail(to);
    await t.container.queue.start();
    await t.container.queue.enqueue('mail.deliver-outbox', {});
    if (t.container.queue.drain) await t.container.queue.drain();
    const deadline = Date.now() + 15_000;
    while ((await rowOf(id)).status !== 'sent' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect((await rowOf(id)).status).toBe('sent');
    expect(deliveredTo(to)).toHaveLength(1);
  });

  it('never logs a recipient, a subject, a body or a token', () => {
    const logs = logLines.join('\n');
    expect(logs).toContain('mail.delivery.failed');
    expect(logs).toContain('mail.relay.run');
    for (const message of received) {
      for (const address of message.to) expect(logs).not.toContain(address);
    }
    for (const address of refused.keys()) expect(logs).not.toContain(address);
    for (const token of tokens) expect(logs).not.toContain(token);
    expect(logs).not.toContain('Reset your ViolentUTF password');
    expect(logs.toLowerCase()).not.toContain('mailbox');
  });
});
