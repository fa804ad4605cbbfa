/** Why an outbound request failed; stable, so callers (webhooks, targets) can branch and count on it. */
export type EgressErrorCode =
  | 'egress_invalid_url'
  | 'egress_invalid_request'
  | 'egress_denied_address'
  | 'egress_timeout'
  | 'egress_response_too_large'
  | 'egress_network'
  | 'egress_aborted';

// Fixed texts: a message never carries the URL (its query string may hold a token), a header value, a
// body, or the address a name resolved to (that would let whoever configures a target map the network).
const MESSAGES: Readonly<Record<EgressErrorCode, string>> = {
  egress_invalid_url: 'The destination URL is not allowed (http or https only, without credentials).',
  egress_invalid_request: 'The outbound request is not valid (method, headers, body size or limits).',
  egress_denied_address: 'The destination address is not allowed.',
  egress_timeout: 'The destination did not answer in time.',
  egress_response_too_large: 'The destination answered with more data than allowed.',
  egress_network: 'The destination could not be reached.',
  egress_aborted: 'The request was cancelled before it completed.',
};

/** The one error the egress client throws; its message is safe to log and to show. */
export class EgressError extends Error {
  readonly code: EgressErrorCode;

  constructor(code: EgressErrorCode, options: { cause?: unknown } = {}) {
    super(MESSAGES[code], { cause: options.cause });
    this.name = 'EgressError';
    this.code = code;
  }
}

export const isEgressError = (value: unknown): value is EgressError => value instanceof EgressError;
