/**
 * Generates test/vectors/incremental-v1.json ONCE (npx tsx test/incremental/generate-vectors.ts).
 * The file is frozen: a change to these bytes is a new chunker or format version.
 */
import { writeFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { chunkIdSync, chunkLengths, deriveChunkIdKey, deriveChunkerKeys, derivePackKeys } from '../../lib/incremental/index.js';
import { concatChunks, toHex, writeU32BE } from '../../lib/util/bytes.js';

/** The vectors' plaintext: SHA-256(seed ‖ u32be(i)) for i = 0, 1, …, truncated to `n` bytes. */
export function streamBytes(seed: string, n: number): Uint8Array {
  const parts: Uint8Array[] = [];
  const s = new TextEncoder().encode(seed);
  for (let i = 0; parts.length * 32 < n; i++) {
    const m = new Uint8Array(s.length + 4);
    m.set(s);
    writeU32BE(m, s.length, i);
    parts.push(sha256(m));
  }
  return concatChunks(parts).subarray(0, n);
}

const backupKey = sha256(new TextEncoder().encode('e2ee-backup incremental vector key'));
const keys = deriveChunkerKeys(backupKey);
const idKey = deriveChunkIdKey(backupKey);
const gearBytes = new Uint8Array(2048);
keys.gear.forEach((w, i) => writeU32BE(gearBytes, 4 * i, w));
const cases = [
  { name: 'sha256-stream-1MiB', seed: 'incremental-v1', length: 1 << 20 },
  { name: 'zeros-600KiB', seed: '', length: 600 * 1024 },
];
const out = {
  origin: 'generated once by test/incremental/generate-vectors.ts (this repository, Apache-2.0); frozen',
  backupKey: toHex(backupKey),
  gearTableSha256: toHex(sha256(gearBytes)),
  gearTableFirst: Array.from(keys.gear.subarray(0, 4)),
  prfKey: toHex(keys.prfKey),
  chunkIdKey: toHex(idKey),
  pack: { salt: toHex(sha256(new TextEncoder().encode('salt'))), ...(() => {
    const k = derivePackKeys(backupKey, sha256(new TextEncoder().encode('salt')));
    return { payloadKey: toHex(k.payloadKey), noncePrefix: toHex(k.noncePrefix) };
  })() },
  cases: cases.map((c) => {
    const data = c.seed === '' ? new Uint8Array(c.length) : streamBytes(c.seed, c.length);
    const lengths = chunkLengths(keys, data);
    const ids: string[] = [];
    let o = 0;
    for (const l of lengths) {
      ids.push(toHex(chunkIdSync(idKey, data.subarray(o, o + l))));
      o += l;
    }
    return { ...c, plaintext: c.seed === '' ? 'zeros' : 'sha256-stream', lengths, ids };
  }),
};
writeFileSync(new URL('../vectors/incremental-v1.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
console.log(out.cases.map((c) => `${c.name}: ${c.lengths.length} chunks`).join('\n'));
