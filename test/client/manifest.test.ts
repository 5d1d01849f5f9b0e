import { describe, expect, it, beforeAll } from 'vitest';
import fc from 'fast-check';
import { hkdfSync } from 'node:crypto';
import sodium from 'libsodium-wrappers';
import vector from '../vectors/manifest-v1.json' with { type: 'json' };
import {
  MAX_MANIFEST_METADATA,
  decodeManifestBody,
  deriveManifestKey,
  encodeManifestBody,
  openLatest,
  openManifest,
  sealLatest,
  sealManifest,
  type BackupManifest,
} from '../../lib/client/manifest.js';
import { isBackupError } from '../../lib/errors.js';
import { concatBytes, equalBytes, fromHex, toHex, utf8 } from '../../lib/util/bytes.js';

const key = fromHex(vector.backupKey);
const keyId = fromHex(vector.keyId);
const accountId = vector.accountId;
const keyLookup = (id: Uint8Array) => (equalBytes(id, keyId) ? key : undefined);
const manifest: BackupManifest = {
  ...vector.manifest,
  backupId: fromHex(vector.manifest.backupId),
  keyId: fromHex(vector.manifest.keyId),
  archiveSalt: fromHex(vector.manifest.archiveSalt),
};

beforeAll(async () => {
  await sodium.ready;
});

describe('manifest frozen vector (test/vectors/manifest-v1.json)', () => {
  it('our sealer reproduces the frozen bytes', () => {
    expect(toHex(deriveManifestKey(key))).toBe(vector.manifestKey);
    expect(toHex(encodeManifestBody(manifest))).toBe(vector.manifestBody);
    const sealed = sealManifest(manifest, { key, keyId, accountId, random: () => fromHex(vector.manifestNonce) });
    expect(toHex(sealed)).toBe(vector.sealedManifest);
    const latest = sealLatest(
      { backupId: manifest.backupId, createdAt: manifest.createdAt },
      { key, keyId, accountId, random: () => fromHex(vector.latestNonce) },
    );
    expect(toHex(latest)).toBe(vector.sealedLatest);
  });

  it('our opener reads them', () => {
    const m = openManifest(fromHex(vector.sealedManifest), manifest.backupId, { keyLookup, accountId });
    expect(toHex(m.backupId)).toBe(vector.manifest.backupId);
    expect(m.metadata).toEqual(vector.manifest.metadata);
    expect(m.archiveSize).toBe(vector.manifest.archiveSize);
    const p = openLatest(fromHex(vector.sealedLatest), { keyLookup, accountId });
    expect(toHex(p.backupId)).toBe(vector.manifest.backupId);
    expect(p.createdAt).toBe(vector.manifest.createdAt);
  });

  it('an independent decoder (node:crypto HKDF + libsodium XChaCha20-Poly1305) reads them per CLIENT.md', () => {
    const mk = new Uint8Array(hkdfSync('sha256', key, new Uint8Array(0), 'e2ee-backup/v1/manifest/key', 32));
    expect(toHex(mk)).toBe(vector.manifestKey);
    const lp = (s: string) => {
      const b = utf8(s);
      return concatBytes(Uint8Array.of(b.length >> 8, b.length & 0xff), b);
    };
    const open = (hexBytes: string, name: string) => {
      const sealed = fromHex(hexBytes);
      const header = sealed.subarray(0, 46);
      const nonce = sealed.subarray(22, 46);
      const aad = concatBytes(header, lp(accountId), lp(name));
      return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed.subarray(46), aad, nonce, mk);
    };
    expect(toHex(open(vector.sealedManifest, vector.manifestObjectName))).toBe(vector.manifestBody);
    const latestBody = open(vector.sealedLatest, 'latest');
    expect(toHex(latestBody.subarray(0, 16))).toBe(vector.manifest.backupId);
  });
});

describe('manifest authentication', () => {
  const sealed = fromHex(vector.sealedManifest);

  it('refuses a manifest moved to another backup id or account', () => {
    const other = Uint8Array.from(manifest.backupId);
    other[0]! ^= 1;
    expectCode(() => openManifest(sealed, other, { keyLookup, accountId }), 'ARCHIVE_AUTH_FAILED');
    expectCode(() => openManifest(sealed, manifest.backupId, { keyLookup, accountId: 'mallory' }), 'ARCHIVE_AUTH_FAILED');
  });

  it('refuses the latest pointer presented as a manifest and vice versa', () => {
    expectCode(() => openLatest(sealed, { keyLookup, accountId }), 'PROTOCOL');
    expectCode(() => openManifest(fromHex(vector.sealedLatest), manifest.backupId, { keyLookup, accountId }), 'PROTOCOL');
  });

  it('unknown keyId gives ARCHIVE_KEY_UNKNOWN', () => {
    expectCode(() => openManifest(sealed, manifest.backupId, { keyLookup: () => undefined, accountId }), 'ARCHIVE_KEY_UNKNOWN');
  });

  it('any single bit flip anywhere gives a typed error, never a manifest', () => {
    fc.assert(
      fc.property(fc.nat({ max: sealed.length * 8 - 1 }), (bit) => {
        const bad = Uint8Array.from(sealed);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        // A keyId bit flip makes the key unknown; everything else fails as the envelope or the tag.
        expectTyped(() => openManifest(bad, manifest.backupId, { keyLookup, accountId }));
      }),
      { numRuns: 300 },
    );
  });

  it('any truncation or extension gives a typed error', () => {
    fc.assert(
      fc.property(fc.nat({ max: sealed.length - 1 }), fc.uint8Array({ maxLength: 40 }), (cut, extra) => {
        expectTyped(() => openManifest(sealed.subarray(0, cut), manifest.backupId, { keyLookup, accountId }));
        if (extra.length > 0) {
          expectTyped(() => openManifest(concatBytes(sealed, extra), manifest.backupId, { keyLookup, accountId }));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('an envelope over the size cap is refused before any decryption', () => {
    const huge = concatBytes(sealed.subarray(0, 46), new Uint8Array(MAX_MANIFEST_METADATA + 1000));
    expectCode(() => openManifest(huge, manifest.backupId, { keyLookup, accountId }), 'PROTOCOL');
  });
});

describe('manifest body', () => {
  const arbManifest = fc.record({
    backupId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    createdAt: fc.nat({ max: 2 ** 45 }),
    keyId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    archiveSalt: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    plaintextSize: fc.nat({ max: 2 ** 40 }),
    chunkSize: fc.integer({ min: 1024, max: 1 << 20 }),
    extra: fc.nat({ max: 4096 }),
    metadata: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 })),
  }).map(({ extra, ...r }): BackupManifest => {
    const chunkCount = Math.max(1, Math.ceil(r.plaintextSize / r.chunkSize));
    // JSON round trip normalises -0 and friends, which JSON itself cannot carry.
    const metadata = JSON.parse(JSON.stringify(r.metadata)) as BackupManifest['metadata'];
    return { ...r, metadata, chunkCount, archiveSize: r.plaintextSize + chunkCount * 16 + 100 + extra };
  });

  it('round-trips through seal and open', () => {
    fc.assert(
      fc.property(arbManifest, (m) => {
        const sealed = sealManifest(m, { key, keyId, accountId });
        const back = openManifest(sealed, m.backupId, { keyLookup, accountId });
        expect(equalBytes(back.archiveSalt, m.archiveSalt)).toBe(true);
        expect({ ...back, backupId: 0, keyId: 0, archiveSalt: 0 }).toEqual({ ...m, backupId: 0, keyId: 0, archiveSalt: 0 });
      }),
      { numRuns: 100 },
    );
  });

  it('decoding arbitrary bytes never crashes: a manifest or a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeManifestBody(bytes);
        } catch (e) {
          expect(isBackupError(e)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('decoding a valid body with one field mutated gives a typed error or a consistent manifest', () => {
    const body = fromHex(vector.manifestBody);
    fc.assert(
      fc.property(fc.nat({ max: body.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const bad = Uint8Array.from(body);
        bad[i]! ^= x;
        try {
          const m = decodeManifestBody(bad);
          expect(m.chunkCount).toBe(Math.max(1, Math.ceil(m.plaintextSize / m.chunkSize)));
        } catch (e) {
          expect(isBackupError(e)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('misuse at the edge: TypeError/RangeError naming the field', () => {
    expect(() => encodeManifestBody({ ...manifest, backupId: new Uint8Array(3) })).toThrow(/manifest.backupId/);
    expect(() => encodeManifestBody({ ...manifest, chunkCount: 7 })).toThrow(RangeError);
    const big = { blob: 'x'.repeat(MAX_MANIFEST_METADATA) };
    expect(() => encodeManifestBody({ ...manifest, metadata: big })).toThrow(RangeError);
  });
});

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isBackupError(e) ? e.code : e).toBe(code);
    return;
  }
  expect.unreachable('expected a BackupError ' + code);
}

function expectTyped(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(isBackupError(e)).toBe(true);
    return;
  }
  expect.unreachable('expected a BackupError');
}
