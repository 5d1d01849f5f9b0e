/**
 * The BackupClient facade: one object whose calls follow the user's story (docs/CLIENT.md).
 *
 * - `enable` makes a keyring, enrolls it with the vault under the recovery code, and (opt-in) seals
 *   it into the device cache so a nightly `backup` needs no code.
 * - `backup` encrypts and uploads a source as a resumable multipart upload, then writes the sealed
 *   manifest and moves the latest pointer; one backup at a time per account across tabs.
 * - `restore` recovers the keyring (code or device cache), opens the newest (or a named) backup and
 *   returns its plaintext as a verified stream plus random access.
 * - `changeRecoveryCode`, `disable`, `status`, `listBackups`, `pruneBackups`, and events.
 *
 * Every side effect (vault fetch, blob store, device storage, clock, randomness, locks) comes in
 * through the options.
 *
 * @module
 */
import type { CipherEngine } from './archive/engine.js';
import { runBackup, type BackupProgress, type BackupSource } from './client/backup.js';
import { incrementalContext, incrementalUnavailable, isSnapshot, openIfSnapshot, type HookContext, type IncrementalLoader } from './incremental/client-hook.js';
import { withExclusiveLock, timerSleep, type LockManagerLike, type LockSleep } from './client/lock.js';
import { toHex as hexOf } from './util/bytes.js';
import type { BackupManifest, BackupMetadata } from './client/manifest.js';
import {
  listBackups as listCatalog,
  openBackup,
  pruneBackups as pruneCatalog,
  type BackupSummary,
  type CatalogContext,
  type RestoreStreamOptions,
} from './client/restore.js';
import { clearSession, SESSION_KEY_PREFIX } from './client/session.js';
import { checkKeyringMarker, lookupIn, writeKeyringMarker, type MarkerContext } from './client/keyring-check.js';
import { checkRollback, clearSeen, latestOrUndefined, loadSeen, noteSeen, seenOf } from './client/latest.js';
import { assertOptionsObject, checkingOptions, invalidOption } from './util/options.js';
import { BackupError, isBackupError, throwIfAborted } from './errors.js';
import { generateRecoveryCode, parseRecoveryCode } from './recovery/code.js';
import type { FleetTrust } from './recovery/fleet-trust.js';
import { copyKeyring, createKeyring, keyForId, wipeKeyring, type Keyring } from './recovery/keyring.js';
import type { VaultClient, VaultStatus } from './recovery/vault-client.js';
import type { BlobStore } from './storage/blob/types.js';
import { assertBlobPrefix } from './storage/blob/types.js';
// Types only: the device cache's code comes in through `options.deviceCache` (e2ee-backup/keys).
import type { DeviceCache, DeviceCacheSupport } from './storage/device-cache.js';
import { DEVICE_CACHE_KEY_PREFIX, type KeyValueStore } from './storage/kv.js';
import { isBytes, safeInt, secureRandom, wipe, type RandomSource } from './util/bytes.js';
// Types only: the passkey code comes in through `options.passkeys` (e2ee-backup/passkeys).
import type { PasskeyInfo } from './recovery/passkey.js';
import type { PasskeyCallContext, PasskeySupport } from './recovery/passkeys.js';

export type { BackupSource, BackupProgress } from './client/backup.js';
export type { BackupSummary, RestoreProgress, RestoreStreamOptions } from './client/restore.js';
export type { BackupManifest, BackupMetadata, JsonValue } from './client/manifest.js';
export type { LockManagerLike } from './client/lock.js';

/** Options of {@link createBackupClient}. */
export interface BackupClientOptions {
  /** The account (the app's user id); binds manifests, sessions, locks and the device cache. */
  readonly accountId: string;
  /** The vault client for this account (`createVaultClient`). */
  readonly vault: VaultClient;
  /** Device storage (`createIndexedDbStore()` in browsers): upload sessions, lease, device cache. */
  readonly storage: KeyValueStore;
  /** Fleet trust, reported by `status()` (the vault client enforces it on every call). */
  readonly trust?: FleetTrust;
  /**
   * Passkeys (WebAuthn PRF, docs/PASSKEYS.md): `passkeySupport({ authenticator })` from
   * `e2ee-backup/passkeys` (envelopes in the blob store under `<keyPrefix>passkeys/` unless it is
   * given `envelopes`). Opt-in so that apps without passkeys never download that code
   * (docs/SIZE.md); without it the passkey methods throw `INVALID_ARGUMENT`.
   */
  readonly passkeys?: PasskeySupport;
  /** Where archives and manifests go. */
  readonly store: BlobStore;
  /**
   * The device cache: `deviceCacheSupport()` from `e2ee-backup/keys` keeps the keyring sealed under
   * a non-extractable device key so backups on this device need no code (docs/KEYRING.md §Device
   * cache). Opt-in so that apps without it never download that code (docs/SIZE.md); `true` (this
   * option's form before) is `INVALID_ARGUMENT` naming `deviceCacheSupport`.
   */
  readonly deviceCache?: DeviceCacheSupport | false;
  /**
   * Prefix of every blob key of this account, e.g. `users/42/` (default: none). Set it to the
   * prefix your presign endpoint allows this user (docs/GETTING-STARTED.md §2): without one, every
   * account writes the same keys (`latest`, `manifests/…`) in a shared bucket.
   */
  readonly keyPrefix?: string;
  /**
   * Web Locks. Default: `navigator.locks` where the platform has it; `false` forces the lease in
   * `storage` (docs/CLIENT.md §Locking), which is also what runs where Web Locks are missing.
   */
  readonly locks?: LockManagerLike | false;
  /** Wait for a running backup to finish (default) or fail at once with `BACKUP_IN_PROGRESS`. */
  readonly waitForLock?: boolean;
  /** Give up waiting for the lock after this long (`TIMEOUT`). */
  readonly lockTimeoutMs?: number;
  /** Lease length of the fallback lock, ms (default 30 000). */
  readonly leaseMs?: number;
  /**
   * Deadline of each read of a manifest, the latest pointer, the keyring marker or a listing, ms
   * (default 30 000): a store that holds the client longer gets `TIMEOUT`.
   */
  readonly readTimeoutMs?: number;
  /**
   * Cipher engine for backups and restores. Default: the default engine, on the calling thread
   * (streams yield so the page gets turns). Browsers should pass a worker pool,
   * `createWorkerEngine()` from `e2ee-backup/workers`, so encryption and decryption run off the
   * page's main thread on several cores (docs/ENGINES.md).
   */
  readonly engine?: CipherEngine;
  /**
   * Back up incrementally (docs/INCREMENTAL.md): content-defined chunks, only new chunks uploaded.
   * Needs `incrementalSupport`.
   */
  readonly incremental?: boolean;
  /**
   * `incrementalSupport` from `e2ee-backup/incremental`: lets this client write (with
   * `incremental: true`) and read incremental snapshots; restores, listings and prunes then handle
   * both kinds. Opt-in so that apps without incremental backups never download that code
   * (docs/SIZE.md). Without it, restoring a snapshot, or listing when `latest` names one, throws
   * `ENGINE_UNAVAILABLE`, and listings show plain backups only.
   */
  readonly incrementalSupport?: IncrementalLoader;
  /** Archive chunk size (default 64 KiB). */
  readonly chunkSize?: number;
  /** Target upload part size, rounded to whole chunks and raised to the store's minimum (default 8 MiB). */
  readonly partSize?: number;
  /** Parts uploading at once (default 3). */
  readonly concurrency?: number;
  /** Extra attempts per part after the transport's own retries, and for starting the upload (default 4). */
  readonly partRetries?: number;
  /** Clock (ms since the epoch). */
  readonly now?: () => number;
  /** Randomness. */
  readonly random?: RandomSource;
  /** Abortable sleep (backoff between part attempts, lock polling). */
  readonly sleep?: LockSleep;
}

/** A recovery code as typed (`string`, parsed with `parseRecoveryCode`) or PIN/password bytes from `normalizePassword` (`e2ee-backup/keys`). */
export type RecoveryCodeInput = string | Uint8Array;

/** Options of {@link BackupClient.backup}. */
export interface BackupOptions {
  /** Progress of the upload (archive bytes confirmed by the store). */
  readonly onProgress?: (progress: BackupProgress) => void;
  /** Cancels the backup (`ABORTED`); the upload session stays, so the next call resumes. */
  readonly signal?: AbortSignal;
  /** App metadata stored encrypted in the manifest. */
  readonly metadata?: BackupMetadata;
  /**
   * A string that changes whenever the source's content changes (a message-store revision, say).
   * Needed to resume a `ReadableStream` source; optional for bytes and Blobs (docs/CLIENT.md §Source changes).
   */
  readonly version?: string;
}

/** What {@link BackupClient.backup} resolves with. */
export interface BackupResult {
  /** Hex id of the new backup. */
  readonly backupId: string;
  /** When the backup was made, milliseconds since the Unix epoch (this device's clock). */
  readonly createdAt: number;
  /** Size of the plaintext in bytes. */
  readonly plaintextSize: number;
  /** Size of the archive object in bytes (ciphertext, header included). */
  readonly archiveSize: number;
  /** True when this call continued an interrupted upload. */
  readonly resumed: boolean;
  /** Incremental backups: plaintext bytes in chunks the store did not hold. */
  readonly newBytes?: number;
  /** Incremental backups: plaintext bytes in chunks the store already held (not uploaded). */
  readonly skippedBytes?: number;
  /**
   * The backup's latest-pointer sequence (docs/CLIENT.md §Rollback). An app that stores it on its
   * server can pass it back as `minSequence` on any device, a new one included.
   */
  readonly sequence?: number;
  /** Whether the latest pointer names this backup (false: another device's later backup is latest). */
  readonly latest?: boolean;
}

/** Options of {@link BackupClient.restore}. */
export interface RestoreOptions {
  /** The recovery code; not needed when the keyring is unlocked or in the device cache. */
  readonly recoveryCode?: RecoveryCodeInput;
  /** Which backup (hex id from `listBackups`); the latest by default. */
  readonly backupId?: string;
  /** Cancels the recovery and the opening of the backup (`ABORTED`). */
  readonly signal?: AbortSignal;
  /**
   * A latest-pointer sequence the app knows (from {@link BackupResult.sequence}, kept on its
   * server): storage showing less is `ROLLBACK_DETECTED`, also on a new device.
   */
  readonly minSequence?: number;
  /** Proceed even when storage shows an older state than this device or the app has seen. */
  readonly allowRollback?: boolean;
}

/** What {@link BackupClient.restore} resolves with. */
export interface RestoredBackup {
  /** Hex id of the backup. */
  readonly backupId: string;
  /** When the backup was made, milliseconds since the Unix epoch (the backing-up device's clock). */
  readonly createdAt: number;
  /** The app metadata given to `backup`, decrypted from the manifest. */
  readonly metadata: BackupMetadata;
  /** Size of the plaintext in bytes. */
  readonly plaintextSize: number;
  /**
   * The plaintext, verified chunk by chunk; errors with `ARCHIVE_AUTH_FAILED` on any tampering
   * and never releases a chunk whose tag did not verify.
   */
  readonly stream: ReadableStream<Uint8Array>;
  /** Random access to the plaintext (e.g. the newest messages first). */
  read(offset: number, length: number, options?: { readonly signal?: AbortSignal }): Promise<Uint8Array>;
  /** Another pass over the whole plaintext. */
  openStream(options?: RestoreStreamOptions): ReadableStream<Uint8Array>;
  /** Wipe the archive key held for reads. */
  close(): void;
}

/** What {@link BackupClient.status} reports. */
export interface BackupClientStatus {
  /** The vault's view: enrolled / locked out / not enrolled, guesses remaining. */
  readonly vault: VaultStatus;
  /** Whether the vault's fleet is among the currently trusted fleets (when `trust` was given). */
  readonly fleetTrusted?: boolean;
  /** Whether a keyring is held in memory (backups need no code now). */
  readonly unlocked: boolean;
  /** Whether the device cache holds a keyring. */
  readonly deviceCached: boolean;
  /** Whether an interrupted upload is waiting to be resumed. */
  readonly uploadPending: boolean;
}

/** Events a {@link BackupClient} emits, by name. */
export interface BackupClientEvents {
  /** `enable` succeeded: the account is enrolled with the vault. */
  enabled: {
    /** The client's account. */
    readonly accountId: string;
  };
  /** `disable` succeeded: the enrollment (and, if asked, every backup) is gone. */
  disabled: {
    /** The client's account. */
    readonly accountId: string;
  };
  /**
   * `enable()` made a new keyring (a reset): the account's passkeys could only open the previous
   * one (their envelopes are bound to its first generation, docs/PASSKEYS.md), so their envelopes
   * were removed. Offer to add a passkey again (one prompt each).
   */
  'passkeys-removed': {
    /** How many passkey envelopes were removed. */
    readonly count: number;
    /** Set when removing failed: the stale envelopes stay, and a passkey unlock with one fails with `KEYRING_NOT_CURRENT`. */
    readonly error?: unknown;
  };
  /**
   * `enable()` succeeded but the device cache could not save the new keyring (a full quota, a
   * storage the browser refuses): the keyring is held in memory for this client only, and the
   * next client on this device asks for the code. `enable()` still resolves with the code, which
   * is the only copy of it.
   */
  'device-cache-failed': {
    /** The client's account. */
    readonly accountId: string;
    /** What the device storage threw. */
    readonly error: unknown;
  };
  /** `changeRecoveryCode` succeeded: only the new code opens the escrow now. */
  'code-changed': {
    /** The client's account. */
    readonly accountId: string;
  };
  /** A `backup` took the account's lock and started uploading. */
  'backup-started': {
    /** The client's account. */
    readonly accountId: string;
  };
  /** Upload progress of the running `backup` (the same values its `onProgress` gets). */
  'backup-progress': BackupProgress;
  /** A `backup` finished: the manifest is written and the latest pointer moved. */
  'backup-completed': BackupResult;
  /** A `backup` failed or was cancelled; its upload session stays for the next call to resume. */
  'backup-failed': {
    /** What it failed with (a `BackupError` for every failure the SDK recognises). */
    readonly error: unknown;
  };
  /** A `restore` opened a backup. */
  restored: {
    /** Hex id of the opened backup. */
    readonly backupId: string;
  };
}

/** The facade. */
export interface BackupClient {
  /** The account this client backs up (from {@link BackupClientOptions.accountId}). */
  readonly accountId: string;
  /**
   * Turn backups on: a new keyring, enrolled with the vault under the recovery code. Without a
   * code, one is generated and returned for the user to write down.
   *
   * @example
   * ```ts
   * const { recoveryCode } = await client.enable(); // generated: show it to the user once
   * await client.enable({ recoveryCode: typed, reset: true }); // or the user's own code, replacing an old enrollment
   * ```
   */
  enable(options?: { readonly recoveryCode?: RecoveryCodeInput; readonly reset?: boolean; readonly signal?: AbortSignal }): Promise<{
    /** The generated code, when none was given; shown to the user once, never stored. */
    readonly recoveryCode?: string;
  }>;
  /**
   * Recover the keyring with the recovery code and hold it in memory (and in the device cache when
   * enabled), so later backups on this device need no code. A wrong code is `WRONG_CODE`.
   *
   * @example
   * ```ts
   * try {
   *   await client.unlock({ recoveryCode: typed });
   * } catch (e) {
   *   if (isBackupError(e, 'WRONG_CODE')) showGuessesLeft(e.details.guessesRemaining);
   *   else throw e;
   * }
   * ```
   */
  unlock(options: { readonly recoveryCode: RecoveryCodeInput; readonly signal?: AbortSignal }): Promise<void>;
  /**
   * Back up `source` (see {@link BackupOptions}).
   *
   * @example
   * ```ts
   * const ac = new AbortController(); // cancelButton.onclick = () => ac.abort();
   * const result = await client.backup(chatExportBytes, {
   *   metadata: { chats: 3 },
   *   signal: ac.signal,
   *   onProgress: ({ bytes, total }) => progressBar.update(bytes, total),
   * });
   * console.log(result.backupId, result.archiveSize, result.resumed);
   * ```
   */
  backup(source: BackupSource, options?: BackupOptions): Promise<BackupResult>;
  /**
   * Open the latest (or a named) backup.
   *
   * @example
   * ```ts
   * const restored = await client.restore({ recoveryCode }); // on a new device
   * const n = Math.min(4096, restored.plaintextSize);
 * const newest = await restored.read(restored.plaintextSize - n, n); // the newest messages first
   * await restored.stream.pipeTo(new WritableStream({ write: (chunk) => importChats(chunk) })); // then everything, verified
   * restored.close();
   * ```
   */
  restore(options?: RestoreOptions): Promise<RestoredBackup>;
  /**
   * Replace the recovery code (the keyring and archives are unchanged).
   *
   * @example
   * ```ts
   * const newCode = generateRecoveryCode();
   * await client.changeRecoveryCode({ oldCode, newCode });
   * ```
   */
  changeRecoveryCode(options: { readonly oldCode: RecoveryCodeInput; readonly newCode: RecoveryCodeInput; readonly signal?: AbortSignal }): Promise<void>;
  /**
   * Turn backups off: delete the vault enrollment, the device cache and any upload session; optionally every backup.
   *
   * @example
   * ```ts
   * await client.disable({ deleteBackups: true });
   * ```
   */
  disable(options?: { readonly deleteBackups?: boolean; readonly signal?: AbortSignal }): Promise<void>;
  /**
   * The vault's view of the enrollment plus this device's state (see {@link BackupClientStatus}).
   *
   * @example
   * ```ts
   * const s = await client.status();
   * if (s.vault.state === 'locked-out') showLockedOut();
   * else if (s.uploadPending) await client.backup(chatExportBytes); // resume the interrupted upload
   * ```
   */
  status(options?: { readonly signal?: AbortSignal }): Promise<BackupClientStatus>;
  /**
   * Every readable backup, newest first (needs the keyring unlocked or cached).
   *
   * @example
   * ```ts
   * for (const b of await client.listBackups({ recoveryCode })) {
   *   console.log(b.backupId, new Date(b.createdAt), b.plaintextSize, b.latest);
   * }
   * ```
   */
  listBackups(options?: {
    readonly recoveryCode?: RecoveryCodeInput;
    readonly signal?: AbortSignal;
    /** See {@link RestoreOptions.minSequence}. */
    readonly minSequence?: number;
    /** See {@link RestoreOptions.allowRollback}. */
    readonly allowRollback?: boolean;
  }): Promise<BackupSummary[]>;
  /**
   * Delete all but the newest `keep` backups; never the latest. Resolves with the deleted ids.
   *
   * @example
   * ```ts
   * const deleted = await client.pruneBackups({ keep: 3 });
   * ```
   */
  pruneBackups(options: { readonly keep: number; readonly signal?: AbortSignal }): Promise<string[]>;
  /**
   * Protect the backups with a passkey too (WebAuthn PRF): one prompt (two where the authenticator
   * cannot evaluate PRF at creation). Needs the keyring (in memory, the device cache, or `recoveryCode`).
   *
   * @throws BackupError `PASSKEY_PRF_UNSUPPORTED` (the recovery code keeps working: say so),
   *   `PASSKEY_CANCELLED`, `INVALID_ARGUMENT` without a `passkeys` option.
   *
   * @example
   * ```ts
   * const passkey = await client.addPasskey({ name: 'This laptop', userName: 'alice@example.com' });
   * ```
   */
  addPasskey(options: {
    readonly name: string;
    readonly userName: string;
    readonly recoveryCode?: RecoveryCodeInput;
    readonly signal?: AbortSignal;
  }): Promise<PasskeyInfo>;
  /**
   * The passkeys that protect this account (no prompt).
   *
   * @example
   * ```ts
   * for (const p of await client.listPasskeys()) console.log(p.name, new Date(p.createdAt));
   * ```
   */
  listPasskeys(options?: { readonly signal?: AbortSignal }): Promise<PasskeyInfo[]>;
  /**
   * Stop a passkey from opening the backups (its envelope is deleted; the credential stays in the
   * user's password manager).
   *
   * @example
   * ```ts
   * await client.removePasskey(passkey.id);
   * ```
   */
  removePasskey(id: string, options?: { readonly signal?: AbortSignal }): Promise<void>;
  /**
   * Unlock with any of the account's passkeys (one prompt): on a new device this is the whole
   * recovery, then `restore()`. The passkey's PRF salt rotates in the same prompt.
   *
   * The keyring is checked against the account's keyring marker as a cached one is (docs/CLIENT.md
   * §Device cache check), and becomes it where there is none yet.
   *
   * @throws BackupError `PASSKEY_NOT_FOUND`, `PASSKEY_AUTH_FAILED` (a changed PRF output: never a
   *   wrong key), `KEYRING_NOT_CURRENT` (an envelope left from before a reset, or an older one put
   *   back), `PASSKEY_PRF_UNSUPPORTED`, `PASSKEY_CANCELLED`, `ABORTED`, `INVALID_ARGUMENT` without a
   *   `passkeys` option.
   *
   * @example
   * ```ts
   * await client.unlockWithPasskey();
   * const restored = await client.restore();
   * ```
   */
  unlockWithPasskey(options?: { readonly rotateSalt?: boolean; readonly signal?: AbortSignal }): Promise<PasskeyInfo>;
  /**
   * Re-seal the current keyring (after a rotation that keeps its first generation) to every passkey
   * of the account, with no prompt. A keyring with another first generation is refused by the
   * envelopes (`PASSKEY_AUTH_FAILED` at unlock): after a reset, add passkeys again.
   *
   * @example
   * ```ts
   * const resealed = await client.resealPasskeys();
   * ```
   */
  resealPasskeys(options?: { readonly signal?: AbortSignal }): Promise<number>;
  /**
   * Listen to an event; returns the unsubscribe function.
   *
   * @example
   * ```ts
   * const off = client.on('backup-completed', (r) => toast(`Backed up ${r.plaintextSize} bytes`));
   * off(); // stop listening
   * ```
   */
  on<K extends keyof BackupClientEvents>(type: K, listener: (event: BackupClientEvents[K]) => void): () => void;
  /**
   * Wipe the keyring held in memory and close every restore this client opened. Operations still
   * running (a backup, a restore being opened, a listing) are aborted with `ABORTED` and wipe
   * their own copy of the keyring as they unwind; an interrupted backup resumes on the next
   * `backup()`. `enable()` is not aborted (its code must reach the user). The client stays usable:
   * the next call unlocks again (device cache or recovery code).
   *
   * @example
   * ```ts
   * window.addEventListener('pagehide', () => client.close());
   * ```
   */
  close(): void;
}

function checkSequence(n: number | undefined): void {
  if (n !== undefined) safeInt(n, 'minSequence');
}

/** Most objects `disable({ deleteBackups: true })` lists under the account's prefix. */
const MAX_DISABLE_ENTRIES = 100_000;

/** `navigator.locks` where the platform has Web Locks (browsers, Deno), else undefined. */
function platformLocks(): LockManagerLike | undefined {
  const nav = (globalThis as { navigator?: { locks?: unknown } }).navigator;
  const l = nav?.locks;
  return typeof l === 'object' && l !== null && typeof (l as { request?: unknown }).request === 'function' ? (l as LockManagerLike) : undefined;
}

function toPassword(code: RecoveryCodeInput, name: string): Uint8Array {
  if (typeof code === 'string') return parseRecoveryCode(code);
  if (isBytes(code)) return Uint8Array.from(code);
  throw new TypeError(`${name} must be a string or a Uint8Array`);
}

/** The numeric options, checked when the client is made rather than at the first backup. */
function checkClientNumbers(o: BackupClientOptions): void {
  const MiB = 1024 * 1024;
  const int = (name: keyof BackupClientOptions, min: number, max: number, what: string): void => {
    const v = o[name];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw invalidOption(name, `must be an integer from ${min} to ${max} (${what})`);
  };
  int('chunkSize', 64, 16 * MiB, 'bytes; default 65536');
  int('partSize', 1, 5 * 1024 * MiB, 'bytes; default 8 MiB, raised to the store\'s minPartSize');
  int('concurrency', 1, 16, 'parts uploading at once; default 3');
  int('partRetries', 0, 100, 'default 4');
  int('leaseMs', 1, 24 * 3600 * 1000, 'ms; default 30000');
  int('lockTimeoutMs', 0, Number.MAX_SAFE_INTEGER, 'ms');
  int('readTimeoutMs', 1, 24 * 3600 * 1000, 'ms; default 30000');
  for (const name of ['now', 'random', 'sleep'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'function') throw invalidOption(name, 'must be a function');
  }
  if (o.engine !== undefined && (typeof o.engine !== 'object' || o.engine === null || typeof o.engine.create !== 'function')) {
    throw invalidOption('engine', 'must be a CipherEngine, e.g. createWorkerEngine() from e2ee-backup/workers');
  }
}

/**
 * Create a backup client.
 *
 * @example
 * ```ts
 * const client = createBackupClient({
 *   accountId: user.id,
 *   vault: createVaultClient({ fleetId, accountId: user.id, baseUrl, fetch, getToken, trust }),
 *   storage: createIndexedDbStore(),
 *   trust,
 *   store: createS3BlobStore({ fetch, presign }),
 *   deviceCache: deviceCacheSupport(),
 *   locks: navigator.locks,
 * });
 * const { recoveryCode } = await client.enable();   // show the code once
 * await client.backup(file, { onProgress, metadata: { chats: 12 } });
 * const { stream } = await client.restore({ recoveryCode });
 * ```
 */
export function createBackupClient(options: BackupClientOptions): BackupClient {
  const o = options;
  assertOptionsObject(o, 'createBackupClient');
  if (typeof o.accountId !== 'string' || o.accountId.length === 0 || o.accountId.length > 1024) {
    throw invalidOption('accountId', "must be the app's user id, 1 to 1024 characters");
  }
  if (typeof o.vault !== 'object' || o.vault === null) throw invalidOption('vault', 'must be a VaultClient: createVaultClient({ ... })');
  if (typeof o.storage !== 'object' || o.storage === null) throw invalidOption('storage', 'must be a KeyValueStore: createIndexedDbStore(), or createMemoryStore() outside browsers');
  if (typeof o.store !== 'object' || o.store === null) throw invalidOption('store', 'must be a BlobStore, e.g. createS3BlobStore({ presign })');
  if (o.vault.accountId !== o.accountId) throw invalidOption('vault', `is for account '${o.vault.accountId}', not options.accountId '${o.accountId}'`);
  checkClientNumbers(o);
  if (o.passkeys !== undefined && typeof o.passkeys?.unlock !== 'function') {
    throw invalidOption('passkeys', 'must be passkeySupport({ authenticator }) from e2ee-backup/passkeys');
  }
  if (o.deviceCache !== undefined && o.deviceCache !== false && typeof o.deviceCache?.create !== 'function') {
    throw invalidOption('deviceCache', 'must be deviceCacheSupport() from e2ee-backup/keys (or false)');
  }
  if (o.incrementalSupport !== undefined && typeof o.incrementalSupport !== 'function') {
    throw invalidOption('incrementalSupport', 'must be incrementalSupport from e2ee-backup/incremental');
  }
  if (o.incremental === true && o.incrementalSupport === undefined) {
    throw invalidOption('incremental', 'needs incrementalSupport from e2ee-backup/incremental');
  }
  const keyPrefix = o.keyPrefix ?? '';
  checkingOptions(() => assertBlobPrefix(keyPrefix, 'options.keyPrefix'));
  const accountId = o.accountId;
  const now = o.now ?? Date.now;
  const random = o.random ?? secureRandom;
  const sleep = o.sleep ?? timerSleep;
  const locks = o.locks === false ? undefined : (o.locks ?? platformLocks());
  const cache: DeviceCache | undefined = o.deviceCache ? o.deviceCache.create(o.storage, accountId) : undefined;
  let keyring: Keyring | undefined;
  // Operations in flight. Each works on its own copy of the keyring (wiped when it ends), so
  // close() or a new unlock wiping the keyring in memory never changes a key under it; close()
  // aborts them (ABORTED) and bumps `epoch`, so nothing that finishes later holds a keyring again.
  const running = new Set<AbortController>();
  const openRestores = new Set<{ close(): void }>();
  let epoch = 0;

  /** Start an operation: its signal follows the caller's and aborts on close(). */
  const begin = (user: AbortSignal | undefined) => {
    const ac = new AbortController();
    const onAbort = () => ac.abort(user?.reason);
    if (user?.aborted) ac.abort(user.reason);
    else user?.addEventListener('abort', onAbort, { once: true });
    running.add(ac);
    return {
      signal: ac.signal,
      /** The operation is over; `keepLink` when a result it returns still follows the caller's signal. */
      end: (keepLink = false) => {
        running.delete(ac);
        if (!keepLink) user?.removeEventListener('abort', onAbort);
      },
    };
  };

  const listeners = new Map<string, Set<(e: never) => void>>();
  const emit = <K extends keyof BackupClientEvents>(type: K, event: BackupClientEvents[K]) => {
    for (const l of listeners.get(type) ?? []) {
      try {
        (l as (e: BackupClientEvents[K]) => void)(event);
      } catch {
        // A listener's failure is the app's; it must not break a backup.
      }
    }
  };

  const hold = (k: Keyring) => {
    if (keyring !== undefined && keyring !== k) wipeKeyring(keyring);
    keyring = k;
  };

  /**
   * The keyring: in memory, else from the code via the vault, else from the device cache. Resolves
   * with the caller's own COPY, which the caller wipes; the copy of the keyring in memory is taken
   * before the first await, so a close() right after the call cannot wipe it first.
   */
  const markerCtx = (signal: AbortSignal | undefined): MarkerContext => ({
    accountId,
    blobs: o.store,
    keyPrefix,
    ...(signal === undefined ? {} : { signal }),
    ...(o.readTimeoutMs === undefined ? {} : { readTimeoutMs: o.readTimeoutMs }),
  });
  /** Remove this account's device-cache record: the cache's own, or one an earlier client with the cache on left. */
  const forgetCachedKeyring = (): Promise<void> => cache?.clear() ?? o.storage.delete(DEVICE_CACHE_KEY_PREFIX + accountId);
  /** Write the keyring marker for an authoritative keyring (enable, the vault); best effort. */
  const markCurrent = (k: Keyring, signal: AbortSignal | undefined) => writeKeyringMarker(markerCtx(signal), k, random).catch(() => undefined);

  const unlock = async (code: RecoveryCodeInput | undefined, signal: AbortSignal): Promise<Keyring> => {
    const at = epoch;
    /** Keep `k` in memory (unless the client was closed meanwhile) and hand out a copy. */
    const adopt = (k: Keyring): Keyring => {
      if (signal.aborted || epoch !== at) {
        wipeKeyring(k);
        throwIfAborted(signal);
        throw new BackupError('ABORTED', 'the client was closed');
      }
      const mine = copyKeyring(k);
      hold(k);
      return mine;
    };
    if (code !== undefined) {
      const password = toPassword(code, 'recoveryCode');
      let mine: Keyring;
      try {
        mine = adopt(await o.vault.recover({ password, signal }));
      } finally {
        wipe(password);
      }
      try {
        if (cache !== undefined) await cache.save(mine);
        // The vault's keyring is the account's current one: mark it (docs/CLIENT.md §Device cache check).
        await markCurrent(mine, signal);
        return mine;
      } catch (e) {
        wipeKeyring(mine);
        throw e;
      }
    }
    if (keyring !== undefined) return copyKeyring(keyring);
    if (cache !== undefined) {
      const k = await cache.load().catch(() => undefined);
      if (k !== undefined) {
        // Only the account's current keyring: not one put back or planted (docs/CLIENT.md §Device cache check).
        let state: 'current' | 'absent';
        try {
          state = await checkKeyringMarker(markerCtx(signal), k);
        } catch (e) {
          wipeKeyring(k);
          throw e;
        }
        const mine = adopt(k);
        // No marker yet (enabled before markers, or its write failed): this keyring becomes it.
        if (state === 'absent') await markCurrent(mine, signal);
        return mine;
      }
    }
    throwIfAborted(signal);
    throw new BackupError('NOT_ENABLED', 'no keyring on this device: enable, or give the recovery code');
  };

  /** Borrowed key (not a copy) from the operation's own keyring copy: for the archive reader and manifest opening, which do not wipe. */
  const borrowed = lookupIn;

  /** The incremental implementation (only called where `incremental: true`, which requires `incrementalSupport`). */
  const incrementalCode = (): ReturnType<IncrementalLoader> => (o.incrementalSupport === undefined ? Promise.reject(incrementalUnavailable()) : o.incrementalSupport());

  /** What the incremental seam needs for one operation (its own keyring copy). */
  const hookContext = (k: Keyring, signal: AbortSignal): HookContext => ({
    accountId,
    blobs: o.store,
    keyPrefix,
    keyring: k,
    now,
    random,
    signal,
    storage: o.storage,
    ...(o.engine === undefined ? {} : { engine: o.engine }),
    ...(o.readTimeoutMs === undefined ? {} : { readTimeoutMs: o.readTimeoutMs }),
  });

  const catalog = (k: Keyring, signal: AbortSignal): CatalogContext => ({
    accountId,
    blobs: o.store,
    keyPrefix,
    keyLookup: borrowed(k),
    signal,
    ...(o.readTimeoutMs === undefined ? {} : { readTimeoutMs: o.readTimeoutMs }),
  });

  /**
   * Run `fn` as an operation with its own keyring copy (see `running`): the copy is taken
   * synchronously at the call, wiped when `fn` settles.
   */
  const withKeyring = async <T>(
    code: RecoveryCodeInput | undefined,
    user: AbortSignal | undefined,
    fn: (k: Keyring, signal: AbortSignal, keepLink: () => void) => Promise<T>,
  ): Promise<T> => {
    const op = begin(user);
    let keep = false;
    let k: Keyring | undefined;
    try {
      k = await unlock(code, op.signal);
      const result = await fn(k, op.signal, () => (keep = true));
      throwIfAborted(op.signal);
      return result;
    } finally {
      if (k !== undefined) wipeKeyring(k);
      op.end(keep);
    }
  };

  const lockOptions = (signal: AbortSignal) => ({
    store: o.storage,
    ...(locks === undefined ? {} : { locks }),
    ...(o.waitForLock === undefined ? {} : { wait: o.waitForLock }),
    ...(o.lockTimeoutMs === undefined ? {} : { timeoutMs: o.lockTimeoutMs }),
    ...(o.leaseMs === undefined ? {} : { leaseMs: o.leaseMs }),
    signal,
    now,
    sleep,
    random,
  });

  /** The passkey flows (`INVALID_ARGUMENT` when the client was made without `passkeys`). */
  const passkeyFlows = (): PasskeySupport => {
    if (o.passkeys === undefined) throw invalidOption('passkeys', 'is needed: pass passkeySupport({ authenticator }) from e2ee-backup/passkeys');
    return o.passkeys;
  };
  const passkeyContext = (signal: AbortSignal | undefined): PasskeyCallContext => ({
    accountId,
    store: o.store,
    keyPrefix,
    now,
    random,
    ...(signal === undefined ? {} : { signal }),
  });

  const client: BackupClient = {
    accountId,

    async enable(opts = {}) {
      throwIfAborted(opts.signal);
      const at = epoch;
      const generated = opts.recoveryCode === undefined ? generateRecoveryCode(random) : undefined;
      const password = toPassword(opts.recoveryCode ?? generated!, 'recoveryCode');
      const k = createKeyring(random, now);
      try {
        await o.vault.enroll({
          password,
          keyring: k,
          ...(opts.reset === undefined ? {} : { reset: opts.reset }),
          ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        });
      } catch (e) {
        wipeKeyring(k);
        throw e;
      } finally {
        wipe(password);
      }
      // enable() is not aborted by close(): the enrollment is done and its code must reach the
      // user. The cache gets the keyring; memory keeps it only if the client was not closed. A
      // cache that fails to save does not fail enable(): throwing here would lose the only copy
      // of a generated code for an account the vault has already enrolled.
      let cacheError: { error: unknown } | undefined;
      if (cache !== undefined) await cache.save(k).catch((error: unknown) => void (cacheError = { error }));
      // Without the cache, a record an earlier client left holds the keyring just replaced (which
      // still opens the backups made under it): remove it. Best effort: the code must reach the user.
      if (cache === undefined) await Promise.resolve().then(forgetCachedKeyring).catch(() => undefined);
      await markCurrent(k, opts.signal);
      // Passkeys of an earlier enrollment (a reset) cannot vouch for a new keyring: remove them.
      if (o.passkeys !== undefined) {
        const pk = o.passkeys;
        const ctx = passkeyContext(opts.signal);
        await pk.list(ctx).then(
          async (stale) => {
            if (stale.length === 0) return;
            try {
              for (const p of stale) await pk.remove(ctx, p.id);
              emit('passkeys-removed', { count: stale.length });
            } catch (error) {
              emit('passkeys-removed', { count: 0, error });
            }
          },
          (error: unknown) => emit('passkeys-removed', { count: 0, error }),
        );
      }
      if (epoch === at) hold(k);
      else wipeKeyring(k);
      emit('enabled', { accountId });
      if (cacheError !== undefined) emit('device-cache-failed', { accountId, error: cacheError.error });
      return generated === undefined ? {} : { recoveryCode: generated };
    },

    async unlock(opts) {
      if (typeof opts !== 'object' || opts === null) throw new TypeError('options must be an object');
      await withKeyring(opts.recoveryCode, opts.signal, async () => undefined);
    },

    async backup(source, opts = {}) {
      if (!isBytes(source) && !(typeof source === 'object' && source !== null)) {
        throw new TypeError('source must be a Uint8Array, a Blob or a ReadableStream');
      }
      return withKeyring(undefined, opts.signal, (k, opSignal) => withExclusiveLock(
        `e2ee-backup/${accountId}/backup`,
        lockOptions(opSignal),
        async (signal, guard) => {
          emit('backup-started', { accountId });
          try {
            if (o.incremental === true) {
              const r = await (await incrementalCode()).backupIncremental(incrementalContext({ ...hookContext(k, signal), guard }), source, {
                ...(opts.metadata === undefined ? {} : { metadata: opts.metadata }),
                onProgress: (p) => {
                  const bp: BackupProgress = { phase: 'upload', bytes: p.bytes, ...(p.total === undefined ? {} : { total: p.total }), newBytes: p.newBytes, skippedBytes: p.skippedBytes };
                  opts.onProgress?.(bp);
                  emit('backup-progress', bp);
                },
              });
              const result: BackupResult = {
                backupId: r.backupId,
                createdAt: r.createdAt,
                plaintextSize: r.plaintextSize,
                archiveSize: r.uploadedBytes,
                resumed: r.resumedChunks > 0,
                newBytes: r.newBytes,
                skippedBytes: r.skippedBytes,
                sequence: r.sequence,
                latest: r.latest,
              };
              emit('backup-completed', result);
              return result;
            }
            const { manifest, resumed, sequence, latest } = await runBackup({
              accountId,
              blobs: o.store,
              kv: o.storage,
              keyPrefix,
              key: k.current,
              keyLookup: (id) => keyForId(k, id),
              source,
              ...(opts.metadata === undefined ? {} : { metadata: opts.metadata }),
              ...(opts.version === undefined ? {} : { version: opts.version }),
              ...(o.chunkSize === undefined ? {} : { chunkSize: o.chunkSize }),
              ...(o.partSize === undefined ? {} : { partSize: o.partSize }),
              ...(o.concurrency === undefined ? {} : { concurrency: o.concurrency }),
              ...(o.partRetries === undefined ? {} : { partRetries: o.partRetries }),
              ...(o.engine === undefined ? {} : { engine: o.engine }),
              signal,
              onProgress: (p) => {
                opts.onProgress?.(p);
                emit('backup-progress', p);
              },
              now,
              random,
              sleep,
              guard,
            });
            const result: BackupResult = { ...summarize(manifest, resumed), sequence, latest };
            emit('backup-completed', result);
            return result;
          } catch (e) {
            emit('backup-failed', { error: e });
            throw e;
          }
        },
      ));
    },

    async restore(opts = {}) {
      checkSequence(opts.minSequence);
      // One operation (one unlock): an incremental snapshot if that is what the backup is, else the archive.
      const handle = await withKeyring(opts.recoveryCode, opts.signal, async (k, signal, keepLink) => {
        // The latest pointer is read here, once, bounded (size and time), for both kinds of backup,
        // and checked against what this device (or the app) has seen (docs/CLIENT.md §Rollback).
        let backupId = opts.backupId;
        if (backupId === undefined) {
          const pointer = await latestOrUndefined(catalog(k, signal));
          if (opts.allowRollback !== true) checkRollback(pointer, await loadSeen(o.storage, accountId), opts.minSequence);
          if (pointer === undefined) throw new BackupError('NOT_FOUND', 'no such backup');
          await noteSeen(o.storage, accountId, seenOf(pointer));
          backupId = hexOf(pointer.backupId);
        }
        const snap = await openIfSnapshot(hookContext(k, signal), backupId, o.incrementalSupport);
        const opened = snap ?? (await openBackup({ ...catalog(k, signal), ...(o.engine === undefined ? {} : { engine: o.engine }) }, backupId));
        if (signal.aborted) {
          opened.close();
          throwIfAborted(signal);
        }
        // The archive (or snapshot) copied its own key at open; reads made later follow the caller's signal.
        keepLink();
        openRestores.add(opened);
        return opened;
      });
      const opened = handle;
      const info =
        'manifest' in opened
          ? { ...opened.manifest, backupId: hexOf(opened.manifest.backupId) }
          : { backupId: opened.backupId, createdAt: opened.createdAt, metadata: opened.metadata, plaintextSize: opened.plaintextSize };
      const backupId = info.backupId;
      emit('restored', { backupId });
      return {
        backupId,
        createdAt: info.createdAt,
        metadata: info.metadata,
        plaintextSize: info.plaintextSize,
        stream: opened.stream(opts.signal === undefined ? {} : { signal: opts.signal }),
        read: (offset, length, ro) => opened.read(offset, length, ro),
        openStream: (so) => opened.stream(so),
        close: () => {
          openRestores.delete(opened);
          opened.close();
        },
      };
    },

    async changeRecoveryCode(opts) {
      const oldPassword = toPassword(opts.oldCode, 'oldCode');
      const newPassword = toPassword(opts.newCode, 'newCode');
      try {
        await o.vault.changeCode({ oldPassword, newPassword, ...(opts.signal === undefined ? {} : { signal: opts.signal }) });
      } finally {
        wipe(oldPassword, newPassword);
      }
      emit('code-changed', { accountId });
    },

    async disable(opts = {}) {
      const signal = opts.signal;
      if (opts.deleteBackups === true) {
        // Needs no key: storage names are not secret. Manifests go first (a listing never shows
        // a backup without its archive), the latest pointer last.
        // Bounded like every listing (issue 14); an account with more objects is refused, not paged forever.
        const entries = await o.store.list(keyPrefix, { maxEntries: MAX_DISABLE_ENTRIES, ...(signal === undefined ? {} : { signal }) });
        const order = (key: string) => (key.endsWith('latest') ? 2 : key.includes('manifests/') ? 0 : 1);
        for (const e of [...entries].sort((a, b) => order(a.key) - order(b.key))) {
          await o.store.delete(e.key, signal === undefined ? {} : { signal });
        }
      }
      await o.vault.remove(signal === undefined ? {} : { signal });
      // Also a record left by an earlier client of this account with the cache on.
      await forgetCachedKeyring();
      await clearSeen(o.storage, accountId);
      await clearSession(o.storage, accountId);
      if (keyring !== undefined) wipeKeyring(keyring);
      keyring = undefined;
      emit('disabled', { accountId });
    },

    async status(opts = {}) {
      const vault = await o.vault.status(opts.signal === undefined ? {} : { signal: opts.signal });
      let deviceCached = false;
      if (cache !== undefined) {
        const k = await cache.load().catch(() => undefined);
        deviceCached = k !== undefined;
        if (k !== undefined && k !== keyring) wipeKeyring(k);
      }
      const uploadPending = (await o.storage.get(SESSION_KEY_PREFIX + accountId)) !== undefined;
      let fleetTrusted: boolean | undefined;
      if (o.trust !== undefined) {
        fleetTrusted = (await o.trust.trustedFleets()).some((f) => f.fleetId === o.vault.fleetId);
      }
      return {
        vault,
        unlocked: keyring !== undefined,
        deviceCached,
        uploadPending,
        ...(fleetTrusted === undefined ? {} : { fleetTrusted }),
      };
    },

    async listBackups(opts = {}) {
      checkSequence(opts.minSequence);
      return withKeyring(opts.recoveryCode, opts.signal, async (k, signal) => {
        // Rollback (docs/CLIENT.md §Rollback): the pointer must not be older than this device saw.
        const pointer = await latestOrUndefined(catalog(k, signal));
        if (opts.allowRollback !== true) checkRollback(pointer, await loadSeen(o.storage, accountId), opts.minSequence);
        const plain = await listCatalog(catalog(k, signal));
        // Incremental snapshots share the manifests/ namespace; the plain listing skips them.
        const load = o.incrementalSupport;
        const snaps = (load === undefined ? [] : await (await load()).listSnapshots(incrementalContext(hookContext(k, signal)))).map(
          (x): BackupSummary => ({ backupId: x.backupId, createdAt: x.createdAt, plaintextSize: x.plaintextSize, archiveSize: 0, metadata: x.metadata, latest: x.latest }),
        );
        const all = [...plain, ...snaps].sort((a, b) => b.createdAt - a.createdAt || (a.backupId < b.backupId ? 1 : -1));
        if (pointer !== undefined) {
          // The pointer always names a backup whose manifest was written first: missing from the
          // listing means storage hides it.
          if (opts.allowRollback !== true && !all.some((b) => b.backupId === hexOf(pointer.backupId))) {
            // Not hidden, just a snapshot this client cannot read: say so, not rollback.
            if (load === undefined && (await isSnapshot(hookContext(k, signal), pointer.backupId))) throw incrementalUnavailable();
            throw new BackupError('ROLLBACK_DETECTED', 'storage hides the backup its latest pointer names', {
              expectedSequence: pointer.seq ?? 0,
              foundSequence: 0,
            });
          }
          await noteSeen(o.storage, accountId, seenOf(pointer));
        }
        return all;
      });
    },

    async pruneBackups(opts) {
      if (typeof opts !== 'object' || opts === null) throw new TypeError('options must be an object');
      safeInt(opts.keep, 'options.keep', 1);
      // The same lock options as backup(): lease length, waiting and its timeout (issue 14).
      return withKeyring(undefined, opts.signal, (k, opSignal) =>
        withExclusiveLock(`e2ee-backup/${accountId}/backup`, lockOptions(opSignal), async (signal, guard) => {
          const deleted = await pruneCatalog(catalog(k, signal), opts.keep);
          if (o.incremental !== true) return deleted;
          const r = await (await incrementalCode()).pruneIncremental(incrementalContext({ ...hookContext(k, signal), guard }), { keep: opts.keep });
          return [...deleted, ...r.deletedSnapshots];
        }),
      );
    },

    async addPasskey(opts) {
      if (typeof opts !== 'object' || opts === null) throw new TypeError('options must be an object');
      const pk = passkeyFlows();
      return withKeyring(opts.recoveryCode, opts.signal, (k, signal) => pk.add(passkeyContext(signal), k, { name: opts.name, userName: opts.userName }));
    },

    async listPasskeys(opts = {}) {
      return passkeyFlows().list(passkeyContext(opts.signal));
    },

    async removePasskey(id, opts = {}) {
      if (typeof id !== 'string') throw new TypeError('id must be a string');
      await passkeyFlows().remove(passkeyContext(opts.signal), id);
    },

    async unlockWithPasskey(opts = {}) {
      const pk = passkeyFlows();
      const op = begin(opts.signal);
      const at = epoch;
      try {
        const { keyring: k, passkey } = await pk.unlock(passkeyContext(op.signal), opts.rotateSalt === undefined ? {} : { rotateSalt: opts.rotateSalt });
        try {
          // An envelope is not the vault: it may hold an older keyring (one left from before a reset,
          // or an older rotation put back). Like a cached keyring, it must be the account's current
          // one (docs/CLIENT.md §Device cache check); with no marker yet, it becomes it.
          const state = await checkKeyringMarker(markerCtx(op.signal), k).catch((e: unknown) => {
            throw isBackupError(e, 'KEYRING_NOT_CURRENT')
              ? new BackupError(
                  'KEYRING_NOT_CURRENT',
                  "the passkey's envelope holds a keyring that is not the account's current one (from before a reset, or put back): unlock with the recovery code, then add the passkey again",
                  { cause: e },
                )
              : e;
          });
          if (state === 'absent') await markCurrent(k, op.signal);
          if (op.signal.aborted || epoch !== at) {
            throwIfAborted(op.signal);
            throw new BackupError('ABORTED', 'the client was closed');
          }
          if (cache !== undefined) await cache.save(k);
          // close() may have run while the cache was saving: never hold a keyring in a closed client.
          if (epoch !== at) throw new BackupError('ABORTED', 'the client was closed');
        } catch (e) {
          wipeKeyring(k);
          throw e;
        }
        hold(k);
        return passkey;
      } finally {
        op.end();
      }
    },

    async resealPasskeys(opts = {}) {
      const pk = passkeyFlows();
      return withKeyring(undefined, opts.signal, (k, signal) => pk.reseal(passkeyContext(signal), k));
    },

    on(type, listener) {
      if (typeof listener !== 'function') throw new TypeError('listener must be a function');
      let set = listeners.get(type);
      if (set === undefined) listeners.set(type, (set = new Set()));
      set.add(listener as (e: never) => void);
      return () => set.delete(listener as (e: never) => void);
    },

    close() {
      epoch++;
      const reason = new BackupError('ABORTED', 'the client was closed');
      for (const ac of running) ac.abort(reason);
      running.clear();
      for (const r of openRestores) r.close();
      openRestores.clear();
      if (keyring !== undefined) wipeKeyring(keyring);
      keyring = undefined;
    },
  };
  return client;
}

function summarize(m: BackupManifest, resumed: boolean): BackupResult {
  return {
    backupId: hexOf(m.backupId),
    createdAt: m.createdAt,
    plaintextSize: m.plaintextSize,
    archiveSize: m.archiveSize,
    resumed,
  };
}
