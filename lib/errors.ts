/**
 * Typed errors. Every error the SDK raises on purpose is a {@link BackupError} with a stable
 * {@link BackupErrorCode} that callers switch on; the message is for humans and may change.
 *
 * Rules (docs/THREAT-MODEL.md): no key, recovery code or plaintext ever appears in a message,
 * a `cause` or `details`. Every archive authentication failure has the same code
 * (`ARCHIVE_AUTH_FAILED`) and the same message, so a caller cannot tell a wrong key from a
 * flipped bit or a truncated upload.
 *
 * Misuse of the API (a wrong argument type or length) throws `TypeError` / `RangeError` as the
 * platform does; those are bugs in the caller, not outcomes to handle.
 *
 * @module
 */

/** Every stable error code, grouped by capability. */
export type BackupErrorCode =
  // --- generic ---
  /** The operation was cancelled through its `AbortSignal`. */
  | 'ABORTED'
  /** A timeout elapsed (network call or lock wait). */
  | 'TIMEOUT'
  /** An argument was well-typed but semantically invalid (a bad option combination, say). */
  | 'INVALID_ARGUMENT'
  /**
   * Code that loads on demand could not start: a cipher engine (worker script blocked, WebAssembly
   * unavailable), the lazily imported OPAQUE implementation (its chunk failed to load; the next
   * call retries), or the recovery code's key stretching (Argon2id) could not have its memory
   * (46 MiB with the default suite) in WebAssembly nor in JavaScript, or runs on a big-endian host.
   */
  | 'ENGINE_UNAVAILABLE'
  // --- archive format (docs/FORMAT.md) ---
  /** Any authentication failure: bad tag, truncation, reorder, header tampering, wrong key. */
  | 'ARCHIVE_AUTH_FAILED'
  /** The archive's magic bytes are not ours: this is not an e2ee-backup archive. */
  | 'ARCHIVE_NOT_RECOGNIZED'
  /** The archive version is newer (or older) than this SDK supports. */
  | 'ARCHIVE_UNSUPPORTED_VERSION'
  /** The archive's cipher suite is unknown to this SDK. */
  | 'ARCHIVE_UNSUPPORTED_SUITE'
  /** A header field is over its documented limit (chunk size, metadata length, flags). */
  | 'ARCHIVE_LIMIT_EXCEEDED'
  /** The archive's keyId does not match any key in the keyring. */
  | 'ARCHIVE_KEY_UNKNOWN'
  // --- recovery codes and keyring ---
  /** The recovery code's checksum failed: a typo, caught before any vault guess is spent. */
  | 'RECOVERY_CODE_TYPO'
  /** The recovery code is not in a recognised shape (wrong length, alphabet or version). */
  | 'RECOVERY_CODE_INVALID'
  /** A PIN or password does not meet the app's policy. */
  | 'RECOVERY_CODE_POLICY'
  /** The sealed keyring failed to authenticate (wrong self-custody key, or corruption). */
  | 'KEYRING_AUTH_FAILED'
  /** A keyring encoding (or sealed keyring envelope) is malformed, over a limit, or of an unknown version. */
  | 'KEYRING_MALFORMED'
  // --- vault protocol (docs/PROTOCOL.md) ---
  /** The recovery code was wrong; `details.guessesRemaining` says how many guesses are left. */
  | 'WRONG_CODE'
  /** No guesses are left: the escrow has been erased and the backup cannot be recovered. */
  | 'LOCKED_OUT'
  /** The account has no enrollment with this fleet. */
  | 'NOT_ENROLLED'
  /** The account is already enrolled; replacing needs the old code or an explicit reset. */
  | 'ALREADY_ENROLLED'
  /** The fleet is not trusted (unknown fleetId, retired, expired, or no bundle proves it). */
  | 'FLEET_UNTRUSTED'
  /** The vault presented a public key that is not a trusted key of the fleet. */
  | 'FLEET_KEY_MISMATCH'
  /** The vault could not be reached or could not durably record state; safe to retry later. */
  | 'VAULT_UNAVAILABLE'
  /** The bearer token was refused by the vault or the blob store. */
  | 'UNAUTHORIZED'
  /** A peer sent a malformed, truncated, over-limit or out-of-order message. */
  | 'PROTOCOL'
  /**
   * The vault refused a registration whose ticket (or grant) is no longer valid: used already,
   * issued before a later enrollment, lockout or removal, for another mode, or past its deadline
   * (docs/PROTOCOL.md §6). A replay changes nothing; an honest client starts the operation again.
   */
  | 'REPLAYED'
  // --- passkeys (docs/PASSKEYS.md) ---
  /**
   * This browser or authenticator cannot give a PRF output (no WebAuthn, no `prf` extension, or
   * an authenticator without it). The recovery code still works: offer it instead.
   */
  | 'PASSKEY_PRF_UNSUPPORTED'
  /** The user cancelled the passkey prompt, or it timed out. Nothing changed; ask again or offer the code. */
  | 'PASSKEY_CANCELLED'
  /** The passkey's PRF output does not open its envelope (a changed or wrong output): no key is produced. */
  | 'PASSKEY_AUTH_FAILED'
  /** No passkey envelope is stored for the passkey the user chose (it was removed, or is for another account). */
  | 'PASSKEY_NOT_FOUND'
  // --- fleet trust (docs/TRUST.md) ---
  /** A bundle or checkpoint could not be parsed, or a field is over its limit. */
  | 'TRUST_MALFORMED'
  /** A signature is missing or does not verify under a current root. */
  | 'TRUST_BAD_SIGNATURE'
  /** Fewer distinct signers than the configured threshold. */
  | 'TRUST_THRESHOLD'
  /** The bundle's epoch is not above the stored high-water mark. */
  | 'TRUST_ROLLBACK'
  /** The bundle or a fleet entry has expired (`notAfter` passed). */
  | 'TRUST_EXPIRED'
  /** The bundle or a signer key is not valid yet (`notBefore` in the future). */
  | 'TRUST_NOT_YET_VALID'
  /** The bundle is for another namespace (another app). */
  | 'TRUST_WRONG_NAMESPACE'
  /** The audit-log inclusion proof does not verify. */
  | 'TRUST_BAD_INCLUSION_PROOF'
  /** The new checkpoint is not consistent with the last one seen: a split view of the log. */
  | 'TRUST_SPLIT_VIEW'
  // --- storage, transport and the client ---
  /** The device store (IndexedDB) is unavailable or failed. */
  | 'STORAGE_UNAVAILABLE'
  /** The device or the blob store is out of space. */
  | 'QUOTA_EXCEEDED'
  /** The network is unreachable (the device is offline). */
  | 'OFFLINE'
  /** The blob store failed in a way that retries did not fix. */
  | 'BLOB_STORE_FAILED'
  /** The requested blob or backup does not exist. */
  | 'NOT_FOUND'
  /** A conditional write lost: the blob changed (If-Match) or already exists (If-None-Match). */
  | 'PRECONDITION_FAILED'
  /** Another backup for this account is running (in this tab or another). */
  | 'BACKUP_IN_PROGRESS'
  /** The client is not enabled (no enrollment / keyring) for this operation. */
  | 'NOT_ENABLED'
  /**
   * Storage shows an older state than this device (or the app, through `minSequence`) has seen: a
   * replayed latest pointer, or newer backups hidden. `details.expectedSequence` and
   * `details.foundSequence` say how far back. Pass `allowRollback: true` to proceed anyway.
   */
  | 'ROLLBACK_DETECTED'
  /**
   * The keyring the device cache holds is not the account's current one (another device reset
   * the account, or the cache was rolled back or planted): unlock with the recovery code.
   */
  | 'KEYRING_NOT_CURRENT';

/** Structured, non-secret data attached to an error. */
export interface BackupErrorDetails {
  /** Vault guesses left after a wrong code (`WRONG_CODE`), 0 for `LOCKED_OUT`. */
  readonly guessesRemaining?: number;
  /** The fleet involved, for vault and trust errors. */
  readonly fleetId?: string;
  /** HTTP status of the peer's answer, when one was received. */
  readonly status?: number;
  /** The limit that was exceeded, for `*_LIMIT_EXCEEDED` and `PROTOCOL`. */
  readonly limit?: number;
  /** Suggested delay before a retry, in milliseconds. */
  readonly retryAfterMs?: number;
  /** `ROLLBACK_DETECTED`: the latest-pointer sequence this device (or the app) has seen. */
  readonly expectedSequence?: number;
  /** `ROLLBACK_DETECTED`: the sequence storage shows (0: none, or a pointer without one). */
  readonly foundSequence?: number;
  /**
   * For `INVALID_ARGUMENT` from a constructor or a call: the option that was refused, e.g.
   * `baseUrl`, `partSize`, `limits.minPartSize` (the message says what to pass instead).
   */
  readonly option?: string;
}

/** Options accepted by the {@link BackupError} constructor. */
export interface BackupErrorOptions extends BackupErrorDetails {
  /** The underlying error, if any. Never a secret. */
  readonly cause?: unknown;
}

/**
 * The one error class the SDK throws for expected failures.
 *
 * @example
 * ```ts
 * try {
 *   await client.restore({ recoveryCode });
 * } catch (e) {
 *   if (isBackupError(e, 'WRONG_CODE')) showGuessesLeft(e.details.guessesRemaining);
 *   else throw e;
 * }
 * ```
 */
export class BackupError extends Error {
  /** Stable code to switch on. */
  readonly code: BackupErrorCode;
  /** Non-secret structured data (guesses remaining, fleet, HTTP status). */
  readonly details: BackupErrorDetails;

  constructor(code: BackupErrorCode, message: string, options: BackupErrorOptions = {}) {
    const { cause, ...details } = options;
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'BackupError';
    this.code = code;
    this.details = Object.freeze(details);
  }

  /** Vault guesses left, for `WRONG_CODE` and `LOCKED_OUT`. */
  get guessesRemaining(): number | undefined {
    return this.details.guessesRemaining;
  }
}

/**
 * Cross-realm check for a {@link BackupError}, optionally of one code. Works across iframes,
 * workers and test realms where `instanceof` does not.
 *
 * @example
 * ```ts
 * if (isBackupError(err, 'LOCKED_OUT')) showLockout();
 * ```
 */
export function isBackupError(e: unknown, code?: BackupErrorCode): e is BackupError {
  if (typeof e !== 'object' || e === null) return false;
  const o = e as { name?: unknown; code?: unknown };
  if (o.name !== 'BackupError' || typeof o.code !== 'string') return false;
  return code === undefined || o.code === code;
}

/** The one message used for every archive authentication failure (indistinguishable by design). */
export const ARCHIVE_AUTH_MESSAGE =
  'archive failed authentication: wrong key, or the archive was modified, truncated or reordered';

/** @internal Shorthand for the indistinguishable archive authentication failure. */
export function archiveAuthFailed(): BackupError {
  return new BackupError('ARCHIVE_AUTH_FAILED', ARCHIVE_AUTH_MESSAGE);
}

/** @internal Turn an AbortSignal's state into an `ABORTED` error, keeping its reason as cause. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new BackupError('ABORTED', 'operation was aborted', { cause: signal.reason });
  }
}
