import type { Policy } from '../../config/policy.schema.js';
import { AppError } from '../../platform/errors.js';
import { foldPassword } from './password-blocklist.js';
import type { PasswordStrengthEstimator } from './password-policy-strength.js';

/**
 * The password rules of NIST SP 800-63B-4 §3.1.1.2 (ASVS 5.0 V6.2): a minimum length, a generous
 * maximum, any Unicode, no composition rules, and refusal of common, user-derived or guessable
 * passwords. Checked when a password is set (registration, change, reset, bootstrap), not at login.
 *
 * A rejection is a 422 AppError whose `code` is the rule that refused it. The code is the only
 * machine-readable field a client sees (the problem+json schema admits nothing else), so one generic
 * code would leave clients parsing prose. Every rule code starts with `password_`; `detail` and
 * `errors[0].detail` carry the same sentence, `errors[0].pointer` names the field.
 */
export const PASSWORD_RULES = [
  /** Longer than `maxLength` code points after NFKC (or so long it cannot be short enough). */
  'password_too_long',
  /** Contains an unpaired UTF-16 surrogate: not Unicode text, and it cannot be hashed as UTF-8. */
  'password_malformed',
  /** Shorter than `minLength` (or `minLengthWithMfa` where the organisation requires MFA). */
  'password_too_short',
  /** Equal, after folding, to an entry of the common-password blocklist. */
  'password_blocklisted',
  /** Contains the user's email address, its local part, the display name or a word of it. */
  'password_contains_identity',
  /** zxcvbn score below `minStrengthScore`. */
  'password_too_weak',
] as const;

/** The machine-readable name of a password rule, used as the AppError code. */
export type PasswordRule = (typeof PASSWORD_RULES)[number];

/** The tunables this policy reads, fresh on every check so a policy reload applies at once. */
export type PasswordPolicySettings = Pick<Policy['password'], 'minLength' | 'minLengthWithMfa' | 'maxLength' | 'minStrengthScore'>;

/** Who is choosing the password, and where it sits in the request body. */
export interface PasswordContext {
  email?: string | undefined;
  displayName?: string | undefined;
  /** The organisation requires MFA, so the shorter `minLengthWithMfa` applies (NIST SP 800-63B-4). */
  orgRequiresMfa: boolean;
  /** Body field holding the password, for the error's JSON pointer; `password` when omitted. */
  field?: string | undefined;
}

export interface PasswordPolicy {
  /** Returns when the password is acceptable; throws a 422 AppError naming the rule otherwise. */
  check(password: string, context: PasswordContext): void;
}

/**
 * The form passwords are hashed and compared in: NFKC, so the same password typed on another
 * keyboard or OS is the same password (NIST SP 800-63B-4). Case and everything else are kept
 * (ASVS V6.2.8). The hasher applies it too; callers use it to measure what will be stored.
 */
export function normalisePassword(password: string): string {
  return password.normalize('NFKC');
}

/**
 * NFKC can shrink text (a base letter and up to three combining marks compose into one code point;
 * a surrogate pair is one code point), so a password of `maxLength` code points may arrive longer.
 * Four UTF-16 units per code point covers those cases; anything longer is refused unread, before
 * normalisation, identity matching or zxcvbn run on it (a 1 MB password is a denial of service).
 */
const RAW_UNITS_PER_CODE_POINT = 4;

/** Identity fragments shorter than this would refuse far too much ("al", "jo" are in many words). */
const MIN_IDENTITY_FRAGMENT = 3;

const LONE_SURROGATE = /\p{Surrogate}/u;
const WORD_SEPARATORS = /[^\p{L}\p{M}\p{N}]+/u;

const codePoints = (text: string): number => {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
};

/** RFC 6901 escaping, so a field name with "/" or "~" still yields a pointer to that field. */
const pointerTo = (field: string): string => `/${field.replaceAll('~', '~0').replaceAll('/', '~1')}`;

function reject(rule: PasswordRule, sentence: string, field: string): AppError {
  return new AppError(422, rule, { detail: sentence, errors: [{ in: 'body', pointer: pointerTo(field), detail: sentence }] });
}

/**
 * Strings the password must not contain, and zxcvbn's user inputs: the whole email, its local part
 * and the display name with each of its words, NFKC-normalised, each at least 3 code points long.
 */
function identityFragments(context: PasswordContext): string[] {
  const fragments = new Set<string>();
  const add = (value: string | undefined) => {
    const text = value?.normalize('NFKC').trim();
    if (text !== undefined && codePoints(text) >= MIN_IDENTITY_FRAGMENT) fragments.add(text);
  };
  const email = context.email?.trim();
  add(email);
  if (email?.includes('@')) add(email.slice(0, email.lastIndexOf('@')));
  add(context.displayName);
  for (const word of context.displayName?.normalize('NFKC').split(WORD_SEPARATORS) ?? []) add(word);
  return [...fragments];
}

/**
 * Rules run cheapest first, and the order is part of the contract: length before anything that reads
 * the whole string, the blocklist before zxcvbn (a listed password gets the clearer reason), zxcvbn
 * last because it is the only costly step (up to ~120 ms on adversarial input).
 */
export function createPasswordPolicy(deps: {
  /** Folded entries (see foldPassword); loadPasswordBlocklist builds it from the shipped file. */
  blocklist: Pick<ReadonlySet<string>, 'has'>;
  policy: () => PasswordPolicySettings;
  strength: PasswordStrengthEstimator;
}): PasswordPolicy {
  return {
    check(password, context) {
      const settings = deps.policy();
      const field = context.field ?? 'password';
      const tooLong = `The password must have at most ${settings.maxLength} characters.`;
      if (password.length > settings.maxLength * RAW_UNITS_PER_CODE_POINT) throw reject('password_too_long', tooLong, field);
      if (LONE_SURROGATE.test(password)) {
        throw reject('password_malformed', 'The password is not valid Unicode text (it holds an unpaired surrogate).', field);
      }

      const normalised = normalisePassword(password);
      const length = codePoints(normalised);
      if (length > settings.maxLength) throw reject('password_too_long', tooLong, field);
      const minLength = context.orgRequiresMfa ? settings.minLengthWithMfa : settings.minLength;
      if (length < minLength) throw reject('password_too_short', `The password must have at least ${minLength} characters.`, field);

      const folded = foldPassword(normalised);
      if (deps.blocklist.has(folded)) {
        throw reject('password_blocklisted', 'The password is one of the most commonly used passwords; choose another.', field);
      }

      const identity = identityFragments(context);
      if (identity.some((fragment) => folded.includes(foldPassword(fragment)))) {
        throw reject('password_contains_identity', 'The password must not contain your email address or your name.', field);
      }

      if (deps.strength(normalised, identity) < settings.minStrengthScore) {
        throw reject(
          'password_too_weak',
          'The password is too easy to guess; a longer phrase of unrelated words is both stronger and easier to remember.',
          field,
        );
      }
    },
  };
}
