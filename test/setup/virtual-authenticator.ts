import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';

/**
 * Real WebAuthn ceremonies for tests (DESIGN §9 "Passkeys in tests"): Debian's Chromium, headless,
 * with the DevTools virtual authenticator (CTAP2, internal transport, resident keys, user
 * verification). The browser makes every credential; the tests never build CBOR. The page is served
 * by the test itself (intercepted navigation), at the app's own origin http://localhost:PORT, and
 * calls the API with fetch like a web client would.
 */

const CHROMIUM = '/usr/lib/chromium/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
export const PAGE_PATH = '/__passkey-test';

/** The test page: helpers the tests call through page.evaluate. Options and results travel as WebAuthn JSON. */
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>passkey test</title></head><body><script>
const api = async (path, body, token) => {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = 'Bearer ' + token;
  const response = await fetch('/api/v1' + path, { method: 'POST', headers, body: JSON.stringify(body ?? {}) });
  return { status: response.status, body: await response.json().catch(() => null) };
};
window.passkeyApi = api;
window.createCredential = async (options, overrides) =>
  (await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON({ ...options, ...overrides }) })).toJSON();
window.getCredential = async (options, overrides) =>
  (await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON({ ...options, ...overrides }) })).toJSON();
window.registerPasskey = async (token, name, overrides) => {
  const options = await api('/auth/mfa/passkeys/options', {}, token);
  if (options.status !== 200) return options;
  const credential = await window.createCredential(options.body, overrides);
  return api('/auth/mfa/passkeys', { name, credential }, token);
};
window.secondFactor = async (mfaToken, mode) => {
  const options = await api('/auth/mfa/passkey/options', { mfaToken });
  if (options.status !== 200) return options;
  const credential = await window.getCredential(options.body);
  return api('/auth/mfa/verify', { mfaToken, method: 'passkey', code: JSON.stringify(credential), ...(mode ? { mode } : {}) });
};
window.passwordless = async (mode) => {
  const options = await api('/auth/passkey/options');
  if (options.status !== 200) return options;
  const credential = await window.getCredential(options.body);
  return api('/auth/passkey/verify', { credential, ...(mode ? { mode } : {}) });
};
</script></body></html>`;

/** A free TCP port, to put in PUBLIC_URL before the app starts listening on it. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface AuthenticatorTab {
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
  /** Calls a page helper (registerPasskey, secondFactor, passwordless, getCredential, createCredential, passkeyApi). */
  call<T>(name: string, ...args: unknown[]): Promise<T>;
  /** The credentials the virtual authenticator holds (to count them or check the signature counter). */
  credentials(): Promise<Array<{ credentialId: string; isResidentCredential: boolean; signCount: number }>>;
  close(): Promise<void>;
}

export interface PasskeyBrowser {
  /**
   * A new tab at `origin` + PAGE_PATH with its own virtual authenticator (an authenticator belongs to
   * one tab). `userVerification: false`: an authenticator without PIN or biometric (a bare security key).
   */
  openTab(origin: string, options?: { userVerification?: boolean }): Promise<AuthenticatorTab>;
  /** Copies a credential (private key included, through DevTools) from one tab's authenticator into another's. */
  copyCredential(from: AuthenticatorTab, to: AuthenticatorTab): Promise<void>;
  close(): Promise<void>;
}

export async function launchPasskeyBrowser(): Promise<PasskeyBrowser> {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'vutf-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  // Only the test page is served by the test; every other request (the API) reaches the real app.
  await context.route(`**${PAGE_PATH}`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: PAGE }));
  return {
    async openTab(origin, { userVerification = true } = {}) {
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          // A platform authenticator always has user verification; one without is a bare USB key.
          transport: userVerification ? 'internal' : 'usb',
          hasResidentKey: true,
          hasUserVerification: userVerification,
          isUserVerified: userVerification,
        },
      });
      await page.goto(origin + PAGE_PATH);
      return {
        page,
        cdp,
        authenticatorId,
        call: <T>(name: string, ...args: unknown[]) =>
          page.evaluate(([fn, params]) => (globalThis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[fn as string]!(...(params as unknown[])), [name, args] as const) as Promise<T>,
        credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
        close: () => page.close(),
      };
    },
    async copyCredential(from, to) {
      const [held] = (await from.cdp.send('WebAuthn.getCredentials', { authenticatorId: from.authenticatorId })).credentials;
      if (!held) throw new Error('The source authenticator holds no credential.');
      await to.cdp.send('WebAuthn.addCredential', { authenticatorId: to.authenticatorId, credential: { ...held, signCount: held.signCount + 10 } });
    },
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
