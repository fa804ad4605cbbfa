import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';

/**
 * The handle a write path works with. Service write methods take one and use nothing else
 * between BEGIN and COMMIT (DESIGN §5): the root handle would deadlock PGlite's single session.
 */
export type Tx = Transaction<Database>;
