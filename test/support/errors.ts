// What a synchronous call throws, as a BackupError code: tests compare codes, not messages.
import { isBackupError } from '../../lib/errors.js';

/** The `BackupError` code `fn` throws, or `'ok'` when it returns; anything else is rethrown. */
export function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isBackupError(e)) return e.code;
    throw e;
  }
  return 'ok';
}
