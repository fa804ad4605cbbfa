/**
 * The messages the service sends, as plain text. Every link is built on PUBLIC_URL; a token appears
 * in the body only (never in a subject, which mail systems log), and in the fragment of a link
 * (`#token=`), which browsers do not send to servers or in Referer headers.
 */
export interface MailTemplates {
  invitation: { orgName: string; role: string; token: string; expiresAt: Date };
  'password-reset': { token: string; expiresAt: Date };
  'password-reset-unknown': Record<string, never>;
  registration: { token: string; expiresAt: Date };
  'registration-exists': Record<string, never>;
  'mfa-reset': Record<string, never>;
}

export type MailTemplate = keyof MailTemplates;

interface Rendered {
  subject: string;
  body: string;
}

const footer = (publicUrl: string) => `\n\n-- \nViolentUTF API at ${publicUrl}\nIf you did not expect this message, you can ignore it.`;

const renderers: { [T in MailTemplate]: (vars: MailTemplates[T], publicUrl: string) => Rendered } = {
  invitation: (vars, url) => ({
    subject: 'You are invited to a ViolentUTF organisation',
    body:
      `You have been invited to join the organisation "${vars.orgName}" as ${vars.role}.\n\n` +
      `Accept the invitation (POST ${url}/api/v1/invitations/accept) with this token before ${vars.expiresAt.toISOString()}:\n\n` +
      `${vars.token}\n\nor open ${url}/accept-invitation#token=${vars.token}`,
  }),
  'password-reset': (vars, url) => ({
    subject: 'Reset your ViolentUTF password',
    body:
      `Someone asked to reset the password of this account.\n\n` +
      `Set a new password (POST ${url}/api/v1/auth/password-reset/confirm) with this token before ${vars.expiresAt.toISOString()}; it works once:\n\n` +
      `${vars.token}\n\nor open ${url}/reset-password#token=${vars.token}\n\nIf it was not you, ignore this message: your password stays as it is.`,
  }),
  'password-reset-unknown': (_vars, url) => ({
    subject: 'Reset your ViolentUTF password',
    body: `Someone asked to reset the password of an account with this address at ${url}, but no account uses it. Nothing was changed.`,
  }),
  registration: (vars, url) => ({
    subject: 'Confirm your ViolentUTF account',
    body:
      `Confirm your new account (POST ${url}/api/v1/auth/register/confirm) with this token before ${vars.expiresAt.toISOString()}:\n\n` +
      `${vars.token}\n\nor open ${url}/confirm-registration#token=${vars.token}`,
  }),
  'mfa-reset': (_vars, url) => ({
    subject: 'Your ViolentUTF sign-in factors were reset',
    body:
      `An administrator removed the authenticator app and backup codes of your account at ${url}.\n\n` +
      `Sign in with your password and enroll a factor again (${url}/api/v1/auth/mfa). If you did not ask for this, tell your administrator at once.`,
  }),
  'registration-exists': (_vars, url) => ({
    subject: 'Confirm your ViolentUTF account',
    body: `Someone tried to register an account with this address at ${url}, but an account already uses it. Sign in, or reset your password if you forgot it.`,
  }),
};

export function renderMail<T extends MailTemplate>(template: T, vars: MailTemplates[T], publicUrl: string): Rendered {
  const rendered = renderers[template](vars, publicUrl);
  return { subject: rendered.subject, body: rendered.body + footer(publicUrl) };
}
