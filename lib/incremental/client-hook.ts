/**
 * @internal The narrow seam between the BackupClient facade (lib/client.ts) and incremental
 * backups: the facade calls these with its per-operation keyring copy, and nothing here keeps it.
 * This module is small on purpose and never imports the incremental code itself (chunker, AES,
 * packs): that is reached only through the app's `incrementalSupport` (lib/incremental/support.ts),
 * which loads it by `import()` when a backup is incremental or a snapshot is opened, listed or pruned.
 *
 * @module
 */
import type { CipherEngine } from '../archive/engine.js';
import { lookupIn } from '../client/keyring-check.js';
import { latestOrUndefined } from '../client/latest.js';
import { MANIFEST_MAGIC, manifestName } from '../client/manifest.js';
import { boundedRead } from '../client/restore.js';
import { BackupError, isBackupError } from '../errors.js';
import type { Keyring } from '../recovery/keyring.js';
import type { BlobStore } from '../storage/blob/types.js';
import type { KeyValueStore } from '../storage/kv.js';
import { fromHex, type RandomSource } from '../util/bytes.js';
import type { backupIncremental, IncrementalContext, listSnapshots, OpenedSnapshot, openSnapshot, pruneIncremental } from './repo.js';

/** The envelope kind of a snapshot (format.ts `KIND_SNAPSHOT`; test/incremental/client.test.ts checks they agree). */
export const SNAPSHOT_KIND = 3;

/** What the facade calls of the incremental implementation. */
export interface IncrementalModule {
  /** {@link backupIncremental}. */
  readonly backupIncremental: typeof backupIncremental;
  /** {@link openSnapshot}. */
  readonly openSnapshot: typeof openSnapshot;
  /** {@link listSnapshots}. */
  readonly listSnapshots: typeof listSnapshots;
  /** {@link pruneIncremental}. */
  readonly pruneIncremental: typeof pruneIncremental;
}

/**
 * Loads the incremental implementation: `incrementalSupport` from `e2ee-backup/incremental`
 * (lib/incremental/support.ts). Opt-in, so the package entry never reaches lib/incremental.
 */
export type IncrementalLoader = () => Promise<IncrementalModule>;

/** @internal The error when a snapshot is met by a client created without `incrementalSupport`. */
export function incrementalUnavailable(): BackupError {
  return new BackupError(
    'ENGINE_UNAVAILABLE',
    'this backup is an incremental snapshot: create the client with incrementalSupport from e2ee-backup/incremental to read it',
  );
}

/** @internal What the facade passes. */
export interface HookContext {
  readonly accountId: string;
  readonly blobs: BlobStore;
  readonly keyPrefix: string;
  readonly keyring: Keyring;
  readonly engine?: CipherEngine;
  readonly now: () => number;
  readonly random: RandomSource;
  readonly signal: AbortSignal;
  /** The lock guard, checked before every store write (lib/client/lock.ts). */
  readonly guard?: () => Promise<void>;
  /** The client's `readTimeoutMs` (every read of an envelope, pointer or listing). */
  readonly readTimeoutMs?: number;
  /** The client's device storage: where backups record the newest latest pointer (rollback detection). */
  readonly storage?: KeyValueStore;
}

/** @internal The incremental context of a facade operation. */
export function incrementalContext(h: HookContext): IncrementalContext {
  return {
    accountId: h.accountId,
    blobs: h.blobs,
    keyPrefix: h.keyPrefix,
    keyring: h.keyring,
    now: h.now,
    random: h.random,
    signal: h.signal,
    ...(h.engine === undefined ? {} : { engine: h.engine }),
    ...(h.guard === undefined ? {} : { guard: h.guard }),
    ...(h.readTimeoutMs === undefined ? {} : { readTimeoutMs: h.readTimeoutMs }),
    ...(h.storage === undefined ? {} : { storage: h.storage }),
  };
}

/**
 * @internal If the named backup (or the one `latest` names) is an incremental snapshot, open it
 * with `load` (or throw `ENGINE_UNAVAILABLE` when the client has no `incrementalSupport`);
 * otherwise `undefined` (the facade opens a plain backup as before).
 */
export async function openIfSnapshot(h: HookContext, backupId: string | undefined, load: IncrementalLoader | undefined): Promise<OpenedSnapshot | undefined> {
  let id: Uint8Array;
  if (backupId === undefined) {
    // Read as the client reads it: one GET bounded by size and time.
    const latest = await latestOrUndefined({ ...h, keyLookup: lookupIn(h.keyring) });
    if (latest === undefined) return undefined;
    id = latest.backupId;
  } else {
    if (!/^[0-9a-f]{32}$/.test(backupId)) return undefined;
    id = fromHex(backupId);
  }
  if (!(await isSnapshot(h, id))) return undefined;
  if (load === undefined) throw incrementalUnavailable();
  return (await load()).openSnapshot(incrementalContext(h), id);
}

/** @internal Whether manifest `id` is an incremental snapshot (its envelope's kind byte; no key needed). */
export async function isSnapshot(h: HookContext, id: Uint8Array): Promise<boolean> {
  let head: Uint8Array;
  try {
    const name = manifestName(id);
    head = await boundedRead(h, name, (signal) => h.blobs.get(h.keyPrefix + name, { signal, range: { offset: 0, length: 6 } }));
  } catch (e) {
    if (isBackupError(e, 'NOT_FOUND') || isBackupError(e, 'INVALID_ARGUMENT')) return false;
    throw e;
  }
  // The manifest envelope: "E2BM" ‖ version ‖ kind (lib/client/manifest.ts).
  return head.length >= 6 && MANIFEST_MAGIC.every((b, i) => head[i] === b) && head[5] === SNAPSHOT_KIND;
}
