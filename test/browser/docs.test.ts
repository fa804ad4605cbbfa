import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../setup/test-app.js';
import { launchChromium } from './chromium.js';
import { axeViolations, clickAll, countOf, CSP_VIOLATION_RECORDER, cspViolations } from './page-probes.js';

/**
 * The interactive documentation page (DESIGN §3, §6) in Debian's chromium, on a real listener:
 * it renders every operation from local assets under its own CSP (no violation), and passes
 * axe-core's WCAG 2.1 A/AA rules, collapsed and fully expanded.
 */

interface RawResponse {
  status: number;
  rawHeaders: string[];
  body: string;
}

/** Plain HTTP, so duplicated headers stay visible (fetch would join them). */
const get = (url: string) =>
  new Promise<RawResponse>((resolve, reject) => {
    request(url, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, rawHeaders: response.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }));
    })
      .on('error', reject)
      .end();
  });

/** Every value of one header, as sent (rawHeaders alternates names and values). */
const headerValues = (response: RawResponse, name: string) =>
  response.rawHeaders.flatMap((value, index) => (index % 2 === 1 && response.rawHeaders[index - 1]!.toLowerCase() === name ? [value] : []));

const directives = (policy: string) =>
  new Map(
    policy
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...sources]) => [name!, sources]),
  );

interface OpenApiOperation {
  requestBody?: unknown;
  parameters?: Array<{ in: string }>;
}
interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
}
interface Operation {
  method: string;
  path: string;
}

/**
 * The operations the expanded view opens: the first with a request body, with query parameters
 * and with path parameters. swagger-ui renders every operation with the same components, so
 * this covers them all at a cost that does not grow with the API.
 */
function pickShowcase(operations: Array<Operation & { operation: OpenApiOperation }>): Operation[] {
  const firstWith = (test: (operation: OpenApiOperation) => boolean) => operations.find(({ operation }) => test(operation));
  const picks = [
    firstWith((operation) => operation.requestBody !== undefined),
    firstWith((operation) => operation.parameters?.some((parameter) => parameter.in === 'query') ?? false),
    firstWith((operation) => operation.parameters?.some((parameter) => parameter.in === 'path') ?? false),
  ].filter((pick) => pick !== undefined);
  return [...new Map(picks.map(({ method, path }) => [`${method} ${path}`, { method, path }])).values()];
}

/** Opens the given operations' panels (a DOM click, as a user's reaches React); returns how many were found. */
const expandOperations = (page: Page, operations: Operation[]) =>
  page.evaluate<number>(`(${JSON.stringify(operations)}).filter(({ method, path }) => {
    const block = [...document.querySelectorAll('.opblock.opblock-' + method)]
      .find((candidate) => candidate.querySelector('.opblock-summary-path')?.getAttribute('data-path') === path);
    block?.querySelector('.opblock-summary-control')?.click();
    return block !== undefined;
  }).length`);

describe('/docs in chromium', () => {
  let testApp: TestApp;
  let origin: string;
  let browser: Browser;
  let page: Page;
  let operationCount: number;
  let showcase: Operation[];
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const failedRequests: string[] = [];
  const requestedUrls: string[] = [];

  beforeAll(async () => {
    testApp = await createTestApp({ env: { DOCS_ENABLED: 'true' } });
    await testApp.app.listen({ port: 0, host: '127.0.0.1' });
    // localhost, as the browser console and passkeys need (DESIGN §9).
    origin = `http://localhost:${(testApp.app.server.address() as AddressInfo).port}`;

    const document = (await testApp.app.inject({ url: '/api/v1/openapi.json' })).json<OpenApiDocument>();
    const operations = Object.entries(document.paths).flatMap(([path, item]) => Object.entries(item).map(([method, operation]) => ({ method, path, operation })));
    operationCount = operations.length;
    showcase = pickShowcase(operations);

    browser = await launchChromium();
    // A context without bypassCSP: the page runs under the CSP it is served with.
    page = await (await browser.newContext()).newPage();
    await page.addInitScript(CSP_VIOLATION_RECORDER);
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    page.on('request', (sent) => requestedUrls.push(sent.url()));
    page.on('requestfailed', (sent) => failedRequests.push(`${sent.url()}: ${sent.failure()?.errorText ?? 'failed'}`));
    page.on('response', (received) => {
      if (received.status() >= 400) failedRequests.push(`${received.url()}: ${received.status()}`);
    });

    await page.goto(`${origin}/docs`, { waitUntil: 'load' });
    await page.locator('#swagger-ui .opblock').nth(operationCount - 1).waitFor({ timeout: 15_000 });
    await page.waitForLoadState('networkidle');
  });

  afterAll(async () => {
    await browser?.close();
    await testApp?.close();
  });

  it('is served with its own CSP, once, in place of the API CSP: self and hashes only', async () => {
    const docs = await get(`${origin}/docs`);
    expect(docs.status).toBe(200);
    const policies = headerValues(docs, 'content-security-policy');
    expect(policies).toHaveLength(1);
    const policy = directives(policies[0]!);
    expect(policy.get('default-src')).toEqual(["'none'"]);
    for (const name of ['script-src', 'style-src']) {
      const sources = policy.get(name) ?? [];
      expect(sources[0], name).toBe("'self'");
      // Beyond 'self', only hashes: no 'unsafe-inline', no 'unsafe-eval', no CDN host or scheme.
      expect(sources.slice(1).filter((source) => !/^'sha(256|384|512)-[A-Za-z0-9+/]+=*'$/.test(source)), name).toEqual([]);
    }
    expect(policy.get('script-src-attr')).toEqual(["'none'"]);
    expect(policy.get('object-src')).toEqual(["'none'"]);
    expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
    expect(policy.get('base-uri')).toEqual(["'none'"]);
    for (const sources of policy.values()) expect(sources).not.toContain('https:');

    // The API keeps its strict CSP; the docs CSP does not leak onto it.
    const api = await get(`${origin}/api/v1/openapi.json`);
    expect(headerValues(api, 'content-security-policy')).toEqual([expect.stringMatching(/^default-src 'none';/)]);
  });

  it('renders every documented operation from this origin only', async () => {
    expect(await countOf(page, '#swagger-ui .opblock')).toBe(operationCount);
    expect(await page.title()).toBe('ViolentUTF API documentation');
    expect(requestedUrls.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:'))).toEqual([]);
  });

  it('loads without CSP violations, console errors, script errors or failed requests', async () => {
    expect(await cspViolations(page)).toEqual([]);
    expect(consoleErrors).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(failedRequests).toEqual([]);
  });

  it('passes axe-core WCAG 2.1 A/AA as rendered', async () => {
    expect(await axeViolations(page)).toEqual([]);
  });

  it('passes axe-core WCAG 2.1 A/AA with operations, "Try it out" and the Authorize dialog open', async () => {
    expect(showcase.length).toBeGreaterThan(1);
    expect(await expandOperations(page, showcase)).toBe(showcase.length);
    await expect.poll(() => countOf(page, '.opblock.is-open .try-out__btn')).toBe(showcase.length);
    await clickAll(page, '.opblock.is-open .try-out__btn');
    await expect.poll(() => countOf(page, '.opblock.is-open .btn.execute')).toBe(showcase.length);
    await clickAll(page, '.scheme-container .btn.authorize');
    await page.locator('.dialog-ux .modal-ux').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    // Expanding must not have produced violations or errors either.
    expect(await cspViolations(page)).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  // Last, as it makes a violation on purpose: proves the checks above could see one.
  it('enforces the CSP (the recorder sees an injected inline script refused)', async () => {
    await page.evaluate(`(() => {
      const script = document.createElement('script');
      script.textContent = 'window.__inlineRan = true';
      document.body.append(script);
    })()`);
    await expect.poll(() => cspViolations(page)).toEqual([expect.stringMatching(/^script-src-elem blocked inline \(enforce\)/)]);
    expect(await page.evaluate<boolean>('window.__inlineRan === true')).toBe(false);
  });
});
