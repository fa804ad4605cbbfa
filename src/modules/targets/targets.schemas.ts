import { Type, type Static } from 'typebox';
import { AttackText, NameString, Timestamp, Uuid } from '../../http/schemas.js';

/**
 * Target schemas (issue 5 §1). Every size and count is bounded; secrets (API keys, secret header
 * values) appear only in request bodies and never in a response schema, so fast-json-stringify could
 * not serialise one even if a service returned it.
 */

export const TARGET_KINDS = ['openai-chat', 'http', 'sim:echo', 'sim:refuse', 'sim:leaky', 'sim:flaky', 'sim:slow'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];
export const isSimulated = (kind: TargetKind): boolean => kind.startsWith('sim:');

// The egress client's own header-name rule, bounded shorter.
const HeaderName = () => Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$" });
// No control characters: a CR or LF in a header value is request smuggling.
const HeaderValue = (maxLength: number) => Type.String({ maxLength, pattern: '^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f]*$' });
const HttpUrl = () => Type.String({ minLength: 8, maxLength: 2048, pattern: '^[Hh][Tt][Tt][Pp][Ss]?://', description: 'http or https URL; checked by the egress client at send time.' });
const Statuses = (description: string) => Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { maxItems: 20, uniqueItems: true, description });

export const OpenAiChatConfig = Type.Object(
  {
    baseUrl: HttpUrl(),
    model: NameString(200, 'Model name sent as `model`.'),
    parameters: Type.Optional(
      Type.Object(
        {
          temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
          maxTokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 32_768 })),
          topP: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
          frequencyPenalty: Type.Optional(Type.Number({ minimum: -2, maximum: 2 })),
          presencePenalty: Type.Optional(Type.Number({ minimum: -2, maximum: 2 })),
          seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
          stop: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 4 })),
        },
        { additionalProperties: false },
      ),
    ),
    systemPrompt: Type.Optional(AttackText(32_768, 'Sent as the first (system) message.')),
    authHeader: Type.Optional(HeaderName()),
    authScheme: Type.Optional(Type.Union([Type.Literal('bearer'), Type.Literal('raw')], { description: '`bearer` sends `Bearer <apiKey>` (default); `raw` sends the key alone.' })),
  },
  { additionalProperties: false, title: 'OpenAiChatConfig' },
);

export const HttpTargetConfig = Type.Object(
  {
    method: Type.Union([Type.Literal('POST'), Type.Literal('PUT'), Type.Literal('PATCH'), Type.Literal('GET')]),
    url: HttpUrl(),
    headers: Type.Optional(
      Type.Record(HeaderName(), HeaderValue(4096), { additionalProperties: false, maxProperties: 32, description: 'Non-secret headers (secret ones go in `credentials.headers`).' }),
    ),
    bodyTemplate: Type.Optional(
      Type.Unknown({ description: 'A JSON value whose string leaves may hold `{{prompt}}` and `{{sessionId}}`; filled as JSON strings. At most 64 KiB, 16 levels.' }),
    ),
    responsePath: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'JSONPath to the answer (no script evaluation); absent: the body as text.' })),
  },
  { additionalProperties: false, title: 'HttpTargetConfig' },
);

export const Canary = () => Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$' });

export const SimConfig = Type.Object(
  {
    canary: Type.Optional(Canary()),
    sequence: Type.Optional(Type.Array(Type.Union([Type.Literal(200), Type.Literal(429), Type.Literal(500), Type.Literal(502), Type.Literal(503)]), { minItems: 1, maxItems: 32 })),
    retryAfterSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 60 })),
    delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 120_000 })),
  },
  { additionalProperties: false, title: 'SimulationConfig', description: 'sim:leaky `canary`; sim:flaky `sequence`, `retryAfterSeconds`; sim:slow `delayMs`; others none.' },
);

export type OpenAiChatConfigValue = Static<typeof OpenAiChatConfig>;
export type HttpTargetConfigValue = Static<typeof HttpTargetConfig>;
export type SimConfigValue = Static<typeof SimConfig>;
export type TargetConfigValue = OpenAiChatConfigValue | HttpTargetConfigValue | SimConfigValue;

export const TargetConfig = Type.Union([OpenAiChatConfig, HttpTargetConfig, SimConfig]);

/** Partial TargetLimits; each field bounded so one target cannot hold the shared limiter hostage. */
export const LimitsInput = Type.Object(
  {
    requestsPerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000, description: 'Requests started per minute across every process (GCRA).' })),
    maxInFlight: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, description: 'Exchanges in flight at once across every process.' })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
    maxRetries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
    retryStatuses: Type.Optional(Statuses('Statuses retried with backoff.')),
    fatalStatuses: Type.Optional(Statuses('Statuses that stop at once.')),
    backoffBaseMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 60_000 })),
    backoffMaxMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000 })),
  },
  { additionalProperties: false },
);
export type LimitsInputValue = Static<typeof LimitsInput>;

export const CredentialsInput = Type.Object(
  {
    apiKey: Type.Optional(Type.Union([HeaderValue(4096), Type.Null()], { description: 'openai-chat: the key for `authHeader`; null removes it.' })),
    headers: Type.Optional(
      Type.Record(HeaderName(), Type.Union([HeaderValue(4096), Type.Null()]), {
        additionalProperties: false,
        maxProperties: 16,
        description: 'http: secret headers by name; null removes one.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Write-only: encrypted at rest, never returned.' },
);
export type CredentialsInputValue = Static<typeof CredentialsInput>;

export const CreateTargetBody = Type.Object(
  {
    name: NameString(200),
    description: Type.Optional(NameString(2000)),
    kind: Type.Union(TARGET_KINDS.map((kind) => Type.Literal(kind))),
    config: TargetConfig,
    limits: Type.Optional(LimitsInput),
    credentials: Type.Optional(CredentialsInput),
  },
  { additionalProperties: false },
);

export const UpdateTargetBody = Type.Object(
  {
    version: Type.Optional(Type.Integer({ minimum: 1, description: 'The version read (or send If-Match).' })),
    name: Type.Optional(NameString(200)),
    description: Type.Optional(Type.Union([NameString(2000), Type.Null()])),
    config: Type.Optional(TargetConfig),
    limits: Type.Optional(LimitsInput),
    credentials: Type.Optional(CredentialsInput),
  },
  { additionalProperties: false },
);

const Limits = Type.Object(
  {
    requestsPerMinute: Type.Integer(),
    maxInFlight: Type.Integer(),
    timeoutMs: Type.Integer(),
    maxRetries: Type.Integer(),
    retryStatuses: Type.Array(Type.Integer()),
    fatalStatuses: Type.Array(Type.Integer()),
    backoffBaseMs: Type.Integer(),
    backoffMaxMs: Type.Integer(),
  },
  { additionalProperties: false },
);

const VersionFields = {
  kind: Type.String(),
  simulated: Type.Boolean({ description: 'A built-in simulation: no network, not a real model.' }),
  config: TargetConfig,
  limits: Limits,
  hasCredential: Type.Boolean(),
  credentialHeaders: Type.Array(Type.String(), { description: 'Names of the secret headers set (never their values).' }),
};

export const TargetSchema = Type.Object(
  {
    id: Uuid(),
    name: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    version: Type.Integer({ description: 'Current version number (also the ETag).' }),
    versionId: Uuid('The current immutable version.'),
    ...VersionFields,
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
  },
  { title: 'Target', additionalProperties: false },
);

export const TargetVersionSchema = Type.Object(
  {
    id: Uuid(),
    targetId: Uuid(),
    number: Type.Integer(),
    ...VersionFields,
    createdAt: Timestamp(),
    createdBy: Type.Union([Uuid(), Type.Null()]),
  },
  { title: 'TargetVersion', additionalProperties: false },
);

export const CredentialsMetadataSchema = Type.Object(
  {
    targetId: Uuid(),
    versionId: Uuid(),
    credentials: Type.Array(
      Type.Object(
        {
          header: Type.String(),
          setAt: Timestamp(),
          setBy: Type.Union([Uuid(), Type.Null()]),
          fingerprint: Type.String({ description: 'First 12 hex characters of a keyed HMAC of the value: tells values apart, reveals nothing.' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { title: 'TargetCredentialsMetadata', additionalProperties: false },
);

export const TestReportSchema = Type.Object(
  {
    ok: Type.Boolean(),
    simulated: Type.Boolean(),
    versionId: Uuid(),
    status: Type.Union([Type.Integer(), Type.Null()]),
    latencyMs: Type.Integer(),
    text: Type.Union([Type.String(), Type.Null()], { description: 'The extracted answer, at most 2,000 characters.' }),
    truncated: Type.Boolean(),
    attempts: Type.Integer(),
    error: Type.Optional(Type.Object({ code: Type.String(), detail: Type.String() }, { additionalProperties: false })),
  },
  { title: 'TargetTestReport', additionalProperties: false },
);
