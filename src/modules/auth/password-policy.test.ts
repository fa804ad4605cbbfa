import { randomBytes } from 'node:crypto';
import { dictionary } from '@zxcvbn-ts/language-common';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildPolicy } from '../../config/policy-file.js';
import { AppError } from '../../platform/errors.js';
import { loadPasswordBlocklist, parseBlocklist } from './password-blocklist.js';
import { createZxcvbnEstimator, type PasswordStrengthEstimator } from './password-policy-strength.js';
import { createPasswordPolicy, normalisePassword, type PasswordContext, type PasswordPolicySettings, type PasswordRule } from './password-policy.js';

// The shipped defaults (15 / 8 with MFA / 128 / score 3), from the real schema rather than copied here.
const DEFAULTS: PasswordPolicySettings = buildPolicy({}, 'defaults').policy.password;
const shippedBlocklist = loadPasswordBlocklist();
const zxcvbn = createZxcvbnEstimator();
// Isolates the other rules from zxcvbn where a test is about them, not about guessability.
const alwaysStrong: PasswordStrengthEstimator = () => 4;

const policyWith = (options: { strength?: PasswordStrengthEstimator; settings?: Partial<PasswordPolicySettings>; blocklist?: ReadonlySet<string> } = {}) =>
  createPasswordPolicy({
    blocklist: options.blocklist ?? shippedBlocklist,
    policy: () => ({ ...DEFAULTS, ...options.settings }),
    strength: options.strength ?? zxcvbn,
  });

const noMfa: PasswordContext = { orgRequiresMfa: false };
const withMfa: PasswordContext = { orgRequiresMfa: true };

/** The rule a check refused with, or 'accepted'; asserts the error's full shape on the way. */
function outcome(check: () => void): PasswordRule | 'accepted' {
  try {
    check();
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    const appError = error as AppError;
    expect(appError.status).toBe(422);
    expect(appError.code).toMatch(/^password_/);
    expect(appError.errors).toEqual([{ in: 'body', pointer: expect.stringMatching(/^\//), detail: appError.detail }]);
    return appError.code as PasswordRule;
  }
}

const checkWith = (policy: ReturnType<typeof policyWith>, password: string, context: PasswordContext = noMfa) =>
  outcome(() => policy.check(password, context));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('password policy: length (NIST SP 800-63B-4)', () => {
  const policy = policyWith();

  it('V6.2.1 refuses 14 characters and accepts 15 without MFA, naming the rule and the field', () => {
    expect(checkWith(policy, 'kq8$Zm2!vR7p@L')).toBe('password_too_short');
    expect(checkWith(policy, 'kq8$Zm2!vR7p@Lw')).toBe('accepted');
    expect(() => policy.check('kq8$Zm2!vR7p@L', noMfa)).toThrow(
      expect.objectContaining({
        code: 'password_too_short',
        detail: 'The password must have at least 15 characters.',
        errors: [{ in: 'body', pointer: '/password', detail: 'The password must have at least 15 characters.' }],
      }),
    );
  });

  it('V6.2.1 allows 8 characters only where the organisation requires MFA', () => {
    const lengthOnly = policyWith({ strength: alwaysStrong });
    expect(checkWith(lengthOnly, 'Zp4$kW9!', withMfa)).toBe('accepted');
    expect(checkWith(lengthOnly, 'Zp4$kW9', withMfa)).toBe('password_too_short');
    expect(checkWith(lengthOnly, 'Zp4$kW9!', noMfa)).toBe('password_too_short');
    // End to end with zxcvbn: eight emoji are eight code points.
    expect(checkWith(policy, '🦊🌲🚲🎻🧀🌋🪁🦉', withMfa)).toBe('accepted');
    expect(checkWith(policy, '🦊🌲🚲🎻🧀🌋🪁🦉', noMfa)).toBe('password_too_short');
  });

  it('with the default minimum score 3, zxcvbn refuses 8 random ASCII characters (10^8 guesses is score 2): MFA users need 9+', () => {
    expect(checkWith(policy, 'Zp4$kW9!', withMfa)).toBe('password_too_weak');
    expect(checkWith(policy, 'x7#Qv!2Lm9', withMfa)).toBe('accepted');
  });

  it('V6.2.9 accepts 64 and 128 characters and refuses 129', () => {
    const phrase = 'plum-orbit-canvas-lantern-97 '.repeat(5);
    expect(checkWith(policy, phrase.slice(0, 64))).toBe('accepted');
    expect(checkWith(policy, phrase.slice(0, 128))).toBe('accepted');
    expect(checkWith(policy, phrase.slice(0, 129))).toBe('password_too_long');
    expect(() => policy.check(phrase.slice(0, 129), noMfa)).toThrow('The password must have at most 128 characters.');
  });

  it('counts Unicode code points after NFKC, not UTF-16 units or raw input', () => {
    const lengthOnly = policyWith({ strength: alwaysStrong });
    // Full-width letters are their ASCII selves: 15 characters.
    expect(checkWith(lengthOnly, 'ｋｑ８＄Ｚｍ２！ｖＲ７ｐ＠Ｌｗ')).toBe('accepted');
    // The ligature "ﬁ" becomes "fi": 14 code points in, 15 after NFKC.
    expect(checkWith(lengthOnly, 'ﬁrm-orbit-cano')).toBe('accepted');
    // "e" + combining acute composes to "é": 15 code points in, 14 after NFKC.
    expect(checkWith(lengthOnly, 'cafe\u0301-orbit-lam')).toBe('password_too_short');
    // Emoji are two UTF-16 units each but one character.
    expect(checkWith(lengthOnly, '🦊'.repeat(15))).toBe('accepted');
    expect(checkWith(lengthOnly, '🦊'.repeat(14))).toBe('password_too_short');
    expect(checkWith(lengthOnly, '🦊'.repeat(128))).toBe('accepted');
    expect(checkWith(lengthOnly, '🦊'.repeat(129))).toBe('password_too_long');
  });

  it('refuses a 1 MB password as too long before normalising it or running zxcvbn', () => {
    const strength = vi.fn(zxcvbn);
    const normalize = vi.spyOn(String.prototype, 'normalize');
    const spied = policyWith({ strength });
    const huge = 'kq8$Zm2!vR7p@Lw-'.repeat(65_536);
    const started = performance.now();
    expect(checkWith(spied, huge)).toBe('password_too_long');
    expect(performance.now() - started).toBeLessThan(50);
    expect(normalize).not.toHaveBeenCalled();
    expect(strength).not.toHaveBeenCalled();
  });

  it('reads the policy on every check, so a reloaded minimum applies at once', () => {
    let settings = DEFAULTS;
    const reloadable = createPasswordPolicy({ blocklist: shippedBlocklist, policy: () => settings, strength: alwaysStrong });
    expect(outcome(() => reloadable.check('kq8$Zm2!vR7p@Lw', noMfa))).toBe('accepted');
    settings = { ...DEFAULTS, minLength: 16 };
    expect(outcome(() => reloadable.check('kq8$Zm2!vR7p@Lw', noMfa))).toBe('password_too_short');
  });
});

describe('password policy: characters and composition', () => {
  const policy = policyWith();

  it.each([
    ['emoji', '🦊🌲🚲🎻🧀🌋🪁🦉🍄🛶🧭🎲🪴🐙🏺'],
    ['CJK', '紫色的猫在月光下跳舞唱歌吃苹果'],
    ['Cyrillic with spaces', 'тихий вечер над рекой сорок два'],
    ['full-width Latin', 'ｋｑ８＄Ｚｍ２！ｖＲ７ｐ＠Ｌｗ'],
  ])('V6.2.5 accepts any Unicode: %s', (_name, password) => {
    expect(checkWith(policy, password)).toBe('accepted');
  });

  it.each([
    ['lower-case words and spaces only', 'violet tractor humming beneath quiet ferns'],
    ['lower-case letters only', 'violettractorhummingbeneath'],
    ['upper-case only', 'VIOLET TRACTOR HUMMING BENEATH'],
    ['digits only', '4829173650918273645'],
  ])('V6.2.5 imposes no composition rules: %s is accepted', (_name, password) => {
    expect(checkWith(policy, password)).toBe('accepted');
  });

  it('refuses an unpaired surrogate, which is not Unicode text and could not be hashed', () => {
    expect(checkWith(policyWith({ strength: alwaysStrong }), 'plum-orbit-canvas-\uD83E-97')).toBe('password_malformed');
  });

  it('V6.2.8 normalisePassword applies NFKC only: case and spacing are kept', () => {
    expect(normalisePassword('ＰａｓｓＷｏｒｄ ﬁve Ⅻ')).toBe('PassWord five XII');
    expect(normalisePassword('cafe\u0301')).toBe('café');
    expect(normalisePassword(' Two  Spaces ')).toBe(' Two  Spaces ');
  });

  it('points the error at the field it was given (RFC 6901 escaped)', () => {
    const policyUnderTest = policyWith();
    for (const [field, pointer] of [['newPassword', '/newPassword'], ['a/b~c', '/a~1b~0c']] as const) {
      expect(() => policyUnderTest.check('short', { orgRequiresMfa: false, field })).toThrow(
        expect.objectContaining({ errors: [expect.objectContaining({ pointer })] }),
      );
    }
  });
});

describe('password policy: blocklist', () => {
  // zxcvbn would refuse most of these too; a stub proves the blocklist itself refuses them.
  const policy = policyWith({ strength: alwaysStrong });
  const reachable = [...shippedBlocklist].filter((entry) => [...entry].length >= DEFAULTS.minLengthWithMfa);

  it('V6.2.4 refuses every shipped entry the length rules let through, in any case', () => {
    expect(reachable.length).toBeGreaterThan(2000);
    const notRefused = reachable.filter(
      (entry) => checkWith(policy, entry, withMfa) !== 'password_blocklisted' || checkWith(policy, entry.toUpperCase(), withMfa) !== 'password_blocklisted',
    );
    expect(notRefused).toEqual([]);
  });

  it.each([
    ['mixed case', 'PassWord', withMfa],
    ['full-width', 'ｐａｓｓｗｏｒｄ', withMfa],
    ['full-width upper case', 'ＰＡＳＳＷＯＲＤ', withMfa],
    ['full-width plus signs, 18 characters, no MFA', 'FILMS＋PIC＋GALERIES', noMfa],
  ])('V6.2.4 matches entries through NFKC and case folding: %s', (_name, password, context) => {
    expect(checkWith(policy, password, context)).toBe('password_blocklisted');
  });

  it('folds beyond ASCII: ß matches SS, and the blocklist is checked before zxcvbn', () => {
    const strength = vi.fn(alwaysStrong);
    const custom = policyWith({ strength, blocklist: new Set(parseBlocklist('Straßenbahn-Linie-17\n')) });
    expect(checkWith(custom, 'STRASSENBAHN-LINIE-17')).toBe('password_blocklisted');
    expect(strength).not.toHaveBeenCalled();
  });
});

describe('password policy: identity', () => {
  const policy = policyWith({ strength: alwaysStrong });
  const alice: PasswordContext = { email: 'Alice.Smith@example.com', displayName: 'Alice Smith', orgRequiresMfa: false };

  const byEmail: PasswordContext = { email: alice.email, orgRequiresMfa: false };
  const byName: PasswordContext = { displayName: alice.displayName, orgRequiresMfa: false };

  it.each([
    ['the whole email', 'alice.smith@example.com-orbit', byEmail],
    ['the email local part, in another case', 'xALICE.SMITHy-lantern-97', byEmail],
    ['the display name', 'quiet alice smith lantern', byName],
    ['a word of the display name', 'blacksmith-orbit-canvas-97', byName],
    ['a full-width word of the display name', 'quiet-ferns-ａｌｉｃｅ-orbit-lantern', byName],
  ])('V6.2.11 (the user’s own context words) refuses a password containing %s', (_name, password, context) => {
    expect(checkWith(policy, password, context)).toBe('password_contains_identity');
    expect(() => policy.check(password, context)).toThrow('The password must not contain your email address or your name.');
  });

  it('lets the same passwords through for another user', () => {
    const bob: PasswordContext = { email: 'bob.jones@example.com', displayName: 'Bob Jones', orgRequiresMfa: false };
    expect(checkWith(policy, 'xALICE.SMITHy-lantern-97', bob)).toBe('accepted');
    expect(checkWith(policy, 'blacksmith-orbit-canvas-97', bob)).toBe('accepted');
  });

  it('matches a name through NFKC and case folding', () => {
    const context: PasswordContext = { displayName: 'Jürgen Straße', orgRequiresMfa: false };
    expect(checkWith(policy, 'orbit-STRASSE-lantern-97', context)).toBe('password_contains_identity');
    expect(checkWith(policy, 'orbit-JU\u0308RGEN-lantern-97', context)).toBe('password_contains_identity');
  });

  it('ignores identity fragments shorter than 3 characters', () => {
    const context: PasswordContext = { email: 'al@example.com', displayName: 'Jo Li', orgRequiresMfa: false };
    expect(checkWith(policyWith(), 'calm-jolly-lima-orbit-97', context)).toBe('accepted');
  });

  it('gives zxcvbn the normalised password and the identity as user inputs', () => {
    const strength = vi.fn(zxcvbn);
    policyWith({ strength }).check('ｖｉｏｌｅｔ tractor humming beneath', alice);
    expect(strength).toHaveBeenCalledWith('violet tractor humming beneath', [
      'Alice.Smith@example.com',
      'Alice.Smith',
      'Alice Smith',
      'Alice',
      'Smith',
    ]);
  });
});

describe('password policy: guessability (zxcvbn)', () => {
  const policy = policyWith();

  it.each(['aaaaaaaaaaaaaaaa', 'passwordpassword', '1234567890123456', 'qwertyuiopasdfgh', 'iloveyou12345678', 'Password123456789'])(
    'refuses %j as too weak, naming the rule',
    (password) => {
      expect(checkWith(policy, password)).toBe('password_too_weak');
      expect(() => policy.check(password, noMfa)).toThrow(expect.objectContaining({ code: 'password_too_weak', status: 422 }));
    },
  );

  it('applies the configured minimum score', () => {
    // zxcvbn scores this 3: enough by default, not when the operator asks for 4.
    expect(checkWith(policy, 'sunshine2024sunshine')).toBe('accepted');
    expect(checkWith(policyWith({ settings: { minStrengthScore: 4 } }), 'sunshine2024sunshine')).toBe('password_too_weak');
  });

  it('accepts long random passphrases (five diceware words) and generated secrets', () => {
    const words = dictionary['diceware-common'].filter((word) => word.length >= 5);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...words), { minLength: 5, maxLength: 5 }), fc.constantFrom(' ', '-', '.'), (picked, separator) => {
        expect(checkWith(policy, picked.join(separator))).toBe('accepted');
      }),
      { numRuns: 30 },
    );
    // The bootstrap's generated admin password must pass the policy it will later be changed under.
    expect(checkWith(policy, randomBytes(24).toString('base64url'))).toBe('accepted');
  });
});
