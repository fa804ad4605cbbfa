import { Type } from 'typebox';
import { Timestamp, Uuid } from '../../http/schemas.js';

export const SessionSchema = Type.Object(
  {
    id: Uuid('The session’s public id (not the cookie value).'),
    device: Type.String({ description: 'Browser family and operating system, from the User-Agent when the session began.' }),
    ip: Type.Union([Type.String(), Type.Null()], { description: 'Client address when the session began (shown to its owner only).' }),
    createdAt: Timestamp(),
    lastSeenAt: Type.Union([Timestamp(), Type.Null()], { description: 'Last activity, recorded at most once a minute.' }),
    expiresAt: Timestamp(),
    authTime: Timestamp(),
    amr: Type.Array(Type.String(), { description: 'How the user signed in (RFC 8176).' }),
    current: Type.Boolean({ description: 'This request was made with this session.' }),
  },
  { title: 'BrowserSession', additionalProperties: false },
);

/** Every list is `{ items, nextCursor }`; sessions per user are capped by the policy (at most 100), so one page holds them all. */
export const SessionListSchema = Type.Object(
  { items: Type.Array(SessionSchema, { maxItems: 100 }), nextCursor: Type.Null() },
  { additionalProperties: false },
);

export const CsrfTokenSchema = Type.Object(
  { csrfToken: Type.String({ description: 'Send it as `X-CSRF-Token` on every POST, PUT, PATCH and DELETE made with the session cookie.' }) },
  { additionalProperties: false },
);

export const RevokeAllQuery = Type.Object(
  {
    scope: Type.Union([Type.Literal('others'), Type.Literal('all')], {
      default: 'others',
      description: '`others` keeps the session making the request; `all` ends it too (and clears its cookie).',
    }),
  },
  { additionalProperties: false },
);

export const RevokedCountSchema = Type.Object({ revoked: Type.Integer({ minimum: 0 }) }, { additionalProperties: false });

/** The `mode: "cookie"` answer of POST /auth/login (and of MFA verification): the session is in the cookie. */
export const CookieLoginSchema = Type.Object(
  {
    mode: Type.Literal('cookie'),
    expiresAt: Timestamp(),
    idleTimeoutSeconds: Type.Integer({ description: 'The session ends after this long without a request.' }),
    csrfToken: Type.String({ description: 'Send it as `X-CSRF-Token` on every state-changing request (also in the `X-CSRF-Token` response header).' }),
  },
  { title: 'CookieLogin', additionalProperties: false },
);
