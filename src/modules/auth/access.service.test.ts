import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../platform/clock.js';
import { createMemoryStore } from '../../platform/stores/memory-store.js';
import { createAccessService, type UserGrants } from './access.service.js';

const ORG_A = '01900000-0000-7000-8000-00000000000a';
const ORG_B = '01900000-0000-7000-8000-00000000000b';
const ORG_C = '01900000-0000-7000-8000-00000000000c';

function setup(initial: UserGrants) {
  let grants: UserGrants | undefined = initial;
  let loads = 0;
  const clock = createManualClock();
  const store = createMemoryStore({ clock, prefix: 't' });
  const access = createAccessService({
    loadGrants: () => {
      loads++;
      return Promise.resolve(grants && structuredClone(grants));
    },
    store,
    clock,
    cacheTtlSeconds: 30,
  });
  return { access, clock, set: (next: UserGrants | undefined) => (grants = next), loads: () => loads };
}

const member: UserGrants = { status: 'active', platformRole: null, mustChangePassword: false, credentialsChangedAtMs: null, memberships: [{ orgId: ORG_A, role: 'viewer' }, { orgId: ORG_B, role: 'admin' }] };

describe('access resolution', () => {
  it('uses the token organisation, or the one X-Organization-Id selects among the caller own', async () => {
    const { access } = setup(member);
    const fromToken = await access.resolve('u', { tokenOrgId: ORG_A });
    expect(fromToken).toMatchObject({ orgId: ORG_A, orgRole: 'viewer' });
    expect(fromToken!.permissions.has('members:manage')).toBe(false);
    const selected = await access.resolve('u', { tokenOrgId: ORG_A, requestedOrgId: ORG_B });
    expect(selected).toMatchObject({ orgId: ORG_B, orgRole: 'admin' });
    expect(selected!.permissions.has('members:manage')).toBe(true);
  });

  it("[ASVS 8.2.2] selecting an organisation the caller does not belong to answers 404", async () => {
    const { access } = setup(member);
    await expect(access.resolve('u', { tokenOrgId: ORG_A, requestedOrgId: ORG_C })).rejects.toMatchObject({ status: 404 });
  });

  it('a token for an organisation the user has since left carries no organisation permissions', async () => {
    const { access } = setup({ ...member, memberships: [{ orgId: ORG_B, role: 'admin' }] });
    const resolved = await access.resolve('u', { tokenOrgId: ORG_A });
    expect(resolved).toMatchObject({ orgId: null, orgRole: null });
    expect(resolved!.permissions.size).toBe(0);
  });

  it('[ASVS 8.3.2] caches grants, and a change takes effect on the next request once invalidated', async () => {
    const harness = setup(member);
    await harness.access.resolve('u', { tokenOrgId: ORG_B });
    await harness.access.resolve('u', { tokenOrgId: ORG_B });
    expect(harness.loads()).toBe(1);
    harness.set({ ...member, memberships: [{ orgId: ORG_B, role: 'viewer' }] });
    await harness.access.invalidate('u');
    const demoted = await harness.access.resolve('u', { tokenOrgId: ORG_B });
    expect(demoted!.orgRole).toBe('viewer');
    expect(demoted!.permissions.has('members:manage')).toBe(false);
  });

  it('[ASVS 8.3.2] bounds staleness by the cache TTL even without invalidation', async () => {
    const harness = setup(member);
    await harness.access.resolve('u', { tokenOrgId: ORG_B });
    harness.set({ ...member, status: 'disabled' });
    harness.clock.advance(31_000);
    expect(await harness.access.resolve('u', { tokenOrgId: ORG_B })).toBeUndefined();
  });

  it('refuses disabled, locked and deleted accounts', async () => {
    for (const status of ['disabled', 'locked'] as const) {
      const { access } = setup({ ...member, status });
      expect(await access.resolve('u', { tokenOrgId: ORG_A })).toBeUndefined();
    }
    const { access } = setup(member);
    const gone = setup(member);
    gone.set(undefined);
    expect(await gone.access.resolve('u', { tokenOrgId: ORG_A })).toBeUndefined();
    expect(await access.resolve('u', { tokenOrgId: ORG_A })).toBeDefined();
  });
});
