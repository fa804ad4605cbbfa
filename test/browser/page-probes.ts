import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AxeResults, RunOptions } from 'axe-core';
import type { Page } from 'playwright-core';

/*
 * In-page code is written as strings: the project compiles without the DOM library, and a
 * string evaluated over CDP is not subject to the page's CSP (no bypassCSP needed).
 */

/** Records every CSP violation the page reports; install with `page.addInitScript` before navigating. */
export const CSP_VIOLATION_RECORDER = `
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (event) => {
    window.__cspViolations.push(
      event.effectiveDirective + ' blocked ' + (event.blockedURI || 'inline') + ' (' + event.disposition + ') at ' +
        event.sourceFile + ':' + event.lineNumber + ':' + event.columnNumber,
    );
  });
`;

export const cspViolations = (page: Page) => page.evaluate<string[]>('window.__cspViolations ?? ["recorder not installed"]');

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** WCAG 2.0 and 2.1, levels A and AA. */
export const WCAG_21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/** Runs axe-core in the page; one readable line per failing node ([] when clean). */
export async function axeViolations(page: Page, tags: string[] = WCAG_21_AA): Promise<string[]> {
  if (!(await page.evaluate<boolean>('typeof window.axe === "object"'))) await page.evaluate(axeSource);
  const options: RunOptions = { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] };
  const results = await page.evaluate<AxeResults>(`axe.run(document, ${JSON.stringify(options)})`);
  return results.violations.flatMap((violation) =>
    violation.nodes.map(
      (node) => `${violation.id} (${violation.impact ?? 'n/a'}) ${violation.help}: ${node.target.join(' ')} — ${(node.failureSummary ?? '').replaceAll('\n', ' ')}`,
    ),
  );
}

/** Clicks (DOM click, as a user's would reach React) every element matching `selector`; returns how many. */
export const clickAll = (page: Page, selector: string) =>
  page.evaluate<number>(`(() => {
    const elements = document.querySelectorAll(${JSON.stringify(selector)});
    elements.forEach((element) => element.click());
    return elements.length;
  })()`);

export const countOf = (page: Page, selector: string) => page.locator(selector).count();
