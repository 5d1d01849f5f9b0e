// BackupClient with passkeys, against the reference vault and blob server in-process, with a
// software PRF authenticator (test/support/fake-passkey.ts). The Chromium suite runs WebAuthn itself.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
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
  const device = () => makeClient(vault, store, createMemoryStore(), { accountId, passkeys: { authenticator } });
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

  it('typed errors: no passkeys option, none registered, cancelled, no PRF, a changed PRF output', async () => {
    const { store, accountId } = setup();
    const plain = makeClient(vault, store, createMemoryStore(), { accountId });
    expect(isBackupError(await errorOf(plain.listPasskeys()), 'INVALID_ARGUMENT')).toBe(true);

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

  it('createBackupClient refuses a passkeys option without an authenticator', async () => {
    const { store } = setup();
    const e = (() => {
      try {
        makeClient(vault, store, createMemoryStore(), { passkeys: { authenticator: {} as never } });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(isBackupError(e, 'INVALID_ARGUMENT')).toBe(true);
  });
});
