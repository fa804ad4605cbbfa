import { runKeysRotate } from './keys-rotate.command.js';
import { runAsProcess } from './operator-command.js';

/** `npm run keys:rotate [-- --batch-size N]` (see keys-rotate.command.ts). */
runAsProcess('keys:rotate', runKeysRotate);
