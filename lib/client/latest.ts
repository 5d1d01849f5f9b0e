/**
 * Rollback detection and a latest pointer that only moves forward (docs/CLIENT.md §Rollback).
 *
 * Storage can replay an older, authentic latest pointer or hide newer manifests; nothing it holds
 * can prove it did not. So the device remembers the newest pointer it has written or seen (a
 * sequence number, not a clock: devices' clocks disagree), and a restore or listing that shows
 * less is refused with `ROLLBACK_DETECTED` unless the caller allows it. An app that keeps the
 * sequence on its own server (from `BackupResult.sequence`) passes it as `minSequence`, which
 * covers a new device too.
 *
 * Each backup takes its sequence when it starts (one more than the highest seen, on the store or
 * on the device), and moves the pointer only to something newer, with a conditional write
 * (If-Match on the pointer it read, or If-None-Match when there is none), so of two devices'
 * backups the one that started later ends up latest, whichever finished last.
 *
 * @module
 */
import { BackupError, isBackupError } from '../errors.js';
import type { KeyValueStore } from '../storage/kv.js';
import type { BlobStore } from '../storage/blob/types.js';
import { fromHex, toHex, wipe, type RandomSource } from '../util/bytes.js';
import { LATEST_NAME, sealLatest, type BackupKeyLookup, type LatestPointer } from './manifest.js';
import { loadLatest, type CatalogContext } from './restore.js';

/** Key prefix of the device's record of the newest pointer it saw. */
export const SEEN_KEY_PREFIX = 'seen-backup/';

/** What the device remembers: the newest latest pointer it wrote or saw. */
export interface SeenPointer {
  readonly seq: number;
  readonly backupId: string;
  readonly createdAt: number;
}

interface SeenRecord {
  readonly v: number;
  readonly seq: number;
  readonly backupId: string;
  readonly createdAt: number;
  readonly [key: string]: number | string;
}

/** True when pointer `a` is newer than `b`: higher sequence, then later createdAt, then higher id. */
export function isNewer(a: SeenPointer, b: SeenPointer): boolean {
  if (a.seq !== b.seq) return a.seq > b.seq;
  if (a.createdAt !== b.createdAt) return a.createdAt > b.createdAt;
  return a.backupId > b.backupId;
}

/** A pointer as the device records it. */
export function seenOf(p: LatestPointer): SeenPointer {
  return { seq: p.seq ?? 0, backupId: toHex(p.backupId), createdAt: p.createdAt };
}

/** The newest pointer this device has seen, or undefined. */
export async function loadSeen(kv: KeyValueStore, accountId: string): Promise<SeenPointer | undefined> {
  const r = await kv.get<SeenRecord>(SEEN_KEY_PREFIX + accountId);
  if (typeof r !== 'object' || r === null || r.v !== 1) return undefined;
  const ok = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (!ok(r.seq) || !ok(r.createdAt) || typeof r.backupId !== 'string' || !/^[0-9a-f]{32}$/.test(r.backupId)) return undefined;
  return { seq: r.seq, backupId: r.backupId, createdAt: r.createdAt };
}

/** Remember `p` if it is newer than what the device has seen (one atomic update). */
export async function noteSeen(kv: KeyValueStore, accountId: string, p: SeenPointer): Promise<void> {
  await kv.update<SeenRecord>(SEEN_KEY_PREFIX + accountId, (old) => {
    const cur = old !== undefined && old.v === 1 && typeof old.seq === 'number' ? (old as SeenPointer) : undefined;
    return cur === undefined || isNewer(p, cur) ? { v: 1, seq: p.seq, backupId: p.backupId, createdAt: p.createdAt } : old;
  });
}

/** Forget what the device has seen (disable). */
export async function clearSeen(kv: KeyValueStore, accountId: string): Promise<void> {
  await kv.delete(SEEN_KEY_PREFIX + accountId);
}

/**
 * Refuse a state older than `floor` (the device's seen pointer and the app's `minSequence`):
 * `found` is the latest pointer storage shows (undefined: none).
 */
export function checkRollback(found: LatestPointer | undefined, seen: SeenPointer | undefined, minSequence: number | undefined): void {
  const expected = Math.max(seen?.seq ?? 0, minSequence ?? 0);
  if (expected === 0) return;
  const foundSeq = found?.seq ?? 0;
  // A pointer without a sequence (written before sequences existed, or by a writer that does not
  // set one yet) cannot be ordered by sequence; it is judged by its createdAt against the one this
  // device saw, which clocks make approximate.
  const older =
    found === undefined ||
    (foundSeq === 0 ? (seen !== undefined && found.createdAt < seen.createdAt) || (minSequence ?? 0) > 0 : foundSeq < expected);
  if (older) {
    throw new BackupError(
      'ROLLBACK_DETECTED',
      found === undefined
        ? 'storage shows no latest backup, this device saw one: backups hidden or deleted'
        : 'storage shows an older latest backup than this device saw: a replayed pointer or hidden backups',
      { expectedSequence: expected, foundSequence: foundSeq },
    );
  }
}

/** The latest pointer, or undefined when there is none. Other failures propagate. */
export async function latestOrUndefined(ctx: CatalogContext): Promise<LatestPointer | undefined> {
  try {
    return await loadLatest(ctx);
  } catch (e) {
    if (isBackupError(e, 'NOT_FOUND')) return undefined;
    throw e;
  }
}

/**
 * @internal The sequence a backup takes when it starts: one more than the highest this device has
 * seen (`kv`, when given) or storage's latest pointer shows (a pointer that does not open counts
 * as none). Plain (backup.ts) and incremental (lib/incremental) backups both take it here.
 */
export async function nextSequence(ctx: CatalogContext, kv: KeyValueStore | undefined): Promise<number> {
  const seen = kv === undefined ? undefined : await loadSeen(kv, ctx.accountId);
  const scope = wipingLookup(ctx.keyLookup);
  let current: LatestPointer | undefined;
  try {
    current = await latestOrUndefined({ ...ctx, keyLookup: scope.lookup });
  } catch (e) {
    if (!isBackupError(e) || isBackupError(e, 'ABORTED')) throw e;
  } finally {
    scope.done();
  }
  return Math.max(seen?.seq ?? 0, current?.seq ?? 0) + 1;
}

/** @internal What {@link publishLatest} needs. */
export interface PublishContext {
  readonly accountId: string;
  readonly blobs: BlobStore;
  readonly keyPrefix: string;
  /** Lookup returning copies (wiped here). */
  readonly keyLookup: (keyId: Uint8Array) => Uint8Array | undefined;
  readonly key: Uint8Array;
  readonly keyId: Uint8Array;
  readonly random: RandomSource;
  readonly signal?: AbortSignal;
  readonly readTimeoutMs?: number;
  /** Awaited before the write (the backup lock). */
  readonly guard: () => Promise<void>;
}

/** A borrowed-key lookup over a copying one, wiping every copy at `done()`. */
export function wipingLookup(lookup: (keyId: Uint8Array) => Uint8Array | undefined): { lookup: BackupKeyLookup; done(): void } {
  const copies: Uint8Array[] = [];
  return {
    lookup: (id) => {
      const k = lookup(id);
      if (k !== undefined) copies.push(k);
      return k;
    },
    done: () => {
      for (const k of copies) wipe(k);
    },
  };
}

/**
 * Move the latest pointer to `mine` unless storage already names something newer; a conditional
 * write, retried when another device wrote meanwhile. Resolves with whether it moved.
 */
export async function publishLatest(c: PublishContext, mine: LatestPointer & { readonly seq: number }): Promise<boolean> {
  const name = c.keyPrefix + LATEST_NAME;
  for (let attempt = 0; attempt < 8; attempt++) {
    const info = await c.blobs.head(name, c.signal === undefined ? {} : { signal: c.signal });
    let current: LatestPointer | undefined;
    if (info !== undefined) {
      const scope = wipingLookup(c.keyLookup);
      try {
        current = await latestOrUndefined({ ...c, keyLookup: scope.lookup });
      } catch (e) {
        // A pointer we cannot open (another keyring after a reset, or garbage) is replaced.
        if (!isBackupError(e)) throw e;
      } finally {
        scope.done();
      }
    }
    if (current !== undefined && !isNewer(seenOf(mine), seenOf(current))) return false;
    await c.guard();
    try {
      await c.blobs.put(name, sealLatest(mine, { key: c.key, keyId: c.keyId, accountId: c.accountId, random: c.random }), {
        ...(c.signal === undefined ? {} : { signal: c.signal }),
        ...(info === undefined ? { ifNoneMatch: '*' as const } : { ifMatch: info.etag }),
      });
      return true;
    } catch (e) {
      if (!isBackupError(e, 'PRECONDITION_FAILED')) throw e;
    }
  }
  throw new BackupError('BLOB_STORE_FAILED', 'the latest pointer kept changing while this backup published it');
}

/** The id bytes of a seen pointer. */
export function seenId(s: SeenPointer): Uint8Array {
  return fromHex(s.backupId);
}
