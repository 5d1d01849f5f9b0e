/**
 * `e2ee-backup/keys`: the key material under a backup, for apps and tools that handle it directly
 * (docs/KEYRING.md, docs/RECOVERY-CODE.md, docs/CLIENT.md §Manifests): the keyring of backup keys
 * (create, rotate, look up, wipe, encode, seal for escrow), the self-custody key (a 64-digit key
 * the user writes down, no vault), the device cache that keeps a keyring sealed under a
 * non-extractable device key, sealing and opening manifests and the latest pointer, the recovery
 * code's format constants, and `normalizePassword` for apps that let users choose a PIN or a
 * password instead of a generated code. A backup client does the rest of this for an app: reach
 * for this entry to accept PINs or passwords, to offer self-custody, to build a custom UI for
 * codes, or to read backups without a client.
 *
 * @example
 * ```ts
 * import { generateSelfCustodyKey, sealKeyringWithRecoveryKey } from 'e2ee-backup/keys';
 *
 * const { key, text } = generateSelfCustodyKey(); // show `text` to the user once
 * const sealed = sealKeyringWithRecoveryKey(keyring, key, user.id);
 * ```
 *
 * @packageDocumentation
 */
export {
  createKeyring,
  rotateKeyring,
  keyForId,
  wipeKeyring,
  encodeKeyring,
  decodeKeyring,
  deriveEscrowKek,
  sealKeyring,
  openKeyring,
  BACKUP_KEY_LENGTH,
  MAX_KEYRING_GENERATIONS,
} from './recovery/keyring.js';
export type { Keyring, KeyGeneration } from './recovery/keyring.js';
export {
  generateSelfCustodyKey,
  formatSelfCustodyKey,
  parseSelfCustodyKey,
  sealKeyringWithRecoveryKey,
  openKeyringWithRecoveryKey,
  SELF_CUSTODY_KEY_LENGTH,
  SELF_CUSTODY_DIGITS,
} from './recovery/self-custody.js';
export type { SelfCustodyKey } from './recovery/self-custody.js';
export { normalizePassword, RECOVERY_CODE_ALPHABET, RECOVERY_CODE_VERSION, RECOVERY_CODE_SYMBOLS, RECOVERY_CODE_BITS } from './recovery/code.js';
export type { PasswordPolicy } from './recovery/code.js';
export { createDeviceCache, deviceCacheSupport, DEVICE_CACHE_VERSION, DEVICE_CACHE_KEY_PREFIX } from './storage/device-cache.js';
export type { DeviceCache, DeviceCacheOptions, DeviceCacheSupport } from './storage/device-cache.js';
export { sealManifest, openManifest, sealLatest, openLatest } from './client/manifest.js';
export type { LatestPointer, BackupKeyLookup, SealOptions, OpenOptions, BackupManifest, BackupMetadata, JsonValue } from './client/manifest.js';
export type { RandomSource } from './util/bytes.js';
export type { KeyValueStore, StoredValue } from './storage/kv.js';
