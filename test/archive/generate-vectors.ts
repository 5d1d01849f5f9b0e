/**
 * Generates test/vectors/archive-v1.json ONCE. The file is frozen: this script refuses to
 * overwrite it (pass --force only when a new format version deliberately changes the bytes).
 * Run: npx tsx test/archive/generate-vectors.ts
 */
import { existsSync, writeFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { encryptArchive } from '../../lib/archive/archive.js';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { concatBytes, toHex, utf8 } from '../../lib/util/bytes.js';

const out = new URL('../vectors/archive-v1.json', import.meta.url);

/** Deterministic bytes: SHA-256(seed ‖ u32 counter) blocks. */
function det(seed: string, length: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0, n = 0; n < length; i++, n += 32) parts.push(sha256(concatBytes(utf8(seed), new Uint8Array([i >>> 24, i >>> 16, i >>> 8, i]))));
  return concatBytes(...parts).slice(0, length);
}

const cases: { name: string; chunkSize: number; n: number; metadata: string }[] = [
  { name: 'empty', chunkSize: 64, n: 0, metadata: '' },
  { name: 'one byte', chunkSize: 64, n: 1, metadata: '' },
  { name: 'chunk - 1', chunkSize: 64, n: 63, metadata: '' },
  { name: 'exactly one chunk (full final chunk)', chunkSize: 64, n: 64, metadata: '' },
  { name: 'chunk + 1', chunkSize: 64, n: 65, metadata: '' },
  { name: 'many chunks, partial final, metadata', chunkSize: 64, n: 300, metadata: '{"app":"chat","v":1}' },
  { name: 'many chunks, full final, metadata', chunkSize: 100, n: 400, metadata: 'm' },
  { name: 'default chunk size, two chunks', chunkSize: 65536, n: 65537, metadata: '' },
];

async function main(): Promise<void> {
  if (existsSync(out) && !process.argv.includes('--force')) {
    console.error('test/vectors/archive-v1.json exists and is frozen; not overwriting');
    process.exit(1);
  }
  const result = [];
  for (const [i, c] of cases.entries()) {
    const key = det(`archive-v1 key ${i}`, 32);
    const keyId = det(`archive-v1 keyId ${i}`, 16);
    const salt = det(`archive-v1 salt ${i}`, 32);
    const plaintext = det(`archive-v1 plaintext ${i}`, c.n);
    const metadata = utf8(c.metadata);
    const archive = await encryptArchive(key, keyId, plaintext, {
      chunkSize: c.chunkSize,
      metadata,
      engine: nobleEngine(),
      random: (len) => (len === 32 ? salt.slice() : (() => { throw new Error('unexpected length'); })()),
    });
    result.push({
      name: c.name,
      key: toHex(key),
      keyId: toHex(keyId),
      salt: toHex(salt),
      chunkSize: c.chunkSize,
      metadata: toHex(metadata),
      plaintext: toHex(plaintext),
      archive: toHex(archive),
    });
  }
  const doc = {
    description:
      'e2ee-backup archive format v1 (docs/FORMAT.md). Frozen: generated once by test/archive/generate-vectors.ts with the salt injected; all byte strings hex.',
    cases: result,
  };
  writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
  console.log(`wrote ${result.length} cases`);
}

await main();
