import { isIPv4 } from 'node:net';
import type { Transporter } from 'nodemailer';

/** One outgoing plain-text message with a single recipient. */
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
}

/** What the relay job needs from a mail server connection (tests may pass a fake). */
export interface MailTransport {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/** Timeouts of one delivery: a hanging server costs at most these, never the library's minutes-long defaults. */
export const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000, dnsTimeout: 10_000 } as const;

const isLoopback = (hostname: string): boolean =>
  hostname === 'localhost' || hostname === '[::1]' || (isIPv4(hostname) && hostname.startsWith('127.'));

/**
 * The nodemailer options for SMTP_URL, built here rather than handed to nodemailer as a URL: its URL
 * parser turns any query parameter into an option (`?pool=true`, `?debug=true&logger=true` would log
 * whole messages, `?tls.rejectUnauthorized=false`), so only what is listed below is taken from it.
 *
 * - `smtps://` connects with TLS at once; `smtp://` must upgrade with STARTTLS, except on loopback (a
 *   local relay or a test server) or when the URL says `?requireTLS=false` (a relay on a private network).
 * - One connection per message (no pool): nothing stays open between runs, no idle-connection surprises.
 * - Credentials come from the URL's user info; they never reach a log (no logger, no debug).
 */
export function smtpOptions(smtpUrl: string) {
  const url = new URL(smtpUrl);
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new Error('SMTP_URL must start with smtp:// or smtps://');
  const secure = url.protocol === 'smtps:';
  const optOut = url.searchParams.get('requireTLS') === 'false';
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    requireTLS: !secure && !optOut && !isLoopback(url.hostname),
    ...(url.username || url.password ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
    tls: { minVersion: 'TLSv1.2' as const },
    pool: false as const,
    logger: false,
    debug: false,
    ...SMTP_TIMEOUTS,
  };
}

/** A nodemailer SMTP transport for SMTP_URL, sending as MAIL_FROM. */
export function createSmtpTransport(options: { smtpUrl: string; from: string }): MailTransport {
  const smtp = smtpOptions(options.smtpUrl);
  // Loaded on first use: a process that never sends mail (no SMTP_URL, API-only) never pays for it.
  let transporter: Transporter | undefined;
  return {
    async send(mail) {
      transporter ??= (await import('nodemailer')).default.createTransport(smtp);
      // An address object, not a string: nodemailer would split a string on commas into several recipients.
      await transporter.sendMail({ from: options.from, to: { name: '', address: mail.to }, subject: mail.subject, text: mail.text });
    },
    close: () => transporter?.close(),
  };
}
