// Review of 5d63069 (unlockWithPasskey checks the keyring against the account's keyring marker and
// writes one where there is none). The check refuses an envelope an honest store kept from before
// a reset. It cannot refuse one a store attacker puts back: envelopes and the marker live in the
// same blob store, so whoever can put an old envelope back can also delete the marker (or put the
// old one back), and an absent marker is trust on first use. This test shows the case
// docs/THREAT-MODEL.md §6.7 excludes, so the docs stay true: the user resets (say the old keyring
// leaked), the store attacker puts the pre-reset envelope back and deletes the marker, and a new
// device that unlocks with the passkey adopts the pre-reset keyring, writes its marker and backs
// up under it.
import { describe, expect, it } from 'vitest';
import { passkeySupport } from '../../lib/passkeys.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { errorOf } from '../support/errors.js';
import { createFakePasskeys } from '../support/fake-passkey.js';
import { blobClient, makeBlobServer, makeClient, makeVault, readAll, testBytes } from './harness.js';
import { isBackupError } from '../../lib/errors.js';

const vault = makeVault();

describe('passkey unlock against a blob store attacker (5d63069)', () => {
  it('a pre-reset envelope put back with the marker deleted opens the pre-reset keyring (not defended: the attacker writes the store)', async () => {
    const authenticator = createFakePasskeys();
    const server = makeBlobServer();
    const { store } = blobClient(server, {}, 'http');
    const accountId = 'pk-marker-attack';
    const device = () => makeClient(vault, store, createMemoryStore(), { accountId, passkeys: passkeySupport({ authenticator }) });

    const a = device();
    await a.enable();
    await a.addPasskey({ name: 'Phone', userName: 'alice' });
    // The attacker copies every envelope (and could copy the marker too).
    const kept = new Map<string, Uint8Array>();
    for (const e of await store.list('passkeys/')) kept.set(e.key, await store.get(e.key));
    expect(kept.size).toBe(1);
    const oldData = testBytes(3000, 1);
    await a.backup(oldData);

    await a.enable({ reset: true }); // removes the envelopes, new keyring, new marker
    expect(await store.list('passkeys/')).toEqual([]);

    // With an honest store (envelope back, the new marker in place) the new device refuses.
    for (const [k, v] of kept) await store.put(k, v);
    expect(isBackupError(await errorOf(device().unlockWithPasskey()), 'KEYRING_NOT_CURRENT')).toBe(true);

    // The store attacker also deletes the marker: the passkey unlock is trust on first use.
    await store.delete('keyring');
    const b = device();
    await b.unlockWithPasskey();
    const secret = testBytes(2000, 2);
    await b.backup(secret);
    // The backup went under the pre-reset keyring: the reset device cannot read it, and the
    // marker now names the pre-reset generation.
    const restoredOnB = await b.restore();
    expect(equalBytes(await readAll(restoredOnB.stream), secret)).toBe(true);
    const e = await errorOf(a.restore().then((r) => readAll(r.stream)));
    expect(isBackupError(e, 'ARCHIVE_KEY_UNKNOWN'), String(e)).toBe(true);
  });

  it('the same with the pre-reset marker put back instead of deleted', async () => {
    const authenticator = createFakePasskeys();
    const server = makeBlobServer();
    const { store } = blobClient(server, {}, 'http');
    const accountId = 'pk-marker-attack-2';
    const device = () => makeClient(vault, store, createMemoryStore(), { accountId, passkeys: passkeySupport({ authenticator }) });
    const a = device();
    await a.enable();
    await a.addPasskey({ name: 'Phone', userName: 'alice' });
    const kept = new Map<string, Uint8Array>();
    for (const e of await store.list('')) kept.set(e.key, await store.get(e.key));
    expect(kept.has('keyring')).toBe(true);
    await a.enable({ reset: true });
    for (const [k, v] of kept) await store.put(k, v);
    const b = device();
    await b.unlockWithPasskey();
    await b.backup(testBytes(2000, 2));
    const e = await errorOf(a.restore().then((r) => readAll(r.stream)));
    expect(isBackupError(e, 'ARCHIVE_KEY_UNKNOWN'), String(e)).toBe(true);
  });
});
