/**
 * Known answers for the chunker and the chunk-id MAC (test/vectors/incremental-v1.json), checked
 * three ways: our chunker fed whole and byte-ragged, and an independent reading of
 * docs/INCREMENTAL.md §3-§4 written here with node:crypto only (HKDF, AES-128-ECB, HMAC).
 */
import { describe, expect, it } from 'vitest';
import { createCipheriv, createHmac, hkdfSync } from 'node:crypto';
import vector from '../vectors/incremental-v1.json' with { type: 'json' };
import { KeyedChunker, chunkIdSync, chunkLengths, createChunkIdMac, deriveChunkIdKey, deriveChunkerKeys, derivePackKeys } from '../../lib/incremental/index.js';
import { fromHex, toHex } from '../../lib/util/bytes.js';
import { streamBytes } from './generate-vectors.js';

const bk = fromHex(vector.backupKey);

function plaintextOf(c: (typeof vector.cases)[number]): Uint8Array {
  return c.plaintext === 'zeros' ? new Uint8Array(c.length) : streamBytes(c.seed, c.length);
}

/** docs/INCREMENTAL.md §4, literally: every position, no batching, node:crypto AES. */
function independentLengths(data: Uint8Array): number[] {
  const info = (l: string) => Buffer.from(l, 'utf8');
  const table = Buffer.from(hkdfSync('sha256', bk, Buffer.alloc(0), info('e2ee-backup/v1/incremental/gear-table'), 2048));
  const prfKey = Buffer.from(hkdfSync('sha256', bk, Buffer.alloc(0), info('e2ee-backup/v1/incremental/cut-prf'), 16));
  const G = (b: number) => (BigInt(table.readUInt32BE(8 * b)) << 32n) | BigInt(table.readUInt32BE(8 * b + 4));
  const mask = (1n << 64n) - 1n;
  const aes = createCipheriv('aes-128-ecb', prfKey, null).setAutoPadding(false);
  const prf = (h: bigint) => {
    const block = Buffer.alloc(16);
    block.writeBigUInt64BE(h, 0);
    return aes.update(block).readUInt32BE(0);
  };
  const hs: bigint[] = [];
  let h = 0n;
  for (const b of data) {
    h = ((h << 1n) & mask) ^ G(b);
    hs.push(h);
  }
  const out: number[] = [];
  let start = 0;
  for (;;) {
    if (start >= data.length) break;
    let end = Math.min(data.length, start + 256 * 1024);
    for (let p = start + 16 * 1024; p <= Math.min(data.length, start + 256 * 1024); p++) {
      const hp = hs[p - 1]!;
      if (hp >> 56n === 0n && prf(hp) < Math.floor(2 ** 32 / 192)) {
        end = p;
        break;
      }
    }
    out.push(end - start);
    start = end;
  }
  return out;
}

describe('incremental known answers (test/vectors/incremental-v1.json)', () => {
  it('derives the frozen keys (and node:crypto HKDF agrees)', () => {
    const k = deriveChunkerKeys(bk);
    expect(toHex(k.prfKey)).toBe(vector.prfKey);
    expect(Array.from(k.gear.subarray(0, 4))).toEqual(vector.gearTableFirst);
    expect(toHex(deriveChunkIdKey(bk))).toBe(vector.chunkIdKey);
    expect(Buffer.from(hkdfSync('sha256', bk, Buffer.alloc(0), Buffer.from('e2ee-backup/v1/incremental/chunk-id'), 32)).toString('hex')).toBe(vector.chunkIdKey);
    const p = derivePackKeys(bk, fromHex(vector.pack.salt));
    expect(toHex(p.payloadKey)).toBe(vector.pack.payloadKey);
    expect(toHex(p.noncePrefix)).toBe(vector.pack.noncePrefix);
    expect(Buffer.from(hkdfSync('sha256', bk, fromHex(vector.pack.salt), Buffer.from('e2ee-backup/v1/incremental/pack-key'), 32)).toString('hex')).toBe(vector.pack.payloadKey);
  });

  for (const c of vector.cases) {
    it(`${c.name}: chunk lengths and ids, fed whole, in 1000-byte and in odd pieces`, async () => {
      const data = plaintextOf(c);
      const keys = deriveChunkerKeys(bk);
      expect(chunkLengths(keys, data)).toEqual(c.lengths);
      expect(chunkLengths(keys, data, 1000)).toEqual(c.lengths);
      const chunker = new KeyedChunker(keys);
      const got: number[] = [];
      for (let o = 0, step = 1; o < data.length; o += step, step = (step * 7 + 3) % 70_001) {
        for (const ch of chunker.push(data.subarray(o, o + step))) got.push(ch.length);
      }
      for (const ch of chunker.end()) got.push(ch.length);
      expect(got).toEqual(c.lengths);
      const idKey = deriveChunkIdKey(bk);
      const native = await createChunkIdMac(idKey);
      const js = await createChunkIdMac(idKey, { native: false });
      let o = 0;
      for (const [i, l] of c.lengths.entries()) {
        const chunk = data.subarray(o, o + l);
        expect(toHex(chunkIdSync(idKey, chunk))).toBe(c.ids[i]);
        expect(toHex(await native.id(chunk))).toBe(c.ids[i]);
        expect(toHex(await js.id(chunk))).toBe(c.ids[i]);
        expect(createHmac('sha256', idKey).update(chunk).digest('hex')).toBe(c.ids[i]);
        o += l;
      }
    });

    it(`${c.name}: an independent node:crypto chunker from the spec agrees`, () => {
      expect(independentLengths(plaintextOf(c))).toEqual(c.lengths);
    }, 120_000);
  }

  it('boundaries are content-defined: a prefix insertion shifts but keeps the later cuts', () => {
    const keys = deriveChunkerKeys(bk);
    const data = streamBytes('incremental-v1', 1 << 20);
    const ins = new Uint8Array(data.length + 5000);
    ins.set(streamBytes('other', 5000));
    ins.set(data, 5000);
    const a = chunkLengths(keys, data);
    const b = chunkLengths(keys, ins);
    // Same cuts after the first couple of chunks.
    expect(b.slice(-5)).toEqual(a.slice(-5));
  });
});
