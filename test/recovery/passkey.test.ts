// Passkey envelopes and flows (docs/PASSKEYS.md), outside a browser: a software authenticator
// (test/support/fake-passkey.ts) stands in for WebAuthn; the Chromium suite runs the real ceremony.
import { createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { beforeAll, describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { LABELS } from '../../lib/labels.js';
import { createKeyring, decodeKeyring, encodeKeyring, keyForId, rotateKeyring } from '../../lib/recovery/keyring.js';
import {
  createPasskeyEnvelope,
  decodePasskeyEnvelope,
  encodePasskeyEnvelope,
  openPasskeyEnvelope,
} from '../../lib/recovery/passkey.js';
import {
  addPasskey,
  blobPasskeyStore,
  listPasskeys,
  removePasskey,
  resealPasskeys,
  unlockWithPasskey,
  type PasskeyContext,
} from '../../lib/recovery/passkeys.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { concatBytes, equalBytes, fromHex, toHex, utf8, writeU32BE } from '../../lib/util/bytes.js';
import { createFakePasskeys, prfOf } from '../support/fake-passkey.js';

const V = JSON.parse(readFileSync(new URL('../vectors/passkey-envelope-v1.json', import.meta.url), 'utf8')) as Record<string, string> & {
  createdAt: number;
};

const lp = (...parts: Uint8Array[]) =>
  concatBytes(
    ...parts.flatMap((p) => {
      const l = new Uint8Array(4);
      writeU32BE(l, 0, p.length);
      return [l, p];
    }),
  );

async function rejects(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isBackupError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a rejection');
}

function setup(options?: Parameters<typeof createFakePasskeys>[0]) {
  const blobs = createMemoryBlobStore();
  const authenticator = createFakePasskeys(options);
  const ctx: PasskeyContext = { accountId: 'user-42', authenticator, envelopes: blobPasskeyStore(blobs, 'acct/') };
  return { blobs, authenticator, ctx };
}

beforeAll(async () => {
  await sodium.ready;
});

describe('passkey envelope: the frozen vector', () => {
  it('opens with our code, and re-creating it with the same random draws gives the same bytes', () => {
    const e = decodePasskeyEnvelope(fromHex(V.envelope));
    expect(e.name).toBe(V.name);
    expect(e.createdAt).toBe(V.createdAt);
    const { keyring } = openPasskeyEnvelope(e, fromHex(V.prfOutput), V.accountId);
    expect(toHex(encodeKeyring(keyring))).toBe(V.keyringEncoding);
    const draws = [V.privateKey, V.privateKeyNonce, V.boxEphemeralSecret, V.keyringNonce].map(fromHex);
    const again = createPasskeyEnvelope(
      keyring,
      V.accountId,
      { credentialId: fromHex(V.credentialId), prfSalt: fromHex(V.prfSalt), prfOutput: fromHex(V.prfOutput), name: V.name, createdAt: V.createdAt },
      () => draws.shift()!,
    );
    expect(toHex(encodePasskeyEnvelope(again))).toBe(V.envelope);
  });

  it('an independent reading (node:crypto HKDF, libsodium X25519 and XChaCha20-Poly1305) recovers the keyring', () => {
    const env = fromHex(V.envelope);
    const cred = fromHex(V.credentialId);
    const account = utf8(V.accountId);
    const headerLen = 4 + 1 + 2 + cred.length + 1 + utf8(V.name).length + 8 + 32 + 32;
    const header = env.subarray(0, headerLen);
    const sealedPriv = env.subarray(headerLen, headerLen + 104);
    const eph = env.subarray(headerLen + 104, headerLen + 136);
    const box = env.subarray(headerLen + 140, env.length - 32);
    const tag = env.subarray(env.length - 32);
    const kek = new Uint8Array(hkdfSync('sha256', fromHex(V.prfOutput), fromHex(V.prfSalt), lp(utf8(LABELS.passkeyKek), account, cred), 32));
    const secret = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealedPriv.subarray(24), header, sealedPriv.subarray(0, 24), kek);
    const priv = secret.subarray(0, 32);
    expect(toHex(priv)).toBe(V.privateKey);
    // The box MAC key: HKDF of the keyring's first generation key; the tag covers header, ephemeral and box.
    const gen0 = decodeKeyring(fromHex(V.keyringEncoding)).generations[0]!.key;
    const macKey = new Uint8Array(hkdfSync('sha256', gen0, new Uint8Array(0), lp(utf8(LABELS.passkeyBoxAuth), account, cred), 32));
    expect(toHex(secret.subarray(32))).toBe(toHex(macKey));
    expect(createHmac('sha256', macKey).update(concatBytes(lp(header), eph, lp(box))).digest('hex')).toBe(toHex(tag));
    const pub = sodium.crypto_scalarmult_base(priv);
    expect(toHex(pub)).toBe(V.publicKey);
    const shared = sodium.crypto_scalarmult(priv, eph);
    const boxKey = new Uint8Array(
      hkdfSync('sha256', shared, new Uint8Array(0), lp(utf8(LABELS.passkeyKeyringBox), account, cred, eph, pub), 32),
    );
    const aad = concatBytes(lp(utf8(LABELS.keyringAad)), Uint8Array.of(1), lp(lp(utf8(LABELS.passkeyKeyringBox), account, cred)));
    const pt = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, box.subarray(25), aad, box.subarray(1, 25), boxKey);
    expect(toHex(pt)).toBe(V.keyringEncoding);
  });

  it('any change to the envelope, or another PRF output or account, is a typed error and never a keyring', () => {
    const bytes = fromHex(V.envelope);
    const out = fromHex(V.prfOutput);
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const m = Uint8Array.from(bytes);
        m[i]! ^= x;
        try {
          openPasskeyEnvelope(decodePasskeyEnvelope(m), out, V.accountId);
        } catch (e) {
          return isBackupError(e) && ['KEYRING_MALFORMED', 'PASSKEY_AUTH_FAILED', 'KEYRING_AUTH_FAILED'].includes(e.code);
        }
        return false;
      }),
    );
    const e = decodePasskeyEnvelope(bytes);
    const wrong = Uint8Array.from(out);
    wrong[0]! ^= 1;
    expect(() => openPasskeyEnvelope(e, wrong, V.accountId)).toThrow(expect.objectContaining({ code: 'PASSKEY_AUTH_FAILED' }));
    expect(() => openPasskeyEnvelope(e, out, 'user-43')).toThrow(expect.objectContaining({ code: 'PASSKEY_AUTH_FAILED' }));
  });

  it('the parser caps every length and refuses truncation, trailing bytes and random input with KEYRING_MALFORMED', () => {
    const bytes = fromHex(V.envelope);
    for (let n = 0; n < bytes.length; n += 7) {
      expect(() => decodePasskeyEnvelope(bytes.subarray(0, n))).toThrow(expect.objectContaining({ code: 'KEYRING_MALFORMED' }));
    }
    expect(() => decodePasskeyEnvelope(concatBytes(bytes, Uint8Array.of(0)))).toThrow(expect.objectContaining({ code: 'KEYRING_MALFORMED' }));
    const huge = Uint8Array.from(bytes);
    huge[5] = 0xff; // credential id length 0xff.. > 1023
    expect(() => decodePasskeyEnvelope(huge)).toThrow(expect.objectContaining({ code: 'KEYRING_MALFORMED' }));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        try {
          decodePasskeyEnvelope(concatBytes(bytes.subarray(0, 5), b));
          return true;
        } catch (e) {
          return isBackupError(e) && e.code === 'KEYRING_MALFORMED';
        }
      }),
    );
  });
});

describe('passkey flows', () => {
  it('add, then restore on a new device with the passkey alone', async () => {
    const { blobs, authenticator, ctx } = setup();
    const keyring = createKeyring();
    const added = await addPasskey(ctx, keyring, { name: 'Laptop', userName: 'alice' });
    expect(authenticator.calls).toBe(1);
    // A new device: only the blob store and the passkey (synced by the password manager).
    const fresh: PasskeyContext = { accountId: 'user-42', authenticator, envelopes: blobPasskeyStore(blobs, 'acct/') };
    const { keyring: restored, passkey } = await unlockWithPasskey(fresh);
    expect(passkey.id).toBe(added.id);
    expect(equalBytes(encodeKeyring(restored), encodeKeyring(keyring))).toBe(true);
  });

  it('an authenticator that gives no PRF output at creation takes a second prompt', async () => {
    const { authenticator, ctx } = setup({ prfAtCreate: false });
    const keyring = createKeyring();
    await addPasskey(ctx, keyring, { name: 'Key', userName: 'alice' });
    expect(authenticator.calls).toBe(2);
    expect(equalBytes(encodeKeyring((await unlockWithPasskey(ctx)).keyring), encodeKeyring(keyring))).toBe(true);
  });

  it('two passkeys each open the keyring; a removed one no longer does', async () => {
    const { authenticator, ctx } = setup();
    const keyring = createKeyring();
    const a = await addPasskey(ctx, keyring, { name: 'Laptop', userName: 'alice' });
    const b = await addPasskey(ctx, keyring, { name: 'Phone', userName: 'alice' });
    expect((await listPasskeys(ctx)).map((p) => p.name).sort()).toEqual(['Laptop', 'Phone']);
    for (const p of [a, b]) {
      authenticator.choose = (offered) => offered.find((id) => equalBytes(id, p.credentialId));
      expect((await unlockWithPasskey(ctx)).passkey.id).toBe(p.id);
    }
    await removePasskey(ctx, a.id);
    expect((await listPasskeys(ctx)).map((p) => p.id)).toEqual([b.id]);
    // The removed credential still exists in the password manager: choosing it finds no envelope.
    authenticator.choose = () => a.credentialId;
    expect(await rejects(unlockWithPasskey(ctx))).toBe('PASSKEY_CANCELLED');
    expect(await rejects(removePasskey(ctx, a.id))).toBe('PASSKEY_NOT_FOUND');
  });

  it('a keyring rotation reaches every passkey with no prompt, and old generations stay readable', async () => {
    const { authenticator, ctx } = setup();
    const k1 = createKeyring();
    await addPasskey(ctx, k1, { name: 'Laptop', userName: 'alice' });
    await addPasskey(ctx, k1, { name: 'Phone', userName: 'alice' });
    const calls = authenticator.calls;
    const k2 = rotateKeyring(k1);
    expect(await resealPasskeys(ctx, k2)).toBe(2);
    expect(authenticator.calls).toBe(calls);
    const { keyring } = await unlockWithPasskey(ctx);
    expect(keyring.generations).toHaveLength(2);
    expect(equalBytes(keyring.current.keyId, k2.current.keyId)).toBe(true);
    expect(equalBytes(keyForId(keyring, k1.current.keyId)!, k1.current.key)).toBe(true);
  });

  it('each unlock rotates the salt through the second PRF output; the old salt no longer opens it', async () => {
    const { authenticator, ctx } = setup();
    const keyring = createKeyring();
    await addPasskey(ctx, keyring, { name: 'Laptop', userName: 'alice' });
    const before = decodePasskeyEnvelope((await ctx.envelopes.list())[0]!);
    await unlockWithPasskey(ctx);
    const after = decodePasskeyEnvelope((await ctx.envelopes.list())[0]!);
    expect(equalBytes(after.prfSalt, before.prfSalt)).toBe(false);
    expect(equalBytes(after.publicKey, before.publicKey)).toBe(true);
    // The output for the old salt (what a thief who saw one unlock holds) opens nothing any more.
    const secret = [...authenticator.credentials.values()][0]!;
    expect(() => openPasskeyEnvelope(after, prfOf(secret, before.prfSalt), 'user-42')).toThrow(
      expect.objectContaining({ code: 'PASSKEY_AUTH_FAILED' }),
    );
    expect(equalBytes(encodeKeyring(openPasskeyEnvelope(after, prfOf(secret, after.prfSalt), 'user-42').keyring), encodeKeyring(keyring))).toBe(true);
    // rotateSalt: false leaves the envelope as it is.
    await unlockWithPasskey(ctx, { rotateSalt: false });
    expect(equalBytes(decodePasskeyEnvelope((await ctx.envelopes.list())[0]!).prfSalt, after.prfSalt)).toBe(true);
  });

  it('a changed PRF output (an authenticator that answers differently) is PASSKEY_AUTH_FAILED, never a wrong key', async () => {
    const { authenticator, ctx } = setup();
    await addPasskey(ctx, createKeyring(), { name: 'Phone', userName: 'alice' });
    for (const secret of authenticator.credentials.values()) secret[0]! ^= 1; // iOS 18.0-18.3 cross-device, say
    expect(await rejects(unlockWithPasskey(ctx))).toBe('PASSKEY_AUTH_FAILED');
  });

  it('cancel and missing PRF are typed errors and store nothing', async () => {
    const { authenticator, ctx } = setup();
    authenticator.cancelNext = true;
    expect(await rejects(addPasskey(ctx, createKeyring(), { name: 'x', userName: 'alice' }))).toBe('PASSKEY_CANCELLED');
    expect(await listPasskeys(ctx)).toEqual([]);
    expect(await rejects(unlockWithPasskey(ctx))).toBe('PASSKEY_NOT_FOUND');
    const none = setup({ noPrf: true });
    expect(await rejects(addPasskey(none.ctx, createKeyring(), { name: 'x', userName: 'alice' }))).toBe('PASSKEY_PRF_UNSUPPORTED');
    expect(await listPasskeys(none.ctx)).toEqual([]);
  });

  it('no PRF output, KEK or keyring byte is in the blob store', async () => {
    const { blobs, authenticator, ctx } = setup();
    const keyring = createKeyring();
    await addPasskey(ctx, keyring, { name: 'Laptop', userName: 'alice' });
    await unlockWithPasskey(ctx);
    const stored = await Promise.all((await blobs.list('')).map((e) => blobs.get(e.key)));
    const hay = stored.map((b) => toHex(b)).join('|');
    const secrets = [...authenticator.outputs, keyring.current.key, ...[...authenticator.credentials.values()]];
    for (const s of secrets) expect(hay.includes(toHex(s.subarray(0, 16)))).toBe(false);
    // The encoded keyring is not there in the clear either.
    expect(hay.includes(toHex(encodeKeyring(keyring)).slice(0, 64))).toBe(false);
  });
});
