import { runAuditVerify } from './audit-verify.command.js';
import { runAsProcess } from './operator-command.js';

/** `npm run audit:verify` (see audit-verify.command.ts). */
runAsProcess('audit:verify', runAuditVerify);
