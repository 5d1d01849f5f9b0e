/**
 * In-page code of `npm run bench:browser` (bench/browser/sdk.ts): a backup and a restore through
 * the SDK's client path in headless Chromium against the reference blob server (its own process,
 * another origin, so CORS and the browser's real network stack are in the path), and beside them,
 * in the same page: encryption and decryption alone with the same engine, and raw upload and
 * download loops written with bare `fetch` (no SDK) to the same server. Exposes
 * `globalThis.sdkBench`. Bundled by esbuild with the worker script.
 */
import { BufferPool, createRecyclingEncryptStream, createDecryptStream, readBlobInto } from '../../lib/archive/stream.js';
import { defaultEngine } from '../../lib/archive/engines/default.js';
import { createWorkerEngine, type WorkerEngine } from '../../lib/archive/engines/workers.js';
import type { CipherEngine } from '../../lib/archive/engine.js';
import { runBackup } from '../../lib/client/backup.js';
import { timerSleep } from '../../lib/client/lock.js';
import { archiveName } from '../../lib/client/manifest.js';
import { openBackup } from '../../lib/client/restore.js';
import { createKeyring, keyForId, type Keyring } from '../../lib/recovery/keyring.js';
import { createBlobPresigner, type BlobPresigner } from '../../lib/server/blob-store.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { requestBody } from '../../lib/storage/blob/body.js';
import { blobStream } from '../../lib/util/blob.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { fromHex, secureRandom, toHex } from '../../lib/util/bytes.js';

const MiB = 1 << 20;
const CHUNK = 64 * 1024;
const PART = 8 * MiB;

/**
 * Engines the bench can run: the browser default (noble, main thread), the worker pool with noble
 * inside (`workers`) or libsodium inside (`workers-libsodium`), libsodium on the main thread.
 */
export type SdkEngineChoice = 'default' | 'workers' | 'workers-libsodium' | 'libsodium';

interface State {
  presigner: BlobPresigner;
  store: BlobStore;
  keyring: Keyring;
  source: Blob;
  archive?: { key: string; size: number; backupId: string };
  /** The archive's bytes, fetched once (untimed) for decryption alone. */
  ciphertext?: Uint8Array;
}

let state: State | undefined;
const engines = new Map<SdkEngineChoice, CipherEngine>();

function st(): State {
  if (state === undefined) throw new Error('setup() first');
  return state;
}

async function engineFor(choice: SdkEngineChoice): Promise<CipherEngine> {
  let e = engines.get(choice);
  if (e === undefined) {
    if (choice === 'default') e = defaultEngine();
    else if (choice === 'libsodium') {
      const { createLibsodiumEngine } = await import('../../lib/archive/engines/libsodium.js');
      e = await createLibsodiumEngine();
    } else {
      const pool: WorkerEngine = createWorkerEngine({ workers: 2, engine: choice === 'workers-libsodium' ? 'libsodium' : 'noble' });
      await pool.ready();
      e = pool;
    }
    engines.set(choice, e);
  }
  return e;
}

/** Longest main-thread task (PerformanceObserver 'longtask': tasks of 50 ms and more) while `f` runs. */
async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; longestTaskMs: number; longTasks: number; tasks: number[]; value: T }> {
  const durations: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) durations.push(e.duration);
  });
  // Chromium only: other engines do not report long tasks (the figure then reads 0).
  if (PerformanceObserver.supportedEntryTypes?.includes('longtask')) obs.observe({ type: 'longtask', buffered: false });
  const t0 = performance.now();
  const value = await f();
  const ms = performance.now() - t0;
  // Entries are delivered after the task ends: give the observer a turn.
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  const tasks = durations.sort((a, b) => b - a).slice(0, 5).map(Math.round);
  return { ms, longestTaskMs: durations.length ? Math.max(...durations) : 0, longTasks: durations.length, tasks, value };
}

/** Make the source (random bytes as a Blob, as an app hands its export over) and the store. */
async function setup(blobOrigin: string, signingKeyHex: string, mib: number): Promise<number> {
  const presigner = createBlobPresigner({ baseUrl: blobOrigin, signingKey: fromHex(signingKeyHex) });
  const store = createHttpBlobStore({ fetch: (r) => fetch(r), presign: async (op) => presigner.http(op), timeoutMs: 300_000 });
  const bytes = new Uint8Array(mib * MiB);
  for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  state = { presigner, store, keyring: createKeyring(), source: new Blob([bytes]) };
  return state.source.size;
}

/** One SDK backup of the source (the client's backup path: session, part hashes, manifest). */
async function sdkBackup(choice: SdkEngineChoice, concurrency: number) {
  const s = st();
  const engine = await engineFor(choice);
  const r = await timed(() =>
    runBackup({
      accountId: 'bench',
      blobs: s.store,
      kv: createMemoryStore(),
      keyPrefix: 'bench/',
      key: s.keyring.current,
      keyLookup: (id) => keyForId(s.keyring, id),
      source: s.source,
      chunkSize: CHUNK,
      partSize: PART,
      concurrency,
      engine,
      now: Date.now,
      random: secureRandom,
      sleep: timerSleep,
    }),
  );
  const m = r.value.manifest;
  s.archive = { key: `bench/${archiveName(m.backupId)}`, size: m.archiveSize, backupId: toHex(m.backupId) };
  s.ciphertext = undefined;
  return { ms: r.ms, longestTaskMs: r.longestTaskMs, longTasks: r.longTasks, tasks: r.tasks, archiveSize: m.archiveSize };
}

/** One SDK restore of the last backup, through the restore stream, bytes counted. */
async function sdkRestore(choice: SdkEngineChoice) {
  const s = st();
  const a = s.archive;
  if (a === undefined) throw new Error('sdkBackup() first');
  const engine = await engineFor(choice);
  const r = await timed(async () => {
    const opened = await openBackup(
      { accountId: 'bench', blobs: s.store, keyPrefix: 'bench/', keyLookup: (id) => keyForId(s.keyring, id), engine },
      a.backupId,
    );
    try {
      return await drain(opened.stream());
    } finally {
      opened.close();
    }
  });
  if (r.value !== s.source.size) throw new Error(`restore gave ${r.value} bytes, not ${s.source.size}`);
  return { ms: r.ms, longestTaskMs: r.longestTaskMs, longTasks: r.longTasks, tasks: r.tasks };
}

/** Restore the last backup again (untimed) and compare every byte with the source. */
async function verifyRestore(choice: SdkEngineChoice): Promise<boolean> {
  const s = st();
  const a = s.archive;
  if (a === undefined) throw new Error('sdkBackup() first');
  const engine = await engineFor(choice);
  const opened = await openBackup({ accountId: 'bench', blobs: s.store, keyPrefix: 'bench/', keyLookup: (id) => keyForId(s.keyring, id), engine }, a.backupId);
  try {
    const reader = opened.stream().getReader();
    let off = 0;
    for (;;) {
      const r = await reader.read();
      if (r.done) return off === s.source.size;
      const want = new Uint8Array(await s.source.slice(off, off + r.value.length).arrayBuffer());
      for (let i = 0; i < want.length; i++) if (want[i] !== r.value[i]) return false;
      off += r.value.length;
    }
  } finally {
    opened.close();
  }
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  let n = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) return n;
    n += r.value.length;
  }
}

/**
 * Encryption alone: the source through the archive encrypt stream with the same engine, output
 * dropped. The recycling stream, as the backup uses it (sealed chunks written into a few reused
 * buffers): the ordinary stream's fresh 64 KiB output per chunk costs Chromium more than the
 * cipher with a fast engine.
 */
async function encryptOnly(choice: SdkEngineChoice) {
  const work = await encryptWork(choice);
  const r = await timed(work);
  return { ms: r.ms, longestTaskMs: r.longestTaskMs };
}

/** {@link encryptOnly}'s work, ready to start. */
async function encryptWork(choice: SdkEngineChoice): Promise<() => Promise<number>> {
  const s = st();
  const engine = await engineFor(choice);
  const key = s.keyring.current;
  return () => {
    // The source read as the backup reads it: straight into the encrypt stream's chunk buffers.
    const input = new BufferPool(CHUNK);
    return drain((readBlobInto(s.source, input) ?? s.source.stream()).pipeThrough(createRecyclingEncryptStream(key.key, key.keyId, { chunkSize: CHUNK, engine }, undefined, input)));
  };
}

/**
 * Both backup references at once, in the same page: encryption alone and the raw upload, started
 * together, timed until both end. On a machine whose cores each reference alone already keeps
 * busy, this (not the larger of the two) is the best any client that must do both could do.
 */
async function encryptAndUpload(choice: SdkEngineChoice, mib: number, inFlight: number) {
  const enc = await encryptWork(choice);
  const up = uploadWork(mib, inFlight, 'blob');
  const r = await timed(() => Promise.all([enc(), up()]));
  return { ms: r.ms, longestTaskMs: r.longestTaskMs };
}

/** Both restore references at once: decryption alone and the raw download, started together. */
async function decryptAndDownload(choice: SdkEngineChoice) {
  const dec = await decryptWork(choice);
  const down = downloadWork(4, 3, 'blob');
  const r = await timed(() => Promise.all([dec(), down()]));
  return { ms: r.ms, longestTaskMs: r.longestTaskMs };
}

/** Reading the source alone (its `Blob.stream()` drained): what every backup and encryption pays before the cipher. */
async function sourceOnly(how: 'stream' | 'byob' | 'blobStream' | number = 'stream') {
  const s = st();
  const byob = async (): Promise<number> => {
    const reader = s.source.stream().getReader({ mode: 'byob' });
    let buf = new Uint8Array(1 << 20);
    let n = 0;
    for (;;) {
      const r = await reader.read(buf);
      if (r.done) return n;
      n += r.value.length;
      buf = new Uint8Array(r.value.buffer); // the same memory, handed back
    }
  };
  if (how === 'blobStream') {
    const r = await timed(() => drain(blobStream(s.source)));
    return { ms: r.ms, longestTaskMs: r.longestTaskMs };
  }
  const slices = async (step: number): Promise<number> => {
    let n = 0;
    for (let off = 0; off < s.source.size; off += step) n += (await s.source.slice(off, off + step).arrayBuffer()).byteLength;
    return n;
  };
  const r = await timed(() => (how === 'stream' ? drain(s.source.stream()) : how === 'byob' ? byob() : slices(how)));
  return { ms: r.ms, longestTaskMs: r.longestTaskMs };
}

/** Decryption alone: the archive, already in memory, through the decrypt stream in 1 MiB pieces. */
async function decryptOnly(choice: SdkEngineChoice) {
  const work = await decryptWork(choice);
  const r = await timed(work);
  return { ms: r.ms, longestTaskMs: r.longestTaskMs };
}

/** {@link decryptOnly}'s work, ready to start (the archive fetched first, untimed). */
async function decryptWork(choice: SdkEngineChoice): Promise<() => Promise<void>> {
  const s = st();
  const a = s.archive;
  if (a === undefined) throw new Error('sdkBackup() first');
  s.ciphertext ??= await s.store.get(a.key);
  const ct = s.ciphertext;
  const engine = await engineFor(choice);
  return async () => {
    let off = 0;
    const src = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (off >= ct.length) return c.close();
          c.enqueue(ct.subarray(off, Math.min(ct.length, off + MiB)));
          off += MiB;
        },
      },
      { highWaterMark: 0 },
    );
    const n = await drain(src.pipeThrough(createDecryptStream((id) => keyForId(s.keyring, id), { engine })));
    if (n !== s.source.size) throw new Error('short decryption');
  };
}

/** How a raw loop hands a part to fetch: the bytes, one `Blob`, or a `Blob` of 1 MiB `Blob`s built with a yield between them (the SDK's way). */
export type UploadBody = 'uint8array' | 'blob' | 'sliced';
/** How a raw loop reads an answer. */
export type DownloadRead = 'arrayBuffer' | 'stream' | 'blob' | 'byob';

/**
 * Raw upload, no SDK: a multipart upload of `mib` MiB in 8 MiB parts, `inFlight` at once, with
 * bare fetch; then the upload is aborted. The parts are views of one buffer (no per-part work).
 */
async function rawUpload(mib: number, inFlight: number, body: UploadBody) {
  const r = await timed(uploadWork(mib, inFlight, body));
  return { ms: r.ms, longestTaskMs: r.longestTaskMs, longTasks: r.longTasks };
}

/** {@link rawUpload}'s work, ready to start (its part's bytes made first, untimed). */
function uploadWork(mib: number, inFlight: number, body: UploadBody): () => Promise<void> {
  const s = st();
  const key = `raw/${toHex(secureRandom(8))}`;
  // Random bytes throughout, like ciphertext: a buffer left mostly zero is read from the kernel's
  // one shared zero page, always in cache, which made the reference cheaper than any real upload.
  const bytes = new Uint8Array(PART);
  for (let i = 0; i < PART; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return async () => {
    const created = await fetch(s.presigner.http({ op: 'createUpload', key }), { method: 'POST' });
    const { uploadId } = (await created.json()) as { uploadId: string };
    const parts = Math.ceil((mib * MiB) / PART);
    let next = 1;
    const worker = async (): Promise<void> => {
      while (next <= parts) {
        const partNumber = next++;
        const url = s.presigner.http({ op: 'putPart', key, uploadId, partNumber, contentLength: PART });
        const res = await fetch(url, { method: 'PUT', body: body === 'blob' ? new Blob([bytes]) : body === 'sliced' ? ((await requestBody(bytes, { upload: 'blob', read: 'blob' })) as Blob) : bytes });
        if (!res.ok) throw new Error(`part ${partNumber}: ${res.status}`);
        await res.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    await fetch(s.presigner.http({ op: 'abortUpload', key, uploadId }), { method: 'DELETE' });
  };
}

/** Window buffers reused across responses (BYOB reads), one per read in flight. */
const byobBuffers: Uint8Array[] = [];

/** A response body read with BYOB reads into a reused window buffer. */
async function readByob(body: ReadableStream<Uint8Array>): Promise<number> {
  const reader = body.getReader({ mode: 'byob' });
  let buf = byobBuffers.pop() ?? new Uint8Array(4 * MiB + 1); // one spare byte: the read that sees the end needs room
  let n = 0;
  for (;;) {
    if (n === buf.length) throw new Error('window larger than 4 MiB');
    const r = await reader.read(new Uint8Array(buf.buffer, n, buf.length - n));
    if (r.value !== undefined) buf = new Uint8Array(r.value.buffer);
    n += r.value?.length ?? 0;
    if (r.done) break;
  }
  byobBuffers.push(buf);
  return n;
}

/** Raw download, no SDK: the last archive in `windowMiB` ranged GETs, `inFlight` at once, read the chosen way. */
async function rawDownload(windowMiB: number, inFlight: number, read: DownloadRead) {
  const r = await timed(downloadWork(windowMiB, inFlight, read));
  return { ms: r.ms, longestTaskMs: r.longestTaskMs, longTasks: r.longTasks };
}

/** {@link rawDownload}'s work, ready to start. */
function downloadWork(windowMiB: number, inFlight: number, read: DownloadRead): () => Promise<void> {
  const s = st();
  const a = s.archive;
  if (a === undefined) throw new Error('sdkBackup() first');
  const step = windowMiB * MiB;
  return async () => {
    let next = 0;
    let total = 0;
    const worker = async (): Promise<void> => {
      while (next < a.size) {
        const off = next;
        next += step;
        const end = Math.min(a.size, off + step) - 1;
        const res = await fetch(s.presigner.http({ op: 'get', key: a.key }), { headers: { range: `bytes=${off}-${end}` } });
        if (res.status !== 206) throw new Error(`GET ${res.status}`);
        // Read first, then add: `total += await …` would read `total` before the wait.
        const got =
          read === 'blob'
            ? (await (await res.blob()).arrayBuffer()).byteLength
            : read === 'arrayBuffer'
              ? (await res.arrayBuffer()).byteLength
              : read === 'byob'
                ? await readByob(res.body!)
                : await drain(res.body!);
        total += got;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    if (total !== a.size) throw new Error(`short download: ${total} of ${a.size}`);
  };
}

/**
 * What the part cutter's copy costs: `mib` MiB in 64 KiB + 16 pieces copied into 8 MiB part
 * buffers, recycled (`fresh` false) or new for every part (`fresh`: the first touch of new pages).
 */
async function partCopy(mib: number, fresh: boolean) {
  const piece = new Uint8Array(CHUNK + 16);
  crypto.getRandomValues(piece.subarray(0, 65536));
  const r = await timed(async () => {
    const pool = [new Uint8Array(PART), new Uint8Array(PART)];
    let part = pool[0]!;
    let fill = 0;
    let parts = 0;
    for (let done = 0; done < mib * MiB; done += piece.length) {
      const n = Math.min(piece.length, part.length - fill);
      part.set(piece.subarray(0, n), fill);
      fill += n;
      if (fill === part.length) {
        parts++;
        part = fresh ? new Uint8Array(PART) : pool[parts % 2]!;
        fill = 0;
        if (parts % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
    return parts;
  });
  return { ms: r.ms, longestTaskMs: r.longestTaskMs };
}

/** Fetch the last archive's bytes (once, untimed) for {@link decryptOnly}. */
async function fetchArchive(): Promise<number> {
  const s = st();
  const a = s.archive;
  if (a === undefined) throw new Error('sdkBackup() first');
  s.ciphertext ??= await s.store.get(a.key);
  return s.ciphertext.length;
}

/** Terminate the worker pool. */
function shutdown(): void {
  for (const choice of ['workers', 'workers-libsodium'] as const) (engines.get(choice) as WorkerEngine | undefined)?.terminate();
  engines.clear();
}

/** The page API the harness calls. */
export const api = { setup, fetchArchive, sourceOnly, partCopy, sdkBackup, sdkRestore, verifyRestore, encryptOnly, decryptOnly, encryptAndUpload, decryptAndDownload, rawUpload, rawDownload, shutdown };
(globalThis as unknown as { sdkBench: typeof api }).sdkBench = api;
