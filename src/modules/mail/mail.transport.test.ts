import { describe, expect, it } from 'vitest';
import { describeMailError, mailRetryDelayMs } from './mail.jobs.js';
import { SMTP_TIMEOUTS, smtpOptions } from './mail.transport.js';

describe('smtpOptions', () => {
  it('requires STARTTLS on smtp:// except on loopback, and uses implicit TLS on smtps://', () => {
    expect(smtpOptions('smtp://mail.example.test')).toMatchObject({ host: 'mail.example.test', port: 587, secure: false, requireTLS: true });
    expect(smtpOptions('smtp://127.0.0.1:2525')).toMatchObject({ port: 2525, secure: false, requireTLS: false });
    expect(smtpOptions('smtp://localhost:25')).toMatchObject({ requireTLS: false });
    expect(smtpOptions('smtp://[::1]:25')).toMatchObject({ requireTLS: false });
    expect(smtpOptions('smtp://127.evil.example:25')).toMatchObject({ requireTLS: true });
    expect(smtpOptions('smtp://relay.internal:25?requireTLS=false')).toMatchObject({ requireTLS: false });
    expect(smtpOptions('smtps://mail.example.test')).toMatchObject({ port: 465, secure: true, requireTLS: false });
  });

  it('takes credentials from the URL and ignores every other query parameter (no pool, no debug logging, no TLS opt-outs)', () => {
    const options = smtpOptions('smtps://user%40x:p%3Ass@mail.example.test?pool=true&debug=true&logger=true&tls.rejectUnauthorized=false&socketTimeout=0');
    expect(options.auth).toEqual({ user: 'user@x', pass: 'p:ss' });
    expect(options).toMatchObject({ pool: false, debug: false, logger: false, tls: { minVersion: 'TLSv1.2' }, ...SMTP_TIMEOUTS });
    expect(options.tls).not.toHaveProperty('rejectUnauthorized');
    expect(smtpOptions('smtp://127.0.0.1:25')).not.toHaveProperty('auth');
    expect(() => smtpOptions('http://mail.example.test')).toThrow(/smtp/);
  });
});

describe('mail relay error handling', () => {
  it('records codes and the SMTP reply code only, never the reply text (it can echo addresses or credentials)', () => {
    const refused = Object.assign(new Error('Recipient command failed: 550 <bob@example.test> unknown'), {
      code: 'EENVELOPE',
      responseCode: 550,
      command: 'RCPT TO',
      response: '550 <bob@example.test> unknown',
    });
    expect(describeMailError(refused)).toEqual({ text: 'EENVELOPE 550 at RCPT TO', serverWide: false });
    expect(describeMailError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ESOCKET', command: 'CONN' }))).toEqual({
      text: 'ESOCKET at CONN',
      serverWide: true,
    });
    expect(describeMailError(Object.assign(new Error('Invalid login: user secret'), { code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' }))).toEqual({
      text: 'EAUTH 535 at AUTH PLAIN',
      serverWide: true,
    });
    expect(describeMailError(Object.assign(new Error('x'), { code: 'evil <bob@example.test>', command: 'RCPT TO:<bob@example.test>' }))).toEqual({
      text: 'ERROR',
      serverWide: false,
    });
    expect(describeMailError('boom').text).toBe('ERROR');
  });

  it('backs off 1 min × 2^(attempt-1), capped at an hour', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => mailRetryDelayMs(n) / 60_000)).toEqual([1, 2, 4, 8, 16, 32, 60, 60]);
  });
});
