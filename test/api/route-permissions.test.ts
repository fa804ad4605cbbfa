import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_PERMISSIONS } from '../../src/modules/auth/permissions.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('route permissions', () => {
  it('[ASVS 8.1.1] every permission a route declares exists in the role table (a typo would lock everyone out)', () => {
    const declared = t.app
      .routeList()
      .flatMap((route) => (route.options.config as { access?: { permission?: string | string[] } } | undefined)?.access?.permission ?? [])
      .flatMap((permission) => (typeof permission === 'string' ? [permission] : permission));
    expect(declared.length).toBeGreaterThan(0);
    for (const permission of declared) expect(ALL_PERMISSIONS.has(permission), permission).toBe(true);
  });
});
