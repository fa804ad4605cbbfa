import { runRestore } from './restore.command.js';
import { runAsProcess } from './operator-command.js';

/** `npm run restore -- <file>` (see restore.command.ts). */
runAsProcess('restore', runRestore);
