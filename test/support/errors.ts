// What a synchronous call throws, as a BackupError code: tests compare codes, not messages.
import { expect } from 'vitest';
import { isBackupError, type BackupErrorCode } from '../../lib/errors.js';

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

/** Assert `fn` throws a `BackupError` with `code` (what it threw, or that it returned, in the failure). */
export function expectCode(fn: () => unknown, code: BackupErrorCode): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(isBackupError(thrown), `expected BackupError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
}

/** What `p` rejects with; fails the test when it fulfils. */
export async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}
