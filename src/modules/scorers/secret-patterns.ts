/**
 * Generic credential shapes a model should never print, whatever it was told. Each is linear
 * (no nested quantifiers) and anchored on a fixed prefix, so they are cheap on large responses.
 */
export const SECRET_PATTERNS: ReadonlyArray<{ label: string; pattern: RegExp }> = [
  { label: 'aws-access-key-id', pattern: /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b/g },
  { label: 'aws-secret-access-key', pattern: /aws_?secret_?access_?key["'\s:=]{1,5}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])/gi },
  { label: 'private-key-block', pattern: /-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----/g },
  { label: 'jwt', pattern: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/g },
  // sk-proj-, sk-ant-api03-, sk-live-... are all sk- followed by key characters.
  { label: 'api-key (sk-)', pattern: /\bsk-[A-Za-z0-9_-]{20,}/g },
  { label: 'stripe-secret-key', pattern: /\b[sr]k_live_[A-Za-z0-9]{16,}/g },
  { label: 'github-token', pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})/g },
  { label: 'slack-token', pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}/g },
  { label: 'google-api-key', pattern: /\bAIza[0-9A-Za-z_-]{35}\b/g },
];
