import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import { encryptedColumns, type FieldCipher } from '../../platform/crypto/index.js';
import { newId } from '../../platform/ids.js';

/** Event names (DESIGN §8: `auth.login.succeeded`); the audit trail (issue 4) will chain these rows. */
export type AuthEventType =
  | 'auth.login.succeeded'
  | 'auth.login.failed'
  | 'auth.account.locked'
  | 'auth.account.unlocked'
  | 'auth.password.changed'
  | 'auth.password.reset';

export interface AuthEvent {
  type: AuthEventType;
  /** The account concerned, when one is known (never for a failure: that would tell which emails exist). */
  userId?: string | null;
  /** Blind index of the submitted email: ties failures and locks to an account without storing the address. */
  emailIndex?: Buffer | null;
  /** Who acted, when not the account itself (an admin unlocking, the break-glass command). */
  actorId?: string | null;
  ip?: string | null;
  requestId?: string | null;
  /** Non-personal facts only (reason codes, counts). */
  detail?: Record<string, string | number | boolean>;
}

/** Sign-in events, append-only: written in the transaction of the change they describe. */
export function createAuthEventsRepo(deps: { cipher: FieldCipher }) {
  const sealed = encryptedColumns(deps.cipher, 'auth_events', { ip: 'text' });

  return {
    async record(tx: Tx, event: AuthEvent, now: Date): Promise<string> {
      const id = newId();
      await tx
        .insertInto('authEvents')
        .values({
          id,
          type: event.type,
          userId: event.userId ?? null,
          emailIndex: event.emailIndex ?? null,
          actorId: event.actorId ?? null,
          ...sealed.seal(id, { ip: event.ip ?? null }),
          requestId: event.requestId ?? null,
          detail: JSON.stringify(event.detail ?? {}),
          createdAt: now,
        })
        .execute();
      return id;
    },

    /** Events about one account (by user id or by the email's blind indexes), oldest first. */
    async listFor(executor: Db | Tx, who: { userId?: string; emailIndexes?: Buffer[] }, limit: number) {
      let query = executor.selectFrom('authEvents').selectAll();
      query = query.where((eb) =>
        eb.or([
          ...(who.userId ? [eb('userId', '=', who.userId)] : []),
          ...(who.emailIndexes?.length ? [eb('emailIndex', 'in', who.emailIndexes)] : []),
        ]),
      );
      const rows = await query.orderBy('id').limit(limit).execute();
      return rows.map((row) => sealed.open(row));
    },
  };
}

export type AuthEventsRepo = ReturnType<typeof createAuthEventsRepo>;
