import { runBackup } from './backup.command.js';
import { runAsProcess } from './operator-command.js';

/** `npm run backup -- <file>` (see backup.command.ts). */
runAsProcess('backup', runBackup);
