import { sql } from 'kysely';
import { expect } from 'vitest';
import type { OrgRole, PlatformRole } from '../../src/db/schema.js';
import { newId } from '../../src/platform/ids.js';
import type { TestApp } from './test-app.js';

/**
 * Identity test data for API tests: users with real passwords (so tests sign in through
 * POST /auth/login, not a fake principal), organisations and memberships written through the
 * repositories, and logins from distinct client addresses (the authentication rate tier is per IP).
 */

export const json = { 'content-type': 'application/json' } as const;
export const bearer = (token: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...extra });

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

let addressSeq = 0;
/** A client address of TEST-NET-2, different on every call. */
export const freshIp = () => `198.51.100.${(++addressSeq % 250) + 1}`;

/** A live user with a password; returns its id. */
export async function createUserWithPassword(
  t: TestApp,
  email: string,
  password: string,
  options: { platformRole?: PlatformRole | null; mustChangePassword?: boolean; displayName?: string } = {},
): Promise<string> {
  const passwordHash = await t.container.passwordHasher.hash(password);
  const id = newId();
  await t.container.db.transaction().execute((tx) =>
    t.container.repos.users.insert(
      tx,
      id,
      {
        email,
        displayName: options.displayName ?? email.split('@')[0]!,
        passwordHash,
        platformRole: options.platformRole ?? null,
        mustChangePassword: options.mustChangePassword ?? false,
      },
      null,
      new Date(),
    ),
  );
  return id;
}

export async function addMember(t: TestApp, orgId: string, userId: string, role: OrgRole): Promise<void> {
  await t.container.db.transaction().execute((tx) => t.container.repos.memberships.insert(tx, newId(), { orgId, userId, role }, null, new Date()));
  await t.container.services.access.invalidate(userId);
}

/** An organisation written directly (POST /orgs needs a platform permission), with its owners. */
export async function createOrg(t: TestApp, slug: string, owners: string[]): Promise<string> {
  const id = newId();
  await t.container.db.transaction().execute(async (tx) => {
    await t.container.repos.orgs.insert(tx, id, { name: slug, slug }, null, new Date());
    for (const userId of owners) await t.container.repos.memberships.insert(tx, newId(), { orgId: id, userId, role: 'owner' }, null, new Date());
  });
  for (const userId of owners) await t.container.services.access.invalidate(userId);
  return id;
}

export async function orgIdBySlug(t: TestApp, slug: string): Promise<string> {
  const result = await sql<{ id: string }>`select id from organisations where slug = ${slug} and deleted_at is null`.execute(t.container.db);
  return result.rows[0]!.id;
}

/** The live role of a user in an organisation, or null (read straight from the database). */
export async function roleIn(t: TestApp, orgId: string, userId: string): Promise<string | null> {
  const result = await sql<{ role: string }>`select role from memberships where org_id = ${orgId} and user_id = ${userId} and deleted_at is null`.execute(t.container.db);
  return result.rows[0]?.role ?? null;
}

export async function login(t: TestApp, email: string, password: string): Promise<Tokens> {
  const response = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: json, payload: { email, password }, remoteAddress: freshIp() });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Tokens>();
}
