// BackupClient with passkeys, against the reference vault and blob server in-process, with a
// software PRF authenticator (test/support/fake-passkey.ts). The Chromium suite runs WebAuthn itself.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { blobPasskeyStore, passkeySupport } from '../../lib/passkeys.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { errorOf } from '../support/errors.js';
import { createFakePasskeys } from '../support/fake-passkey.js';
import { blobClient, makeBlobServer, makeClient, makeVault, readAll, testBytes } from './harness.js';

const vault = makeVault();
let seq = 0;

function setup(authenticator = createFakePasskeys()) {
  const server = makeBlobServer();
  const { store } = blobClient(server, {}, 'http');
  const accountId = `pk${++seq}`;
  const device = () => makeClient(vault, store, createMemoryStore(), { accountId, passkeys: passkeySupport({ authenticator }) });
  return { server, store, accountId, authenticator, device };
}

describe('BackupClient passkeys', () => {
  it('a backup made on one device restores on a new device with the passkey alone', async () => {
    const { device, authenticator } = setup();
    const first = device();
    await first.enable();
    const data = testBytes(70_000, 3);
    await first.backup(data);
    const added = await first.addPasskey({ name: 'Laptop', userName: 'alice' });
    expect((await first.listPasskeys()).map((p) => p.id)).toEqual([added.id]);
    first.close();

    const fresh = device(); // new device storage, no code
    expect(isBackupError(await errorOf(fresh.restore()), 'NOT_ENABLED')).toBe(true);
    expect((await fresh.unlockWithPasskey()).id).toBe(added.id);
    const restored = await fresh.restore();
    expect(equalBytes(await readAll(restored.stream), data)).toBe(true);
    expect(authenticator.outputs.length).toBeGreaterThan(0);
  });

  it('enable({ reset: true }) removes the passkeys (they cannot vouch for a new keyring); added again, they restore', async () => {
    const { device, authenticator } = setup();
    const a = device();
    await a.enable();
    await a.addPasskey({ name: 'Phone', userName: 'alice' });
    const calls = authenticator.calls;
    const removed: number[] = [];
    a.on('passkeys-removed', (e) => removed.push(e.count));
    await a.enable({ reset: true });
    expect(authenticator.calls).toBe(calls);
    expect(removed).toEqual([1]);
    expect(await a.listPasskeys()).toEqual([]);
    await a.addPasskey({ name: 'Phone', userName: 'alice' });
    const data = testBytes(5000, 9);
    await a.backup(data);
    const b = device();
    await b.unlockWithPasskey();
    expect(equalBytes(await readAll((await b.restore()).stream), data)).toBe(true);
  });

  it('resealPasskeys after a keyring rotation needs no prompt', async () => {
    const { device, authenticator } = setup();
    const a = device();
    await a.enable();
    await a.addPasskey({ name: 'Phone', userName: 'alice' });
    const calls = authenticator.calls;
    expect(await a.resealPasskeys()).toBe(1);
    expect(authenticator.calls).toBe(calls);
    await device().unlockWithPasskey();
  });

  it('typed errors: none registered, cancelled, no PRF, a changed PRF output', async () => {
    const { device, authenticator } = setup();
    const c = device();
    await c.enable();
    expect(isBackupError(await errorOf(c.unlockWithPasskey()), 'PASSKEY_NOT_FOUND')).toBe(true);
    authenticator.cancelNext = true;
    expect(isBackupError(await errorOf(c.addPasskey({ name: 'x', userName: 'alice' })), 'PASSKEY_CANCELLED')).toBe(true);
    await c.addPasskey({ name: 'x', userName: 'alice' });
    for (const s of authenticator.credentials.values()) s[5]! ^= 0x40;
    expect(isBackupError(await errorOf(device().unlockWithPasskey()), 'PASSKEY_AUTH_FAILED')).toBe(true);

    const none = setup(createFakePasskeys({ noPrf: true }));
    const n = none.device();
    const { recoveryCode } = await n.enable();
    expect(isBackupError(await errorOf(n.addPasskey({ name: 'x', userName: 'alice' })), 'PASSKEY_PRF_UNSUPPORTED')).toBe(true);
    // The recovery code still works.
    n.close();
    await n.unlock({ recoveryCode: recoveryCode! });
    await n.backup(testBytes(100));
  });

  it('passkeySupport refuses an authenticator without create() and get(); createBackupClient refuses a passkeys option that is not passkeySupport(...)', () => {
    const { store } = setup();
    const thrown = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const bad = thrown(() => passkeySupport({ authenticator: {} as never }));
    expect(isBackupError(bad, 'INVALID_ARGUMENT') && bad.details.option).toBe('authenticator');
    // The option's shape before passkeys had their own subpath: { authenticator }.
    const old = thrown(() => makeClient(vault, store, createMemoryStore(), { passkeys: { authenticator: createFakePasskeys() } as never }));
    expect(isBackupError(old, 'INVALID_ARGUMENT') && old.details.option).toBe('passkeys');
    expect((old as Error).message).toContain('passkeySupport');
  });

  it('a client made without passkeys: every passkey method is INVALID_ARGUMENT naming passkeySupport and e2ee-backup/passkeys', async () => {
    const { store, accountId } = setup();
    const plain = makeClient(vault, store, createMemoryStore(), { accountId });
    await plain.enable();
    for (const call of [
      () => plain.addPasskey({ name: 'x', userName: 'alice' }),
      () => plain.listPasskeys(),
      () => plain.removePasskey('00'),
      () => plain.unlockWithPasskey(),
      () => plain.resealPasskeys(),
    ]) {
      const e = await errorOf(call());
      expect(isBackupError(e, 'INVALID_ARGUMENT') && e.details.option).toBe('passkeys');
      expect((e as Error).message).toMatch(/passkeySupport.*e2ee-backup\/passkeys/);
    }
  });

  it('unlockWithPasskey writes the keyring marker when the account has none, as a cached keyring would', async () => {
    const { device, store } = setup();
    const a = device();
    await a.enable();
    await a.addPasskey({ name: 'Laptop', userName: 'alice' });
    await store.delete('keyring'); // enabled before markers existed, or the marker write failed
    await device().unlockWithPasskey();
    expect((await store.get('keyring')).length).toBeGreaterThan(0);
  });

  it("an envelope left from before a reset (its removal failed) is not the account's keyring: KEYRING_NOT_CURRENT, nothing held", async () => {
    const { store, accountId, authenticator } = setup();
    let failDeletes = false;
    const blobs = blobPasskeyStore(store);
    const envelopes = {
      ...blobs,
      delete: async (id: string) => {
        if (failDeletes) throw new Error('store unavailable');
        await blobs.delete(id);
      },
    };
    const device = () => makeClient(vault, store, createMemoryStore(), { accountId, passkeys: passkeySupport({ authenticator, envelopes }) });
    const a = device();
    await a.enable();
    await a.addPasskey({ name: 'Phone', userName: 'alice' });
    failDeletes = true;
    const removed: { count: number; error?: unknown }[] = [];
    a.on('passkeys-removed', (e) => removed.push(e));
    await a.enable({ reset: true });
    expect(removed.length === 1 && removed[0]!.error !== undefined).toBe(true);
    await a.backup(testBytes(4000, 5)); // under the new keyring

    const b = device();
    const e = await errorOf(b.unlockWithPasskey());
    expect(isBackupError(e, 'KEYRING_NOT_CURRENT'), String(e)).toBe(true);
    // The check proves "not current", not "older" (a planted keyring fails it too): the message says that.
    expect((e as Error).message).toMatch(/not the account's current one/);
    // Nothing was held: no backup goes under the old keyring.
    expect(isBackupError(await errorOf(b.backup(testBytes(100))), 'NOT_ENABLED')).toBe(true);
  });
});
