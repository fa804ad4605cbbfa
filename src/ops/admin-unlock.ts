import { runAdminUnlock } from './admin-unlock.command.js';
import { runAsProcess } from './operator-command.js';

/** `npm run admin:unlock -- <email> [--enable]` (see admin-unlock.command.ts). */
runAsProcess('admin:unlock', runAdminUnlock);
