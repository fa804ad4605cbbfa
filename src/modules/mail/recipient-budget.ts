import { normaliseEmail, type BlindIndex } from '../../platform/crypto/index.js';
import type { Store } from '../../platform/stores/store.js';
import { RECIPIENT_INDEX_PURPOSE } from './mail.repo.js';

/**
 * How many messages anonymous requests (password reset, self-registration) may cause to one address
 * per hour: a mail-bombing guard shared by every such flow. Keyed by the recipient's blind index, so
 * the store never holds an address. Callers answer exactly as if the mail had gone out.
 */
export function createRecipientBudget(deps: { store: Pick<Store, 'consumeRate'>; blindIndex: Pick<BlindIndex, 'compute'>; perHour: () => number }) {
  return {
    async allow(email: string): Promise<boolean> {
      const index = deps.blindIndex.compute(normaliseEmail(email), RECIPIENT_INDEX_PURPOSE).toString('base64url');
      const decision = await deps.store.consumeRate(`rl:mail:recipient:${index}`, { limit: deps.perHour(), windowSeconds: 3600 });
      return decision.allowed;
    },
  };
}

export type RecipientBudget = ReturnType<typeof createRecipientBudget>;
