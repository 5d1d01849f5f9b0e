import { describe, expect, it } from 'vitest';
import { decryptArchive, encryptArchive } from '../../lib/archive/archive.js';
import { ciphertextSize, MAX_METADATA_LENGTH } from '../../lib/archive/format.js';
import { openArchive } from '../../lib/archive/random-access.js';
import { createDecryptStream, createEncryptStream } from '../../lib/archive/stream.js';
import { isBackupError } from '../../lib/errors.js';
import { copyBytes, equalBytes } from '../../lib/util/bytes.js';
import { asyncEngine, drain, pseudoRandom, through } from './support.js';

const key = pseudoRandom(32, 21);
const keyId = pseudoRandom(16, 22);
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('backpressure', () => {
  it('stops pulling input while nobody reads the output, then finishes when read', async () => {
    const chunkSize = 1024;
    const total = 200 * chunkSize;
    let pulled = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (pulled >= total) return c.close();
          c.enqueue(new Uint8Array(chunkSize).fill(pulled & 0xff));
          pulled += chunkSize;
        },
      },
      { highWaterMark: 0 },
    );
    const engine = asyncEngine(4);
    const out = source.pipeThrough(createEncryptStream(key, keyId, { chunkSize, engine }));
    for (let i = 0; i < 50; i++) await tick();
    // Nothing read yet: input stalls after a few chunks (in flight + buffered), not the whole 200.
    expect(pulled).toBeLessThanOrEqual(12 * chunkSize);
    expect(engine.maxInFlight).toBeLessThanOrEqual(4);
    const r = await drain(out);
    expect(r.error).toBeUndefined();
    expect(pulled).toBe(total);
    expect(r.bytes.length).toBe(ciphertextSize(total, chunkSize));
  });

  it('same for decryption', async () => {
    const chunkSize = 1024;
    const archive = await encryptArchive(key, keyId, pseudoRandom(100 * chunkSize), { chunkSize });
    let offset = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (offset >= archive.length) return c.close();
          c.enqueue(archive.slice(offset, offset + 1000));
          offset += 1000;
        },
      },
      { highWaterMark: 0 },
    );
    const out = source.pipeThrough(createDecryptStream(key, { engine: asyncEngine(3) }));
    for (let i = 0; i < 50; i++) await tick();
    expect(offset).toBeLessThanOrEqual(12 * 1040);
    const r = await drain(out);
    expect(r.error).toBeUndefined();
    expect(equalBytes(r.bytes, pseudoRandom(100 * chunkSize))).toBe(true);
  });
});

describe('abort', () => {
  it('an aborted signal stops every operation with ABORTED', async () => {
    const ac = new AbortController();
    ac.abort(new Error('user cancelled'));
    const archive = await encryptArchive(key, keyId, new Uint8Array(10));
    const aborted = (e: unknown): boolean => isBackupError(e, 'ABORTED');
    await expect(encryptArchive(key, keyId, new Uint8Array(10), { signal: ac.signal })).rejects.toSatisfy(aborted);
    await expect(decryptArchive(key, archive, { signal: ac.signal })).rejects.toSatisfy(aborted);
    await expect(encryptArchive(key, keyId, new Blob([new Uint8Array(10)]), { signal: ac.signal })).rejects.toSatisfy(aborted);
    await expect(decryptArchive(key, new Blob([copyBytes(archive)]), { signal: ac.signal })).rejects.toSatisfy(aborted);
    expect(() => createEncryptStream(key, keyId, { signal: ac.signal })).toThrow(expect.objectContaining({ code: 'ABORTED' }));
    expect(() => createDecryptStream(key, { signal: ac.signal })).toThrow(expect.objectContaining({ code: 'ABORTED' }));
    await expect(openArchive({ size: archive.length, readAt: async (o, l) => archive.slice(o, o + l), key, signal: ac.signal })).rejects.toSatisfy(aborted);
    const reader = await openArchive({ size: archive.length, readAt: async (o, l) => archive.slice(o, o + l), key });
    await expect(reader.read(0, 10, { signal: ac.signal })).rejects.toSatisfy(aborted);
  });

  it('aborting mid-way errors the stream and the one-shot call, keeping the reason as cause', async () => {
    const chunkSize = 64;
    const pt = pseudoRandom(64 * 100);
    const ac = new AbortController();
    const reason = new Error('stop');
    const enc = createEncryptStream(key, keyId, {
      chunkSize,
      signal: ac.signal,
      onProgress: ({ bytes }) => {
        if (bytes >= 640) ac.abort(reason);
      },
    });
    const r = await through(pt, enc, [100]);
    expect(isBackupError(r.error, 'ABORTED')).toBe(true);
    expect((r.error as Error).cause).toBe(reason);
    const ac2 = new AbortController();
    await expect(
      encryptArchive(key, keyId, pt, { chunkSize, signal: ac2.signal, onProgress: ({ bytes }) => bytes >= 640 && ac2.abort() }),
    ).rejects.toSatisfy((e) => isBackupError(e, 'ABORTED'));
    const archive = await encryptArchive(key, keyId, pt, { chunkSize });
    const ac3 = new AbortController();
    await expect(
      decryptArchive(key, archive, { signal: ac3.signal, onProgress: ({ bytes }) => bytes >= 1000 && ac3.abort() }),
    ).rejects.toSatisfy((e) => isBackupError(e, 'ABORTED'));
    // An abort while the stream waits on a slow reader errors it at once.
    const ac4 = new AbortController();
    const out = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array(64));
      },
    }).pipeThrough(createEncryptStream(key, keyId, { chunkSize, signal: ac4.signal }));
    const reader = out.getReader();
    await reader.read();
    ac4.abort();
    await expect(reader.read()).rejects.toSatisfy((e) => isBackupError(e, 'ABORTED'));
  });
});

describe('progress', () => {
  it('reports monotonically up to the total, once per chunk', async () => {
    const pt = pseudoRandom(64 * 10 + 5);
    const seen: { bytes: number; total?: number }[] = [];
    const archive = await encryptArchive(key, keyId, pt, { chunkSize: 64, onProgress: (p) => seen.push(p) });
    expect(seen.length).toBe(11);
    expect(seen.at(-1)).toEqual({ bytes: pt.length, total: pt.length });
    expect(seen.every((p, i) => i === 0 || p.bytes > seen[i - 1]!.bytes)).toBe(true);
    const dec: { bytes: number; total?: number }[] = [];
    await decryptArchive(key, archive, { onProgress: (p) => dec.push(p) });
    expect(dec.at(-1)).toEqual({ bytes: archive.length, total: archive.length });
    const st: { bytes: number; total?: number }[] = [];
    await through(pt, createEncryptStream(key, keyId, { chunkSize: 64, totalBytes: pt.length, onProgress: (p) => st.push(p) }), [7]);
    expect(st.at(-1)).toEqual({ bytes: pt.length, total: pt.length });
    const sd: { bytes: number; total?: number }[] = [];
    await through(archive, createDecryptStream(key, { onProgress: (p) => sd.push(p) }), [7]);
    expect(sd.at(-1)).toEqual({ bytes: archive.length });
    const blob: { bytes: number; total?: number }[] = [];
    await encryptArchive(key, keyId, new Blob([copyBytes(pt)]), { chunkSize: 64, onProgress: (p) => blob.push(p) });
    expect(blob.at(-1)).toEqual({ bytes: pt.length, total: pt.length });
    const reader = await openArchive({ size: archive.length, readAt: async (o, l) => archive.slice(o, o + l), key });
    const rp: { bytes: number; total?: number }[] = [];
    await reader.read(10, 300, { onProgress: (p) => rp.push(p) });
    expect(rp.at(-1)).toEqual({ bytes: 300, total: 300 });
  });
});

describe('misuse at the public edge', () => {
  it('throws TypeError / RangeError naming the argument', async () => {
    const bad = (f: () => unknown, type: typeof TypeError | typeof RangeError, name: string): void => {
      expect(f).toThrow(type);
      expect(f).toThrow(name);
    };
    bad(() => createEncryptStream(new Uint8Array(31), keyId), RangeError, 'key');
    bad(() => createEncryptStream('k' as unknown as Uint8Array, keyId), TypeError, 'key');
    bad(() => createEncryptStream(key, new Uint8Array(15)), RangeError, 'keyId');
    bad(() => createEncryptStream(key, 'zz'), RangeError, 'keyId');
    bad(() => createEncryptStream(key, keyId, { chunkSize: 63 }), RangeError, 'chunkSize');
    bad(() => createEncryptStream(key, keyId, { chunkSize: 1.5 }), TypeError, 'chunkSize');
    bad(() => createEncryptStream(key, keyId, { metadata: new Uint8Array(MAX_METADATA_LENGTH + 1) }), RangeError, 'metadata');
    bad(() => createEncryptStream(key, keyId, { random: () => new Uint8Array(31) }), RangeError, 'random');
    bad(() => createEncryptStream(key, keyId, { engine: {} as never }), TypeError, 'engine');
    bad(() => createDecryptStream(new Uint8Array(16)), RangeError, 'key');
    bad(() => createDecryptStream(42 as unknown as Uint8Array), TypeError, 'key');
    await expect(encryptArchive(key, keyId, 'text' as unknown as Uint8Array)).rejects.toThrow(TypeError);
    await expect(decryptArchive(key, 'text' as unknown as Uint8Array)).rejects.toThrow(TypeError);
    await expect(decryptArchive(() => new Uint8Array(3), await encryptArchive(key, keyId, new Uint8Array(1)))).rejects.toThrow(RangeError);
    await expect(openArchive({ size: -1, readAt: async () => new Uint8Array(0), key })).rejects.toThrow(RangeError);
    const r = await through(new Uint8Array(0), createEncryptStream(key, keyId));
    expect(r.error).toBeUndefined();
    const w = createEncryptStream(key, keyId);
    const writer = w.writable.getWriter();
    void drain(w.readable);
    await expect(writer.write('text' as unknown as Uint8Array)).rejects.toThrow(TypeError);
  });

  it('a reader refuses ranges past the end and reads after close', async () => {
    const archive = await encryptArchive(key, keyId, new Uint8Array(100), { chunkSize: 64 });
    const reader = await openArchive({ size: archive.length, readAt: async (o, l) => archive.slice(o, o + l), key });
    await expect(reader.read(50, 51)).rejects.toThrow(RangeError);
    await expect(reader.read(-1, 1)).rejects.toThrow(RangeError);
    expect((await reader.read(100, 0)).length).toBe(0);
    reader.close();
    await expect(reader.read(0, 1)).rejects.toSatisfy((e) => isBackupError(e));
  });
});
