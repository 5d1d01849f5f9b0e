/**
 * The demo's sample chat archive: a made-up chat export, generated as a stream (up to 1 GB
 * without holding it in memory) and read back by random access.
 *
 * Layout (all offsets are plaintext offsets in the backup):
 *
 * ```
 * "E2EE-DEMO-CHATS/1\n"
 * for each conversation, in id order (NOT by time):   messages as JSON lines, then its media bytes
 * index: JSON { v, createdAt, conversations: [...] }  newest conversation first
 * footer (16 bytes): "CHATIDX1" ‖ u64 BE offset of the index
 * ```
 *
 * Like a ZIP's central directory, the index sits at the end: a restoring device reads the 16-byte
 * footer, then the index, then only the newest conversations' messages, all by random access
 * into the encrypted backup, before (or without) downloading the rest.
 */

export const MAGIC = 'E2EE-DEMO-CHATS/1\n';
export const FOOTER_MAGIC = 'CHATIDX1';
export const FOOTER_LENGTH = 16;

/** Sizes offered in the UI. */
export const SIZES: readonly { readonly id: string; readonly label: string; readonly bytes: number }[] = [
  { id: '16k', label: '16 KB', bytes: 16 * 1024 },
  { id: '1m', label: '1 MB', bytes: 2 ** 20 },
  { id: '16m', label: '16 MB', bytes: 16 * 2 ** 20 },
  { id: '256m', label: '256 MB', bytes: 256 * 2 ** 20 },
  { id: '1g', label: '1 GB', bytes: 10 ** 9 },
];

/** Most text a plan holds in memory; bigger archives are mostly media. */
const MAX_TEXT = 4 * 2 ** 20;

export interface ChatMessage {
  readonly at: number;
  readonly from: string;
  readonly text: string;
  readonly media?: { readonly name: string; readonly size: number; readonly offset: number };
}

/** One conversation as the index describes it. */
export interface IndexEntry {
  readonly id: string;
  readonly title: string;
  /** Unix ms of the last message. */
  readonly lastAt: number;
  readonly messages: number;
  readonly mediaCount: number;
  /** [offset, length] of the JSON lines. */
  readonly text: readonly [number, number];
  /** [offset, length] of the media bytes. */
  readonly media: readonly [number, number];
}

export interface ArchiveIndex {
  readonly v: 1;
  readonly createdAt: number;
  /** Newest first. */
  readonly conversations: readonly IndexEntry[];
}

interface PlannedConversation {
  readonly entry: IndexEntry;
  readonly textBytes: Uint8Array;
}

/** A generated archive's description: enough to stream it again, byte for byte. */
export interface ArchivePlan {
  readonly seed: number;
  readonly sizeId: string;
  readonly media: boolean;
  /** True when media was switched on because text alone would not fit in memory. */
  readonly mediaForced: boolean;
  readonly totalBytes: number;
  readonly messageCount: number;
  readonly mediaCount: number;
  readonly index: ArchiveIndex;
  /** A string that names this exact content (the backup's resume `version`). */
  readonly version: string;
  /** conversations in archive (id) order */
  readonly conversations: readonly PlannedConversation[];
  readonly indexOffset: number;
  readonly indexBytes: Uint8Array;
}

const NAMES = ['Ana', 'Bilal', 'Chen', 'Dara', 'Emeka', 'Fatima', 'Goran', 'Hana', 'Ines', 'Jonas', 'Kofi', 'Lena', 'Mateo', 'Noor', 'Olek', 'Priya'];
const GROUPS = ['Climbing crew', 'Family', 'Book club', 'Flat 4B', 'Project Atlas', 'Football Sundays', 'Choir', 'Road trip', 'Garden share', 'Night shift'];
const WORDS = (
  'sure thanks tonight tomorrow lunch train late coffee meeting photos weekend call later great idea ' +
  'done see you soon running ten minutes okay on my way did you get it address park bring snacks ' +
  'happy birthday congrats ticket booked rain again send the link what time works for me maybe next week'
).split(' ');

/** xorshift32: small, deterministic, not a secret. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Plan an archive of about `targetBytes`. Text is generated now (≤ 4 MiB); media is streamed later. */
export function planArchive(options: { readonly sizeId: string; readonly media: boolean; readonly seed: number; readonly now: number }): ArchivePlan {
  const size = SIZES.find((s) => s.id === options.sizeId);
  if (size === undefined) throw new RangeError(`unknown size ${options.sizeId}`);
  const target = size.bytes;
  const mediaForced = !options.media && target > MAX_TEXT;
  const media = options.media || mediaForced;
  const rand = rng(options.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

  const textBudget = Math.min(media ? Math.max(2048, target * 0.3) : target * 0.9, MAX_TEXT);
  const messageTotal = Math.max(12, Math.floor(textBudget / 95));
  const convCount = Math.min(300, Math.max(4, Math.round(messageTotal / 25)));
  // Media budget shared by messages that carry media (one in eight).
  const mediaMessages = media ? Math.max(1, Math.floor(messageTotal / 8)) : 0;

  let offset = enc.encode(MAGIC).length;
  const convs: { id: string; title: string; lastAt: number; count: number; people: string[] }[] = [];
  for (let c = 0; c < convCount; c++) {
    const group = rand() < 0.35;
    const people = group ? [pick(NAMES), pick(NAMES), pick(NAMES)] : [pick(NAMES)];
    const title = group ? `${GROUPS[c % GROUPS.length]}${c >= GROUPS.length ? ` ${Math.floor(c / GROUPS.length) + 1}` : ''}` : `${people[0]} (${c + 1})`;
    convs.push({ id: `c${String(c).padStart(4, '0')}`, title, lastAt: options.now - Math.floor(rand() * 30 * DAY_MS), count: 0, people });
  }
  // Spread the messages unevenly (a few busy chats).
  for (let m = 0; m < messageTotal; m++) convs[Math.floor(rand() ** 1.6 * convCount)]!.count++;
  for (const c of convs) c.count = Math.max(1, c.count);
  const messageCount = convs.reduce((n, c) => n + c.count, 0);
  const mediaBudget = Math.max(0, target - textBudget - 64 * convCount - 200);
  const perMedia = mediaMessages > 0 ? Math.floor(mediaBudget / mediaMessages) : 0;
  let mediaLeft = mediaMessages;
  let mediaCount = 0;

  const planned: PlannedConversation[] = [];
  for (const c of convs) {
    const lines: string[] = [];
    const mediaSizes: number[] = [];
    let at = c.lastAt - c.count * 7 * 60_000;
    const textStart = offset;
    for (let i = 0; i < c.count; i++) {
      at = i === c.count - 1 ? c.lastAt : at + Math.floor(rand() * 14 * 60_000);
      const words = 3 + Math.floor(rand() * 12);
      const text = Array.from({ length: words }, () => pick(WORDS)).join(' ');
      const from = rand() < 0.45 ? 'me' : pick(c.people);
      const withMedia = mediaLeft > 0 && perMedia > 0 && rand() < 0.2;
      if (withMedia) {
        mediaLeft--;
        const size = Math.max(1, Math.floor(perMedia * (0.5 + rand())));
        mediaSizes.push(size);
        lines.push(JSON.stringify({ at, from, text, media: { name: `IMG_${String(mediaCount).padStart(5, '0')}.jpg`, size, n: mediaSizes.length - 1 } }));
        mediaCount++;
      } else {
        lines.push(JSON.stringify({ at, from, text }));
      }
    }
    const textBytes = enc.encode(lines.join('\n') + '\n');
    offset += textBytes.length;
    const mediaStart = offset;
    const mediaLength = mediaSizes.reduce((a, b) => a + b, 0);
    offset += mediaLength;
    planned.push({
      entry: {
        id: c.id,
        title: c.title,
        lastAt: c.lastAt,
        messages: c.count,
        mediaCount: mediaSizes.length,
        text: [textStart, textBytes.length],
        media: [mediaStart, mediaLength],
      },
      textBytes,
    });
  }
  const createdAt = options.now;
  const index: ArchiveIndex = {
    v: 1,
    createdAt,
    conversations: planned.map((p) => p.entry).sort((a, b) => b.lastAt - a.lastAt),
  };
  const indexBytes = enc.encode(JSON.stringify(index));
  const indexOffset = offset;
  const totalBytes = indexOffset + indexBytes.length + FOOTER_LENGTH;
  return {
    seed: options.seed,
    sizeId: options.sizeId,
    media,
    mediaForced,
    totalBytes,
    messageCount,
    mediaCount,
    index,
    version: `demo-chats/2;seed=${options.seed};size=${options.sizeId};media=${media};at=${createdAt}`,
    conversations: planned,
    indexOffset,
    indexBytes,
  };
}

const DAY_MS = 86_400_000;

/** Words in the per-seed table the media bytes are drawn from (64 KiB). */
const TABLE_WORDS = 16384;
const tables = new Map<number, Uint32Array>();

/** murmur3's 32-bit finalizer (fmix32): a cheap, well-mixed function of one word. */
function fmix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The seed's 64 KiB table, made once: fmix of each position keyed by the seed. */
function tableFor(seed: number): Uint32Array {
  let t = tables.get(seed);
  if (t === undefined) {
    t = new Uint32Array(TABLE_WORDS);
    for (let i = 0; i < TABLE_WORDS; i++) t[i] = fmix((Math.imul(i, 0x9e3779b1) ^ seed) >>> 0);
    if (tables.size > 4) tables.clear();
    tables.set(seed, t);
  }
  return t;
}

/**
 * Deterministic "media" bytes for absolute archive positions [start, start + length): the words
 * of each 64 KiB block are the seed's table rotated by an amount drawn from the block's number
 * (word p = table[(p + rot(block(p))) mod 16384]), so any slicing of the stream yields the same
 * bytes and a block is two memory copies. A full hash per word cost the page 2.8 s per 256 MB
 * (issue 20); this costs it a small fraction of that.
 */
function fillMedia(seed: number, start: number, length: number): Uint8Array<ArrayBuffer> {
  const first = Math.floor(start / 4);
  const words = Math.ceil((start + length) / 4) - first;
  const w = new Uint32Array(words);
  const table = tableFor(seed >>> 0);
  let i = 0;
  while (i < words) {
    const p = first + i;
    const block = Math.floor(p / TABLE_WORDS);
    const rot = fmix((block ^ Math.imul(seed, 0x85ebca6b)) >>> 0) % TABLE_WORDS;
    const from = p % TABLE_WORDS;
    const n = Math.min(words - i, TABLE_WORDS - from);
    // Words from..from+n of the rotated table: table[(from + rot) mod N …], at most two runs.
    const a = (from + rot) % TABLE_WORDS;
    const firstRun = Math.min(n, TABLE_WORDS - a);
    w.set(table.subarray(a, a + firstRun), i);
    if (firstRun < n) w.set(table.subarray(0, n - firstRun), i + firstRun);
    i += n;
  }
  const off = start - first * 4;
  return new Uint8Array(w.buffer, off, length);
}

const PIECE = 2 ** 20;

/** The archive as a byte stream, generated piece by piece (≤ 1 MiB in memory at a time). */
export function archiveStream(plan: ArchivePlan): ReadableStream<Uint8Array<ArrayBuffer>> {
  type Part = { readonly bytes: Uint8Array<ArrayBuffer> } | { readonly media: readonly [number, number] };
  function* parts(): Generator<Part> {
    yield { bytes: enc.encode(MAGIC) };
    for (const c of plan.conversations) {
      yield { bytes: Uint8Array.from(c.textBytes) };
      const [mOff, mLen] = c.entry.media;
      for (let p = 0; p < mLen; p += PIECE) yield { media: [mOff + p, Math.min(PIECE, mLen - p)] };
    }
    yield { bytes: Uint8Array.from(plan.indexBytes) };
    const footer = new Uint8Array(FOOTER_LENGTH);
    footer.set(enc.encode(FOOTER_MAGIC), 0);
    new DataView(footer.buffer).setBigUint64(8, BigInt(plan.indexOffset));
    yield { bytes: footer };
  }
  const it = parts();
  return new ReadableStream<Uint8Array<ArrayBuffer>>(
    {
      pull(controller) {
        const n = it.next();
        if (n.done === true) {
          controller.close();
          return;
        }
        const part = n.value;
        controller.enqueue('bytes' in part ? part.bytes : fillMedia(plan.seed, part.media[0], part.media[1]));
      },
    },
    { highWaterMark: 1 },
  );
}

/** Random access into a restored archive: `read(offset, length)`. */
export type ReadAt = (offset: number, length: number) => Promise<Uint8Array>;

/** Read the footer and the index (two small reads at the end of the archive). */
export async function readIndex(read: ReadAt, size: number): Promise<ArchiveIndex> {
  if (size < FOOTER_LENGTH + MAGIC.length) throw new RangeError('not a demo chat archive (too short)');
  const footer = await read(size - FOOTER_LENGTH, FOOTER_LENGTH);
  if (dec.decode(footer.subarray(0, 8)) !== FOOTER_MAGIC) throw new RangeError('not a demo chat archive (no index footer)');
  const indexOffset = Number(new DataView(footer.buffer, footer.byteOffset, footer.byteLength).getBigUint64(8));
  const indexLength = size - FOOTER_LENGTH - indexOffset;
  if (indexOffset < MAGIC.length || indexLength <= 0 || indexLength > 16 * 2 ** 20) throw new RangeError('not a demo chat archive (bad index offset)');
  const index = JSON.parse(dec.decode(await read(indexOffset, indexLength))) as ArchiveIndex;
  if (index.v !== 1 || !Array.isArray(index.conversations)) throw new RangeError('not a demo chat archive (bad index)');
  return index;
}

/** The last `n` messages of a conversation, reading only the tail of its text. */
export async function readLastMessages(read: ReadAt, entry: IndexEntry, n: number): Promise<ChatMessage[]> {
  const [off, len] = entry.text;
  const want = Math.min(len, 4096);
  const tail = dec.decode(await read(off + len - want, want));
  const lines = tail.split('\n').filter((l) => l.length > 0);
  if (want < len) lines.shift(); // the first line is likely cut
  return lines.slice(-n).map((l) => JSON.parse(l) as ChatMessage);
}
