/**
 * Is the device cache's keyring the account's current one? (docs/CLIENT.md §Device cache check)
 *
 * The device cache can only say that a record opens under a non-extractable key stored next to it.
 * It cannot tell the keyring it saved from an older one put back (after another device reset the
 * account) or from one planted with a key an attacker generated. So `enable()` and every unlock
 * with the recovery code (the vault's keyring is authoritative) write a **keyring marker** to the
 * blob store, sealed under the current generation, naming it; a keyring loaded from the cache is
 * used only if it opens the marker and the marker names its current generation.
 *
 * @module
 */
import { BackupError, isBackupError } from '../errors.js';
import type { Keyring } from '../recovery/keyring.js';
import { equalBytes, type RandomSource } from '../util/bytes.js';
import { KEYRING_MARKER_NAME, openKeyringMarker, sealKeyringMarker } from './manifest.js';
import { getSmall, type CatalogContext } from './restore.js';

/** @internal What the check needs (a catalog context whose keyLookup is the keyring's). */
export type MarkerContext = Omit<CatalogContext, 'keyLookup'>;

/** @internal Borrowed lookup into `k` (not a copy: the caller owns and wipes `k`). */
export function lookupIn(k: Keyring) {
  return (keyId: Uint8Array) => k.generations.find((g) => equalBytes(g.keyId, keyId))?.key;
}

/** @internal Write the marker for `k` (its current generation). */
export async function writeKeyringMarker(ctx: MarkerContext, k: Keyring, random: RandomSource): Promise<void> {
  const g = k.current;
  const sealed = sealKeyringMarker({ currentKeyId: g.keyId, createdAt: g.createdAt }, { key: g.key, keyId: g.keyId, accountId: ctx.accountId, random });
  await ctx.blobs.put(ctx.keyPrefix + KEYRING_MARKER_NAME, sealed, ctx.signal === undefined ? {} : { signal: ctx.signal });
}

function notCurrent(cause?: unknown): BackupError {
  return new BackupError(
    'KEYRING_NOT_CURRENT',
    "the device cache's keyring is not the account's current one (a reset elsewhere, or a replaced cache): unlock with the recovery code",
    cause === undefined ? {} : { cause },
  );
}

/**
 * @internal Check a cached keyring against the marker: `'current'`, `'absent'` (no marker yet:
 * an account enabled before markers, or whose marker write failed), or KEYRING_NOT_CURRENT.
 */
export async function checkKeyringMarker(ctx: MarkerContext, k: Keyring): Promise<'current' | 'absent'> {
  const keyLookup = lookupIn(k);
  let sealed: Uint8Array;
  try {
    sealed = await getSmall({ ...ctx, keyLookup }, ctx.keyPrefix + KEYRING_MARKER_NAME);
  } catch (e) {
    if (isBackupError(e, 'NOT_FOUND')) return 'absent';
    throw e;
  }
  let marker;
  try {
    marker = openKeyringMarker(sealed, { accountId: ctx.accountId, keyLookup });
  } catch (e) {
    // Sealed under a generation this keyring lacks, or not under this keyring at all.
    if (isBackupError(e, 'ARCHIVE_KEY_UNKNOWN') || isBackupError(e, 'ARCHIVE_AUTH_FAILED')) throw notCurrent(e);
    throw e;
  }
  if (!equalBytes(marker.currentKeyId, k.current.keyId)) throw notCurrent();
  return 'current';
}
