/**
 * An independent decoder written from docs/FORMAT.md alone: header parsing by offsets, the key
 * schedule with @noble/hashes' one-call HKDF, and each chunk opened with libsodium's
 * crypto_aead_xchacha20poly1305_ietf_decrypt (full 24-byte nonces, no HChaCha20 shortcut). It
 * imports nothing from lib/ except to produce archives, so it proves the spec, not our code.
 * An independent encoder (libsodium again) checks the other direction byte for byte.
 */
import { readFileSync } from 'node:fs';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { beforeAll, describe, expect, it } from 'vitest';
import { decryptArchive, encryptArchive } from '../../lib/archive/archive.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
const u32 = (b: Uint8Array, o: number): number => new DataView(b.buffer, b.byteOffset).getUint32(o, false);
const te = new TextEncoder();

/** FORMAT.md §2, §3, §4, §6, in the most literal way. Throws a plain Error on any failure. */
function referenceDecode(archive: Uint8Array, bk: Uint8Array): { keyId: Uint8Array; metadata: Uint8Array; plaintext: Uint8Array } {
  if (archive.length < 68) throw new Error('short');
  if (Buffer.from(archive.subarray(0, 8)).toString('latin1') !== 'E2EE-ARC') throw new Error('magic');
  if (archive[8] !== 1 || archive[9] !== 1 || archive[10] !== 0 || archive[11] !== 0) throw new Error('version/suite/flags');
  const chunkSize = u32(archive, 12);
  if (chunkSize < 64 || chunkSize > 16 * 1024 * 1024) throw new Error('chunk size');
  const keyId = archive.slice(16, 32);
  const salt = archive.slice(32, 64);
  const m = u32(archive, 64);
  if (m > 65536) throw new Error('metadata length');
  const headerLength = 100 + m;
  if (archive.length < headerLength) throw new Error('short header');
  const prefix = archive.subarray(0, 68 + m);
  const metadata = archive.slice(68, 68 + m);
  const stored = archive.subarray(68 + m, 100 + m);
  const payloadKey = hkdf(sha256, bk, salt, te.encode('e2ee-backup/v1/archive/payload-key'), 32);
  const noncePrefix = hkdf(sha256, bk, salt, te.encode('e2ee-backup/v1/archive/nonce-prefix'), 16);
  const info = new Uint8Array([...te.encode('e2ee-backup/v1/archive/commitment'), ...prefix]);
  const commitment = hkdf(sha256, bk, salt, info, 32);
  if (!sodium.memcmp(commitment, stored)) throw new Error('commitment');
  const aad = sha256(archive.subarray(0, headerLength));
  // §5: the chunk layout from the size.
  const body = archive.length - headerLength;
  const sealed = chunkSize + 16;
  const full = Math.floor(body / sealed);
  const rem = body - full * sealed;
  let count: number;
  if (body < 16) throw new Error('size');
  else if (rem === 0) count = full;
  else if (rem >= 17 || (rem === 16 && full === 0)) count = full + 1;
  else throw new Error('size');
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = headerLength + i * sealed;
    const chunk = archive.subarray(start, Math.min(archive.length, start + sealed));
    const nonce = new Uint8Array(24);
    nonce.set(noncePrefix, 0);
    // u56(i) big-endian in bytes 16..22, final flag in byte 23.
    let v = i;
    for (let j = 22; j >= 16; j--) {
      nonce[j] = v % 256;
      v = Math.floor(v / 256);
    }
    nonce[23] = i === count - 1 ? 1 : 0;
    const plain = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, chunk, aad, nonce, payloadKey);
    out.push(...plain);
  }
  return { keyId, metadata, plaintext: Uint8Array.from(out) };
}

/** FORMAT.md encoder with libsodium, given the salt. */
function referenceEncode(bk: Uint8Array, keyId: Uint8Array, salt: Uint8Array, chunkSize: number, metadata: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const prefix = new Uint8Array(68 + metadata.length);
  prefix.set(te.encode('E2EE-ARC'), 0);
  prefix[8] = 1;
  prefix[9] = 1;
  new DataView(prefix.buffer).setUint32(12, chunkSize, false);
  prefix.set(keyId, 16);
  prefix.set(salt, 32);
  new DataView(prefix.buffer).setUint32(64, metadata.length, false);
  prefix.set(metadata, 68);
  const info = new Uint8Array([...te.encode('e2ee-backup/v1/archive/commitment'), ...prefix]);
  const header = new Uint8Array([...prefix, ...hkdf(sha256, bk, salt, info, 32)]);
  const payloadKey = hkdf(sha256, bk, salt, te.encode('e2ee-backup/v1/archive/payload-key'), 32);
  const noncePrefix = hkdf(sha256, bk, salt, te.encode('e2ee-backup/v1/archive/nonce-prefix'), 16);
  const aad = sha256(header);
  const count = plaintext.length === 0 ? 1 : Math.ceil(plaintext.length / chunkSize);
  const parts: Uint8Array[] = [header];
  for (let i = 0; i < count; i++) {
    const nonce = new Uint8Array(24);
    nonce.set(noncePrefix, 0);
    new DataView(nonce.buffer).setUint32(19, i, false); // i < 2^32 here: bytes 16..18 stay 0
    nonce[23] = i === count - 1 ? 1 : 0;
    const chunk = plaintext.subarray(i * chunkSize, (i + 1) * chunkSize);
    parts.push(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(chunk, aad, null, nonce, payloadKey));
  }
  return Buffer.concat(parts);
}

interface Vector {
  name: string;
  key: string;
  keyId: string;
  salt: string;
  chunkSize: number;
  metadata: string;
  plaintext: string;
  archive: string;
}
const vectors = (JSON.parse(readFileSync(new URL('../vectors/archive-v1.json', import.meta.url), 'utf8')) as { cases: Vector[] }).cases;

beforeAll(async () => {
  await sodium.ready;
});

describe('independent decoder (libsodium + @noble/hashes, from docs/FORMAT.md)', () => {
  it('reads every frozen vector', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(8);
    for (const v of vectors) {
      const r = referenceDecode(hex(v.archive), hex(v.key));
      expect(same(r.plaintext, hex(v.plaintext)), v.name).toBe(true);
      expect(same(r.keyId, hex(v.keyId)), v.name).toBe(true);
      expect(same(r.metadata, hex(v.metadata)), v.name).toBe(true);
    }
  });

  it('an independent libsodium encoder reproduces every frozen vector byte for byte', () => {
    for (const v of vectors) {
      const a = referenceEncode(hex(v.key), hex(v.keyId), hex(v.salt), v.chunkSize, hex(v.metadata), hex(v.plaintext));
      expect(Buffer.from(a).toString('hex'), v.name).toBe(v.archive);
    }
  });

  it('reads archives our encoder makes, and our decoder reads archives libsodium makes (random inputs)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 64, max: 300 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.uint8Array({ maxLength: 2000 }),
        async (bk, keyId, salt, chunkSize, metadata, plaintext) => {
          const ours = await encryptArchive(bk, keyId, plaintext, { chunkSize, metadata, random: () => salt.slice(), engine: nobleEngine() });
          const r = referenceDecode(ours, bk);
          expect(same(r.plaintext, plaintext)).toBe(true);
          const theirs = referenceEncode(bk, keyId, salt, chunkSize, metadata, plaintext);
          expect(same(theirs, ours)).toBe(true);
          expect(same(await decryptArchive(bk, theirs), plaintext)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('rejects what our decoder rejects: a wrong key, a flipped byte, a dropped final chunk', async () => {
    const bk = new Uint8Array(32).fill(9);
    const archive = await encryptArchive(bk, new Uint8Array(16), new Uint8Array(500).fill(1), { chunkSize: 64 });
    expect(() => referenceDecode(archive, new Uint8Array(32))).toThrow();
    const flipped = archive.slice();
    flipped[200]! ^= 1;
    expect(() => referenceDecode(flipped, bk)).toThrow();
    expect(() => referenceDecode(archive.subarray(0, archive.length - (500 - 7 * 64) - 16), bk)).toThrow();
    expect(same(referenceDecode(archive, bk).plaintext, new Uint8Array(500).fill(1))).toBe(true);
  });
});
