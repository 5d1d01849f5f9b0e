/**
 * The incremental backup benchmark's workload, shared by Node (bench/incremental.ts) and the
 * Chromium page (bench/incremental-page.ts): a synthetic, time-ordered chat export; a plain
 * backup (archive encryption + one store write) beside a first incremental backup; then 1%
 * appended, and 1% appended plus a few edits, backed up incrementally.
 */
import { encryptArchive } from '../../lib/archive/archive.js';
import { KeyedChunker, backupIncremental, deriveChunkerKeys, openSnapshot } from '../../lib/incremental/index.js';
import { createKeyring } from '../../lib/recovery/keyring.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';

const MiB = 1024 * 1024;
const WORDS = (
  'ok yes no lol thanks see you tomorrow where are call me later meeting at the office photo ' +
  'sent a voice message happy birthday good night on my way running late dinner tonight sure ' +
  'can you send the file did you see this haha great idea weekend plans love it'
).split(' ');

/** A time-ordered chat export of `bytes` bytes, lines `ts\tchat\tsender\ttext\n`, starting at time `t0`. */
export function chatExport(bytes: number, seed: number, t0 = 1_700_000_000): { data: Uint8Array; t: number } {
  const out = new Uint8Array(bytes);
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  let o = 0;
  let t = t0;
  const enc = new TextEncoder();
  while (o < bytes) {
    t += rnd() % 120;
    let line = `${t}\tchat${rnd() % 40}\tuser${rnd() % 200}\t`;
    const n = 3 + (rnd() % 14);
    for (let i = 0; i < n; i++) line += WORDS[rnd() % WORDS.length] + (i + 1 < n ? ' ' : '');
    line += ` #${rnd() % 100000}\n`;
    const b = enc.encode(line);
    const k = Math.min(b.length, bytes - o);
    out.set(b.subarray(0, k), o);
    o += k;
  }
  return { data: out, t };
}

/** What one workload run measured. */
export interface WorkloadResult {
  readonly exportBytes: number;
  readonly plainMs: number;
  readonly firstIncrementalMs: number;
  /** Median over rounds of (first incremental / plain), each pair measured back to back. */
  readonly ratio: number;
  readonly ratios: readonly number[];
  readonly chunkerMiBs: number;
  readonly encryptMiBs: number;
  readonly firstUploaded: number;
  readonly append: { changed: number; uploaded: number; newBytes: number; ms: number };
  readonly appendEdits: { changed: number; uploaded: number; newBytes: number; ms: number };
  /** Streamed restore of the last snapshot: byte-identical to what was backed up, and its time. */
  readonly restore: { identical: boolean; ms: number };
}

/** Run the workload on `mib` MiB. `rounds` alternates plain and incremental first backups; medians. */
export async function runWorkload(mib: number, rounds = 2, log: (s: string) => void = () => undefined): Promise<WorkloadResult> {
  const keyring = createKeyring();
  const { data, t } = chatExport(mib * MiB, 42);
  log(`export: ${mib} MiB generated`);
  const med = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    const m = v.length >> 1;
    return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
  };
  const plain: number[] = [];
  const incr: number[] = [];
  const chunk: number[] = [];
  let firstUploaded = 0;
  let store = createMemoryBlobStore({ maxTotalBytes: 2 ** 32 });
  const ctx = () => ({ accountId: 'bench', blobs: store, keyring });
  const runPlain = async () => {
    const s = createMemoryBlobStore({ maxTotalBytes: 2 ** 32 });
    const t0 = performance.now();
    const archive = await encryptArchive(keyring.current.key, keyring.current.keyId, data);
    await s.put('archive', archive);
    plain.push(performance.now() - t0);
  };
  const runIncr = async () => {
    store = createMemoryBlobStore({ maxTotalBytes: 2 ** 32 });
    const t0 = performance.now();
    const r = await backupIncremental(ctx(), data);
    incr.push(performance.now() - t0);
    firstUploaded = r.uploadedBytes;
  };
  const runChunker = () => {
    const t0 = performance.now();
    const c = new KeyedChunker(deriveChunkerKeys(keyring.current.key));
    for (let o = 0; o < data.length; o += MiB) c.push(data.subarray(o, o + MiB));
    c.end();
    chunk.push(performance.now() - t0);
  };
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      await runPlain();
      await runIncr();
    } else {
      await runIncr();
      await runPlain();
    }
    runChunker();
    log(`round ${r + 1}: plain ${plain[plain.length - 1]!.toFixed(0)} ms, first incremental ${incr[incr.length - 1]!.toFixed(0)} ms`);
  }
  const plainMs = med(plain);
  // 1% appended (later messages).
  const add = chatExport(Math.round(data.length / 100), 43, t).data;
  const grown = new Uint8Array(data.length + add.length);
  grown.set(data);
  grown.set(add, data.length);
  let t0 = performance.now();
  const a = await backupIncremental(ctx(), grown);
  const append = { changed: add.length, uploaded: a.uploadedBytes, newBytes: a.newBytes, ms: performance.now() - t0 };
  // 1% more appended and a few edits (five 200-byte rewrites spread over the history).
  const add2 = chatExport(Math.round(data.length / 100), 44, t + 10_000_000).data;
  const edited = new Uint8Array(grown.length + add2.length);
  edited.set(grown);
  edited.set(add2, grown.length);
  const patch = chatExport(200, 45, 1).data;
  for (let i = 1; i <= 5; i++) edited.set(patch, Math.floor((grown.length * i) / 6));
  t0 = performance.now();
  const b = await backupIncremental(ctx(), edited);
  const appendEdits = { changed: add2.length + 5 * 200, uploaded: b.uploadedBytes, newBytes: b.newBytes, ms: performance.now() - t0 };
  t0 = performance.now();
  const snap = await openSnapshot(ctx(), b.backupId);
  const reader = snap.stream().getReader();
  let at = 0;
  let identical = true;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (let i = 0; i < value.length && identical; i += 4096) {
      const n = Math.min(4096, value.length - i);
      for (let j = 0; j < n; j++) if (value[i + j] !== edited[at + i + j]) identical = false;
    }
    at += value.length;
  }
  snap.close();
  const restore = { identical: identical && at === edited.length, ms: performance.now() - t0 };
  return {
    exportBytes: data.length,
    plainMs,
    firstIncrementalMs: med(incr),
    ratio: med(incr.map((x, i) => x / plain[i]!)),
    ratios: incr.map((x, i) => x / plain[i]!),
    chunkerMiBs: mib / (med(chunk) / 1000),
    encryptMiBs: mib / (plainMs / 1000),
    firstUploaded,
    append,
    appendEdits,
    restore,
  };
}

/** Print a result (the same lines in Node and Chromium). */
export function report(where: string, r: WorkloadResult): string[] {
  const pct = (x: number) => `${((100 * x) / r.exportBytes).toFixed(3)}%`;
  return [
    `[${where}] export ${(r.exportBytes / MiB).toFixed(0)} MiB`,
    `[${where}] plain backup (archive encryption + store write): ${r.plainMs.toFixed(0)} ms (${r.encryptMiBs.toFixed(0)} MiB/s)`,
    `[${where}] first incremental backup: ${r.firstIncrementalMs.toFixed(0)} ms; ratio incremental / plain (median of per-round ratios ${r.ratios.map((x) => x.toFixed(2)).join(', ')}) = ${r.ratio.toFixed(2)} (done when <= 2.0 in Chromium); uploaded ${(r.firstUploaded / MiB).toFixed(1)} MiB`,
    `[${where}] chunker alone: ${r.chunkerMiBs.toFixed(0)} MiB/s beside plain encryption ${r.encryptMiBs.toFixed(0)} MiB/s`,
    `[${where}] +1% appended: uploaded ${r.append.uploaded} B = ${pct(r.append.uploaded)} of the export (done when <= 1.2%); uploaded / changed = ${(r.append.uploaded / r.append.changed).toFixed(3)}; new chunk bytes ${r.append.newBytes}; ${r.append.ms.toFixed(0)} ms`,
    `[${where}] +1% appended and 5 edits: uploaded ${r.appendEdits.uploaded} B = ${pct(r.appendEdits.uploaded)} of the export; uploaded / changed = ${(r.appendEdits.uploaded / r.appendEdits.changed).toFixed(3)}; ${r.appendEdits.ms.toFixed(0)} ms`,
    `[${where}] restore of that snapshot, streamed: ${r.restore.identical ? 'byte-identical' : 'DIFFERS'}, ${((r.exportBytes * 1.02) / MiB / (r.restore.ms / 1000)).toFixed(0)} MiB/s`,
  ];
}
