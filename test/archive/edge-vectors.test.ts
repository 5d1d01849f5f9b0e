// The decoder-relevant answers of docs/FORMAT.md as bytes (test/vectors/archive-edges-v1.json):
// inputs shorter than the magic, check order, when the keyId is looked up, details.limit, and an
// archive whose commitment HKDF info is over 1024 bytes (issue 19, the FORMAT.md questions).
import { createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decryptArchive } from '../../lib/archive/archive.js';
import { isBackupError } from '../../lib/errors.js';
import { fromHex, toHex } from '../../lib/util/bytes.js';

interface Case { name: string; input: string; code: string; limit?: number; keyKnown?: boolean }
const v = JSON.parse(readFileSync(new URL('../vectors/archive-edges-v1.json', import.meta.url), 'utf8')) as {
  key: string;
  keyId: string;
  cases: Case[];
  longInfo: { salt: string; metadata: string; plaintext: string; infoLength: number; archive: string };
};

describe('archive edge vectors', () => {
  for (const c of v.cases) {
    it(c.name, async () => {
      const lookup = async (_id: Uint8Array, hex: string) => (c.keyKnown !== false && hex === v.keyId ? fromHex(v.key) : undefined);
      const e = await decryptArchive(lookup, fromHex(c.input)).then(() => undefined, (x: unknown) => x);
      expect(isBackupError(e) ? e.code : e).toBe(c.code);
      if (c.limit !== undefined) expect(isBackupError(e) && e.details.limit).toBe(c.limit);
    });
  }

  it('long metadata: the commitment is HMAC-SHA-256(PRK, label || prefix || 0x01); Node hkdfSync refuses info over 1024 bytes', async () => {
    const archive = fromHex(v.longInfo.archive);
    const m = v.longInfo.metadata.length / 2;
    const prefix = archive.subarray(0, 68 + m);
    const label = new TextEncoder().encode('e2ee-backup/v1/archive/commitment');
    const info = Buffer.concat([label, prefix]);
    expect(info.length).toBe(v.longInfo.infoLength);
    expect(info.length).toBeGreaterThan(1024);
    const prk = createHmac('sha256', fromHex(v.longInfo.salt)).update(fromHex(v.key)).digest();
    const commitment = createHmac('sha256', prk).update(Buffer.concat([info, Buffer.of(1)])).digest();
    expect(toHex(commitment)).toBe(toHex(archive.subarray(68 + m, 100 + m)));
    expect(() => hkdfSync('sha256', fromHex(v.key), fromHex(v.longInfo.salt), info, 32)).toThrow();
    const plain = await decryptArchive(fromHex(v.key), archive);
    expect(toHex(plain as Uint8Array)).toBe(v.longInfo.plaintext);
  });
});
