/** Shared helpers of the incremental tests: a deterministic keyring, chat-like data, collecting a stream. */
import { createKeyring, type Keyring } from '../../lib/recovery/keyring.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { concatChunks } from '../../lib/util/bytes.js';
import type { IncrementalContext } from '../../lib/incremental/index.js';

/** A deterministic random source (xorshift), for reproducible ids and salts. */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  let s = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[i] = s & 0xff;
    }
    return out;
  };
}

/** A keyring made from a seeded source. */
export function testKeyring(seed = 1): Keyring {
  return createKeyring(seededRandom(seed), () => 1_700_000_000_000);
}

/** `n` bytes of chat-like text: lines of pseudo-random words (compressible but not periodic). */
export function chatBytes(n: number, seed = 7): Uint8Array {
  const r = seededRandom(seed);
  const words = ['hey', 'ok', 'see you', 'lol', 'meeting at', 'photo', 'tomorrow', 'thanks!', 'where', 'are you', 'call me', 'sure'];
  const out = new Uint8Array(n);
  let o = 0;
  let t = 1_700_000_000;
  while (o < n) {
    const b = r(4);
    t += b[0]!;
    const line = `${t} user${b[1]! % 50}: ${words[b[2]! % words.length]} ${words[b[3]! % words.length]} ${b[0]! * 7 + b[1]!}\n`;
    for (let i = 0; i < line.length && o < n; i++) out[o++] = line.charCodeAt(i);
  }
  return out;
}

/** A context over a memory store with a fake clock. */
export function testContext(options: { store?: BlobStore; keyring?: Keyring; clock?: { t: number }; seed?: number } = {}): IncrementalContext & { clock: { t: number } } {
  const clock = options.clock ?? { t: 1_700_000_000_000 };
  return {
    accountId: 'alice',
    blobs: options.store ?? createMemoryBlobStore({ maxTotalBytes: 2 ** 31 }),
    keyring: options.keyring ?? testKeyring(),
    now: () => clock.t,
    random: seededRandom(options.seed ?? 99),
    clock,
  };
}

/** Read a stream whole. */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  return concatChunks(parts);
}
