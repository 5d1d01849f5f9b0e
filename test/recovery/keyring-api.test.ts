/**
 * Type-level tests of the public surface of recovery codes, the keyring, self-custody and the
 * device cache, as an app imports it from the package entry (lib/index.ts) and `e2ee-backup/keys`
 * (lib/keys.ts). A signature change
 * breaks `npm run typecheck`, not just a runtime test.
 */
import { describe, expectTypeOf, it } from 'vitest';
import {
  generateRecoveryCode,
  parseRecoveryCode,
  type KeyGeneration,
  type Keyring,
  type KeyValueStore,
  type RandomSource,
} from '../../lib/index.js';
import {
  createDeviceCache,
  createKeyring,
  decodeKeyring,
  deriveEscrowKek,
  encodeKeyring,
  generateSelfCustodyKey,
  keyForId,
  normalizePassword,
  openKeyring,
  openKeyringWithRecoveryKey,
  parseSelfCustodyKey,
  rotateKeyring,
  sealKeyring,
  sealKeyringWithRecoveryKey,
  wipeKeyring,
  type DeviceCache,
  type PasswordPolicy,
  type SelfCustodyKey,
} from '../../lib/keys.js';

describe('public API types', () => {
  it('recovery codes and passwords', () => {
    expectTypeOf(generateRecoveryCode).toEqualTypeOf<(random?: RandomSource) => string>();
    expectTypeOf(parseRecoveryCode).toEqualTypeOf<(input: string) => Uint8Array>();
    expectTypeOf(normalizePassword).toEqualTypeOf<(input: string, policy: PasswordPolicy) => Uint8Array>();
    expectTypeOf<PasswordPolicy['kind']>().toEqualTypeOf<'pin' | 'password'>();
  });

  it('keyring', () => {
    expectTypeOf(createKeyring).toEqualTypeOf<(random?: RandomSource, now?: () => number) => Keyring>();
    expectTypeOf(rotateKeyring).toEqualTypeOf<(keyring: Keyring, random?: RandomSource, now?: () => number) => Keyring>();
    expectTypeOf(keyForId).toEqualTypeOf<(keyring: Keyring, keyId: Uint8Array) => Uint8Array | undefined>();
    expectTypeOf(wipeKeyring).toEqualTypeOf<(keyring: Keyring) => void>();
    expectTypeOf(encodeKeyring).toEqualTypeOf<(keyring: Keyring) => Uint8Array>();
    expectTypeOf(decodeKeyring).toEqualTypeOf<(bytes: Uint8Array) => Keyring>();
    expectTypeOf(deriveEscrowKek).toEqualTypeOf<(exportKey: Uint8Array, fleetId: string, accountId: string) => Uint8Array>();
    expectTypeOf(sealKeyring).toEqualTypeOf<
      (keyring: Keyring, kek: Uint8Array, aadContext: Uint8Array, random?: RandomSource) => Uint8Array
    >();
    expectTypeOf(openKeyring).toEqualTypeOf<(sealed: Uint8Array, kek: Uint8Array, aadContext: Uint8Array) => Keyring>();
    expectTypeOf<Keyring['current']>().toEqualTypeOf<KeyGeneration>();
    expectTypeOf<KeyGeneration>().toEqualTypeOf<{
      readonly keyId: Uint8Array;
      readonly key: Uint8Array;
      readonly createdAt: number;
    }>();
  });

  it('self-custody', () => {
    expectTypeOf(generateSelfCustodyKey).toEqualTypeOf<(random?: RandomSource) => SelfCustodyKey>();
    expectTypeOf(parseSelfCustodyKey).toEqualTypeOf<(input: string) => Uint8Array>();
    expectTypeOf(sealKeyringWithRecoveryKey).toEqualTypeOf<
      (keyring: Keyring, recoveryKey: Uint8Array, accountId: string, random?: RandomSource) => Uint8Array
    >();
    expectTypeOf(openKeyringWithRecoveryKey).toEqualTypeOf<(sealed: Uint8Array, recoveryKey: Uint8Array, accountId: string) => Keyring>();
  });

  it('device cache', () => {
    expectTypeOf(createDeviceCache).parameters.toEqualTypeOf<
      [store: KeyValueStore, accountId: string, options?: { readonly subtle?: SubtleCrypto; readonly random?: RandomSource }]
    >();
    expectTypeOf(createDeviceCache).returns.toEqualTypeOf<DeviceCache>();
    expectTypeOf<DeviceCache['load']>().returns.toEqualTypeOf<Promise<Keyring | undefined>>();
    expectTypeOf<DeviceCache['save']>().parameters.toEqualTypeOf<[keyring: Keyring]>();
  });
});
