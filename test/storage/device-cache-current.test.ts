// Issue 14, finding 6: the device cache must hold the account's CURRENT keyring. A cached keyring
// put back after another enable({ reset: true }), or a keyring an attacker knows sealed under a
// non-extractable key the attacker generated, must not be used for backups (KEYRING_NOT_CURRENT).
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { createKeyring } from '../../lib/recovery/keyring.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { DEVICE_CACHE_KEY_PREFIX, createDeviceCache, deviceCacheSupport } from '../../lib/storage/device-cache.js';
import { createMemoryStore, type StoredValue } from '../../lib/storage/kv.js';
import { errorOf } from '../support/errors.js';
import { makeClient, makeVault, testBytes } from '../client/harness.js';

const vault = makeVault();
let seq = 0;

async function setup() {
  const blobs = createMemoryBlobStore({ limits: { minPartSize: 1 } });
  const storage = createMemoryStore();
  const accountId = `cache${++seq}`;
  const client = makeClient(vault, blobs, storage, { accountId, deviceCache: deviceCacheSupport() });
  const { recoveryCode } = await client.enable();
  return { blobs, storage, accountId, client, recoveryCode: recoveryCode! };
}

describe('device cache: only the current keyring (issue 14, finding 6)', () => {
  it('a cached K1 put back after enable({ reset: true }) made K2: KEYRING_NOT_CURRENT, nothing uploaded', async () => {
    const { blobs, storage, accountId, client } = await setup();
    const k1Record = await storage.get<StoredValue>(DEVICE_CACHE_KEY_PREFIX + accountId);
    await client.enable({ reset: true });
    client.close();
    await storage.set(DEVICE_CACHE_KEY_PREFIX + accountId, k1Record!);
    const reloaded = makeClient(vault, blobs, storage, { accountId, deviceCache: deviceCacheSupport() });
    const before = (await blobs.list('archives/')).length;
    const e = await errorOf(reloaded.backup(testBytes(3000, 1)));
    expect(isBackupError(e, 'KEYRING_NOT_CURRENT'), String(e)).toBe(true);
    expect((await blobs.list('archives/')).length).toBe(before);
  });

  it('a keyring the attacker knows, sealed under a non-extractable key the attacker generated: KEYRING_NOT_CURRENT', async () => {
    const { blobs, storage, accountId, client } = await setup();
    client.close();
    // The attacker's own record, made by the SDK's code with a fresh non-extractable key.
    const scratch = createMemoryStore();
    await createDeviceCache(scratch, accountId).save(createKeyring());
    await storage.set(DEVICE_CACHE_KEY_PREFIX + accountId, (await scratch.get<StoredValue>(DEVICE_CACHE_KEY_PREFIX + accountId))!);
    const reloaded = makeClient(vault, blobs, storage, { accountId, deviceCache: deviceCacheSupport() });
    const e = await errorOf(reloaded.backup(testBytes(3000, 2)));
    expect(isBackupError(e, 'KEYRING_NOT_CURRENT'), String(e)).toBe(true);
    // A planted keyring is not an older one: the message must not send the investigator that way.
    expect((e as Error).message).toMatch(/not the account's current one/);
    expect((e as Error).message).not.toMatch(/older/);
    expect(await blobs.list('archives/')).toEqual([]);
  });

  it('the genuine cache keeps working after a reload; unlocking with the code repairs a stale cache', async () => {
    const { blobs, storage, accountId, client, recoveryCode } = await setup();
    client.close();
    const reloaded = makeClient(vault, blobs, storage, { accountId, deviceCache: deviceCacheSupport() });
    await reloaded.backup(testBytes(3000, 3));
    const k1Record = await storage.get<StoredValue>(DEVICE_CACHE_KEY_PREFIX + accountId);
    const { recoveryCode: code2 } = await reloaded.enable({ reset: true });
    reloaded.close();
    await storage.set(DEVICE_CACHE_KEY_PREFIX + accountId, k1Record!);
    const again = makeClient(vault, blobs, storage, { accountId, deviceCache: deviceCacheSupport() });
    expect(isBackupError(await errorOf(again.backup(testBytes(3000, 4))), 'KEYRING_NOT_CURRENT')).toBe(true);
    expect(recoveryCode).not.toBe(code2);
    await again.unlock({ recoveryCode: code2! });
    again.close();
    const fixed = makeClient(vault, blobs, storage, { accountId, deviceCache: deviceCacheSupport() });
    await fixed.backup(testBytes(3000, 5));
  });
});
