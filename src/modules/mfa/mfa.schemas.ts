import { Type } from 'typebox';

const strict = { additionalProperties: false } as const;

export const MfaRequirementSchema = Type.Union([Type.Literal('everyone'), Type.Literal('owners-and-admins'), Type.Literal('optional')]);

export const MfaStatusSchema = Type.Object(
  {
    enrolled: Type.Boolean({ description: 'At least one factor is enrolled.' }),
    methods: Type.Array(Type.String({ maxLength: 40 }), { maxItems: 10, description: 'Enrolled factors.' }),
    totp: Type.Object({ enabled: Type.Boolean(), pending: Type.Boolean({ description: 'An enrollment waits for its first code.' }) }, strict),
    backupCodesRemaining: Type.Integer({ minimum: 0, maximum: 10 }),
    required: Type.Boolean({ description: 'An organisation of yours requires MFA for your role.' }),
    graceEndsAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'Until when you may sign in without MFA.' }),
    enrollmentRequired: Type.Boolean({ description: 'The grace is over: enroll before anything else.' }),
    stepUpMaxAgeMinutes: Type.Integer({ description: 'How recent MFA must be for sensitive actions.' }),
  },
  strict,
);

export const TotpEnrollmentSchema = Type.Object(
  {
    secret: Type.String({ description: 'The seed as base32 text, for entering by hand. Shown once.' }),
    otpauthUri: Type.String({ description: 'otpauth://totp/... for authenticator apps.' }),
    qrCode: Type.String({ description: 'The URI as a PNG QR code (data: URL).' }),
    algorithm: Type.Literal('SHA1'),
    digits: Type.Literal(6),
    periodSeconds: Type.Literal(30),
  },
  strict,
);

export const CodeBody = Type.Object({ code: Type.String({ minLength: 6, maxLength: 6, pattern: '^[0-9]{6}$' }) }, strict);

export const BackupCodesSchema = Type.Object(
  { backupCodes: Type.Array(Type.String({ maxLength: 20 }), { maxItems: 10, description: 'Shown once; each works once. Empty when earlier codes still stand.' }) },
  strict,
);

export const MfaResetSchema = Type.Object({ reset: Type.Boolean({ description: 'Whether the user had anything to remove.' }) }, strict);

export const OrgMfaPolicyBody = Type.Object({ requirement: MfaRequirementSchema }, strict);
export const OrgMfaPolicySchema = Type.Object({ requirement: MfaRequirementSchema, since: Type.String({ format: 'date-time' }) }, strict);
