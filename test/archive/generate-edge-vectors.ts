/**
 * Generates test/vectors/archive-edges-v1.json ONCE (frozen like archive-v1.json; --force only for
 * a deliberate format change). The decoder-relevant answers of docs/FORMAT.md §2, §3 and §7 as
 * bytes: inputs shorter than the magic, the order of the header checks and of the keyId lookup,
 * what `details.limit` holds, and an archive whose commitment HKDF `info` is over 1024 bytes.
 * Run: npx tsx test/archive/generate-edge-vectors.ts
 */
import { existsSync, writeFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { encryptArchive } from '../../lib/archive/archive.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { concatBytes, toHex, utf8 } from '../../lib/util/bytes.js';

const out = new URL('../vectors/archive-edges-v1.json', import.meta.url);

function det(seed: string, length: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0, n = 0; n < length; i++, n += 32) parts.push(sha256(concatBytes(utf8(seed), new Uint8Array([i >>> 24, i >>> 16, i >>> 8, i]))));
  return concatBytes(...parts).slice(0, length);
}

async function main(): Promise<void> {
  if (existsSync(out) && !process.argv.includes('--force')) {
    console.error('test/vectors/archive-edges-v1.json exists and is frozen; not overwriting');
    process.exit(1);
  }
  const key = det('edges key', 32);
  const keyId = det('edges keyId', 16);
  const salt = det('edges salt', 32);
  const make = (plaintext: Uint8Array, metadata: Uint8Array, chunkSize = 64) =>
    encryptArchive(key, keyId, plaintext, { chunkSize, metadata, engine: nobleEngine(), random: () => salt.slice() }) as Promise<Uint8Array>;
  const base = await make(det('edges plaintext', 100), utf8('{"v":1}'));
  const header = base.subarray(0, 100 + 7);
  const edit = (offset: number, bytes: number[], from: Uint8Array = header) => {
    const b = from.slice();
    b.set(bytes, offset);
    return b;
  };
  const u32 = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  // Long metadata: the commitment's HKDF info (33-byte label + 68 + m header bytes) is 1101 bytes.
  const longMetadata = det('edges long metadata', 1000);
  const longPlaintext = det('edges long plaintext', 130);
  const long = await make(longPlaintext, longMetadata);

  const cases = [
    { name: 'empty input (a strict prefix of the magic)', input: '', code: 'ARCHIVE_AUTH_FAILED' },
    { name: '3 bytes, a strict prefix of the magic', input: toHex(header.subarray(0, 3)), code: 'ARCHIVE_AUTH_FAILED' },
    { name: '4 bytes, the 4th differs from the magic', input: toHex(edit(3, [0x58]).subarray(0, 4)), code: 'ARCHIVE_NOT_RECOGNIZED' },
    { name: 'version 2 and a chunk size of 0: the version is checked first', input: toHex(edit(12, u32(0), edit(8, [2]))), code: 'ARCHIVE_UNSUPPORTED_VERSION' },
    { name: 'flags 0x0001', input: toHex(edit(10, [0, 1])), code: 'ARCHIVE_LIMIT_EXCEEDED', limit: 0 },
    { name: 'chunk size 63 (under the minimum)', input: toHex(edit(12, u32(63))), code: 'ARCHIVE_LIMIT_EXCEEDED', limit: 64 },
    { name: 'chunk size 16 MiB + 1 (over the maximum)', input: toHex(edit(12, u32(16 * 1024 * 1024 + 1))), code: 'ARCHIVE_LIMIT_EXCEEDED', limit: 16 * 1024 * 1024 },
    { name: 'metadata length 65537, only the fixed 68 bytes present', input: toHex(edit(64, u32(65537)).subarray(0, 68)), code: 'ARCHIVE_LIMIT_EXCEEDED', limit: 65536 },
    { name: 'unknown keyId, header cut inside the commitment: truncation, not an unknown key', input: toHex(header.subarray(0, 100)), code: 'ARCHIVE_AUTH_FAILED', keyKnown: false },
    { name: 'unknown keyId, whole header present: looked up only now', input: toHex(header), code: 'ARCHIVE_KEY_UNKNOWN', keyKnown: false },
  ];
  const doc = {
    description:
      'e2ee-backup archive format v1, decoder edge cases (docs/FORMAT.md §2, §3, §7). Frozen: generated once by test/archive/generate-edge-vectors.ts. ' +
      'Each case: input bytes (hex) given to a decoder holding `key` under `keyId` (or no key when keyKnown is false), the expected BackupError code and details.limit. ' +
      'longInfo: an archive whose commitment HKDF info is 1101 bytes (over the 1024 Node hkdfSync accepts), with its commitment computed as HMAC-SHA-256(PRK, info || 0x01).',
    key: toHex(key),
    keyId: toHex(keyId),
    cases,
    longInfo: {
      salt: toHex(salt),
      chunkSize: 64,
      metadata: toHex(longMetadata),
      plaintext: toHex(longPlaintext),
      infoLength: 33 + 68 + longMetadata.length,
      archive: toHex(long),
    },
  };
  writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
  console.log(`wrote ${cases.length} cases and the long-info archive`);
}

await main();
