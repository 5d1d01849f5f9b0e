/**
 * Option checks of the constructors (`createBackupClient`, `createVaultClient`, the blob stores,
 * `createWorkerEngine`, …): a refused option is a `BackupError` with code `INVALID_ARGUMENT`,
 * `details.option` naming it (`baseUrl`, `limits.minPartSize`) and a message that says what to
 * pass, so an app can tell a wiring mistake from a runtime failure.
 *
 * @module
 * @internal
 */
import { BackupError } from '../errors.js';

/** The error for a refused option: `options.<option> <message>`. */
export function invalidOption(option: string, message: string, cause?: unknown): BackupError {
  return new BackupError('INVALID_ARGUMENT', `options.${option} ${message}`, { option, ...(cause === undefined ? {} : { cause }) });
}

/** `options` must be a plain object. */
export function assertOptionsObject(options: unknown, fn: string): asserts options is object {
  if (typeof options !== 'object' || options === null) {
    throw new BackupError('INVALID_ARGUMENT', `${fn}: options must be an object`, { option: 'options' });
  }
}

/**
 * Runs a constructor's existing checks and turns their `TypeError` / `RangeError` about an
 * option (`options.x …`, `limits.x …`) into {@link invalidOption}'s error, message unchanged.
 */
export function checkingOptions<T>(run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) {
      const m = /^(?:options\.)?((?:limits\.)?[A-Za-z][A-Za-z0-9]*)\b/.exec(e.message);
      if (m !== null && (e.message.startsWith('options.') || e.message.startsWith('limits.'))) {
        const option = m[1] ?? 'options';
        throw new BackupError('INVALID_ARGUMENT', e.message.startsWith('options.') ? e.message : `options.${e.message}`, { option, cause: e });
      }
    }
    throw e;
  }
}

/**
 * An absolute http(s) URL from an option. A relative one (`'/vault'`) is resolved against the
 * page (`location.href`) where there is one; elsewhere (Node, a worker without a location) it is
 * refused with a message that says to pass an absolute URL.
 */
export function resolveUrlOption(value: unknown, option: string, example: string): URL {
  if (typeof value !== 'string' && !(value instanceof URL)) {
    throw invalidOption(option, `must be a URL string, e.g. '${example}'`);
  }
  const text = String(value);
  const page = (globalThis as { location?: { href?: unknown } }).location?.href;
  let url: URL;
  try {
    url = typeof page === 'string' ? new URL(text, page) : new URL(text);
  } catch (e) {
    throw invalidOption(
      option,
      typeof page === 'string'
        ? `is not a valid URL: '${text}'`
        : `must be an absolute URL here (no page to resolve '${text}' against), e.g. '${example}'`,
      e,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalidOption(option, `must be an http(s) URL, got '${url.protocol}'`);
  return url;
}
