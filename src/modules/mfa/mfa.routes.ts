import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { WriteRunner } from '../../http/idempotency.js';
import { errorResponse } from '../../http/route-defaults.js';
import { IdParams } from '../../http/schemas.js';
import type { MfaService } from './mfa.service.js';
import { BackupCodesSchema, CodeBody, MfaResetSchema, MfaStatusSchema, OrgMfaPolicyBody, OrgMfaPolicySchema, TotpEnrollmentSchema } from './mfa.schemas.js';

export interface MfaRouteDeps {
  mfa: MfaService;
  runWrite: WriteRunner;
  /** Drops a user's cached grants (AccessService.invalidate), after the commit. */
  userChanged: (userId: string) => Promise<void>;
}

const stepUpResponse = { 401: errorResponse('Not signed in, or the action needs a recent MFA sign-in (insufficient_user_authentication).') };

/**
 * Self-service MFA under /auth/mfa (permission `self:mfa`: the one thing left to a user whose
 * grace is over), the admin reset and the organisation's policy. Changing factors is a step-up
 * action; the first enrollment is not (a user without a factor has nothing to step up with).
 */
export const mfaRoutes: FastifyPluginAsyncTypebox<MfaRouteDeps> = async (app, { mfa, runWrite, userChanged }) => {
  const afterCommit = async <T>(userId: string | undefined, result: T): Promise<T> => {
    if (userId) await userChanged(userId);
    return result;
  };

  app.get(
    '/auth/mfa',
    {
      // Self-service and the caller's own state (no secrets): not a sensitive read.
      config: { access: { permission: 'self:mfa' } },
      schema: { tags: ['mfa'], summary: 'Your MFA: factors, backup codes left, what your organisations require', response: { 200: MfaStatusSchema } },
    },
    (request) => mfa.status(request.principal!),
  );

  app.post(
    '/auth/mfa/totp',
    {
      config: { access: { permission: 'self:mfa' }, audit: { action: 'mfa.totp.enrollment-started', resource: 'caller' }, stepUp: true },
      schema: {
        tags: ['mfa'],
        summary: 'Start enrolling an authenticator app (active after POST /auth/mfa/totp/confirm)',
        response: { 201: TotpEnrollmentSchema, ...stepUpResponse, 409: errorResponse('An authenticator app is already enabled.') },
      },
    },
    async (request, reply) => {
      const prepared = await mfa.prepareTotp(request.principal!);
      return runWrite(request, reply, { status: 201, carriesSecret: true }, (tx) => mfa.startTotp(tx, request.principal!, prepared));
    },
  );

  app.post(
    '/auth/mfa/totp/confirm',
    {
      config: { access: { permission: 'self:mfa' }, audit: { action: 'mfa.totp.enabled', resource: 'caller' }, stepUp: true },
      schema: {
        tags: ['mfa'],
        summary: 'Turn the authenticator app on with its first code (the first factor also returns 10 backup codes, shown once)',
        body: CodeBody,
        response: { 200: BackupCodesSchema, ...stepUpResponse, 409: errorResponse('No enrollment to confirm.') },
      },
    },
    async (request, reply) => {
      const result = await runWrite(request, reply, { status: 200, carriesSecret: true }, (tx) => mfa.confirmTotp(tx, request.principal!, request.body.code));
      return afterCommit(request.principal!.userId, result);
    },
  );

  app.delete(
    '/auth/mfa/totp',
    {
      config: { access: { permission: 'self:mfa' }, audit: { action: 'mfa.totp.disabled', resource: 'caller' }, stepUp: true },
      schema: {
        tags: ['mfa'],
        summary: 'Remove the authenticator app (refused while it is your last factor and MFA is required)',
        response: { 204: Type.Null(), ...stepUpResponse, 409: errorResponse('MFA is required and this is your last factor.') },
      },
    },
    async (request, reply) => {
      await runWrite(request, reply, { status: 204 }, (tx) => mfa.disableTotp(tx, request.principal!));
      return afterCommit(request.principal!.userId, null);
    },
  );

  app.post(
    '/auth/mfa/backup-codes',
    {
      config: { access: { permission: 'self:mfa' }, audit: { action: 'mfa.backup-codes.regenerated', resource: 'caller' }, stepUp: true },
      schema: {
        tags: ['mfa'],
        summary: 'Replace your backup codes with 10 new ones (the old ones stop working)',
        response: { 200: BackupCodesSchema, ...stepUpResponse, 409: errorResponse('No factor enrolled.') },
      },
    },
    (request, reply) => runWrite(request, reply, { status: 200, carriesSecret: true }, (tx) => mfa.regenerateBackupCodes(tx, request.principal!)),
  );

  app.post(
    '/users/:id/mfa/reset',
    {
      config: { access: { permission: ['members:manage', 'platform:users:manage'] }, audit: { action: 'mfa.reset' }, stepUp: true },
      schema: {
        tags: ['mfa'],
        summary: "Remove a user's factors and backup codes (owners and admins for members; super-admins for anyone); the user is told by mail",
        params: IdParams,
        response: { 200: MfaResetSchema, ...stepUpResponse },
      },
    },
    async (request, reply) => {
      const result = await runWrite(request, reply, { status: 200 }, (tx) => mfa.adminReset(tx, request.principal!, request.params.id));
      return afterCommit(request.params.id, result);
    },
  );

  app.put(
    '/orgs/:id/mfa-policy',
    {
      config: { access: { permission: 'orgs:update' }, audit: { action: 'mfa.policy.updated', orgParam: 'id' }, stepUp: true },
      schema: {
        tags: ['mfa'],
        summary: "Set the organisation's MFA requirement (the enrollment grace starts again now)",
        params: IdParams,
        body: OrgMfaPolicyBody,
        response: { 200: OrgMfaPolicySchema, ...stepUpResponse },
      },
    },
    async (request, reply) => {
      let changed: string[] = [];
      const result = await runWrite(request, reply, { status: 200 }, async (tx) => {
        const { memberIds, ...policy } = await mfa.setOrgPolicy(tx, request.principal!, request.params.id, request.body.requirement);
        changed = memberIds;
        return policy;
      });
      // Every member's requirement may have changed: their cached grants go (a replay changed nothing).
      await Promise.all(changed.map((userId) => userChanged(userId)));
      return result;
    },
  );
};
