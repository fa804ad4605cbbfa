import { Type } from 'typebox';
import { NameString, Timestamp, Uuid } from '../../http/schemas.js';

const strict = { additionalProperties: false } as const;
/** base64url, bounded: ids, challenges, signatures and CBOR blobs the browser encodes. */
const B64 = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]*$' });
const Transports = Type.Array(Type.String({ maxLength: 20 }), { maxItems: 8 });
const ExtensionResults = Type.Object({ credProps: Type.Optional(Type.Object({ rk: Type.Optional(Type.Boolean()) }, strict)) }, strict);
const Attachment = Type.Optional(Type.Union([Type.Literal('platform'), Type.Literal('cross-platform')]));

/** What `PublicKeyCredential.toJSON()` gives after `navigator.credentials.create()`. */
export const RegistrationCredentialSchema = Type.Object(
  {
    id: B64(1400),
    rawId: B64(1400),
    type: Type.Literal('public-key'),
    authenticatorAttachment: Attachment,
    clientExtensionResults: ExtensionResults,
    response: Type.Object(
      {
        clientDataJSON: B64(4096),
        attestationObject: B64(16384),
        authenticatorData: Type.Optional(B64(8192)),
        transports: Type.Optional(Transports),
        publicKeyAlgorithm: Type.Optional(Type.Integer()),
        publicKey: Type.Optional(B64(4096)),
      },
      strict,
    ),
  },
  strict,
);

/** What `PublicKeyCredential.toJSON()` gives after `navigator.credentials.get()`. */
export const AuthenticationCredentialSchema = Type.Object(
  {
    id: B64(1400),
    rawId: B64(1400),
    type: Type.Literal('public-key'),
    authenticatorAttachment: Attachment,
    clientExtensionResults: ExtensionResults,
    response: Type.Object(
      {
        clientDataJSON: B64(4096),
        authenticatorData: B64(8192),
        signature: B64(1024),
        userHandle: Type.Optional(B64(128)),
      },
      strict,
    ),
  },
  strict,
);

const Descriptor = Type.Object({ id: B64(1400), type: Type.Literal('public-key'), transports: Type.Optional(Transports) }, strict);
const UserVerification = Type.Union([Type.Literal('required'), Type.Literal('preferred'), Type.Literal('discouraged')]);

export const RegistrationOptionsSchema = Type.Object(
  {
    challenge: B64(128),
    rp: Type.Object({ name: Type.String({ maxLength: 100 }), id: Type.Optional(Type.String({ maxLength: 253 })) }, strict),
    user: Type.Object({ id: B64(128), name: Type.String({ maxLength: 254 }), displayName: Type.String({ maxLength: 200 }) }, strict),
    pubKeyCredParams: Type.Array(Type.Object({ alg: Type.Integer(), type: Type.Literal('public-key') }, strict), { maxItems: 10 }),
    timeout: Type.Optional(Type.Integer()),
    excludeCredentials: Type.Optional(Type.Array(Descriptor, { maxItems: 20 })),
    authenticatorSelection: Type.Optional(
      Type.Object(
        {
          authenticatorAttachment: Type.Optional(Type.String({ maxLength: 20 })),
          requireResidentKey: Type.Optional(Type.Boolean()),
          residentKey: Type.Optional(Type.String({ maxLength: 20 })),
          userVerification: Type.Optional(UserVerification),
        },
        strict,
      ),
    ),
    hints: Type.Optional(Type.Array(Type.String({ maxLength: 20 }), { maxItems: 3 })),
    attestation: Type.Optional(Type.String({ maxLength: 20 })),
    extensions: Type.Optional(Type.Object({ credProps: Type.Optional(Type.Boolean()) }, strict)),
  },
  { ...strict, description: 'PublicKeyCredentialCreationOptionsJSON: pass to PublicKeyCredential.parseCreationOptionsFromJSON().' },
);

export const AuthenticationOptionsSchema = Type.Object(
  {
    challenge: B64(128),
    timeout: Type.Optional(Type.Integer()),
    rpId: Type.Optional(Type.String({ maxLength: 253 })),
    allowCredentials: Type.Optional(Type.Array(Descriptor, { maxItems: 20 })),
    userVerification: Type.Optional(UserVerification),
    hints: Type.Optional(Type.Array(Type.String({ maxLength: 20 }), { maxItems: 3 })),
  },
  { ...strict, description: 'PublicKeyCredentialRequestOptionsJSON: pass to PublicKeyCredential.parseRequestOptionsFromJSON().' },
);

export const PasskeySchema = Type.Object(
  {
    id: Uuid(),
    name: Type.String({ maxLength: 64 }),
    aaguid: Type.String({ maxLength: 36, description: 'The authenticator model (all zeros when it does not say).' }),
    transports: Transports,
    backedUp: Type.Boolean({ description: 'The credential is synced (a multi-device passkey).' }),
    createdAt: Timestamp(),
    lastUsedAt: Type.Union([Timestamp(), Type.Null()]),
  },
  strict,
);

export const PasskeyListSchema = Type.Object({ items: Type.Array(PasskeySchema, { maxItems: 10 }) }, strict);

export const RegisteredPasskeySchema = Type.Object(
  {
    passkey: PasskeySchema,
    backupCodes: Type.Array(Type.String({ maxLength: 20 }), { maxItems: 10, description: 'With a first factor only: shown once.' }),
  },
  strict,
);

export const RegisterPasskeyBody = Type.Object({ name: Type.Optional(NameString(64)), credential: RegistrationCredentialSchema }, strict);
export const RenamePasskeyBody = Type.Object({ name: NameString(64) }, strict);
export const MfaTokenBody = Type.Object({ mfaToken: Type.String({ minLength: 1, maxLength: 200 }) }, strict);
