/**
 * Request bodies of the presigned adapters (lib/storage/blob/body.ts). In a browser a part goes to
 * `fetch` as a `Blob`; `new Blob([bytes])` copies the bytes on the calling thread, and one 8 MiB
 * part in one piece was the longest main-thread task of a worker-engine backup (issue 20). The
 * body is now built from 1 MiB `Blob`s with a turn of the event loop between them: same bytes,
 * no long task.
 */
import { describe, expect, it } from 'vitest';
import { BLOB_SLICE_BYTES, requestBody } from '../../lib/storage/blob/body.js';

const MIB = 2 ** 20;

function pattern(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >>> 11)) & 0xff;
  return b;
}

async function bytesOf(body: Uint8Array | Blob): Promise<Uint8Array> {
  return body instanceof Blob ? new Uint8Array(await body.arrayBuffer()) : body;
}

/** Byte equality without vitest's element-by-element diff (slow on MiB arrays). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

describe('requestBody', () => {
  it("'bytes' hands the bytes over as they are", async () => {
    const b = pattern(3 * MIB);
    expect(await requestBody(b, { upload: 'bytes', read: 'stream' })).toBe(b);
  });

  it("'blob': a large body is the same bytes, built slice by slice with a turn of the event loop between slices", async () => {
    const b = pattern(8 * MIB + 123);
    let fired = false;
    setImmediate(() => (fired = true));
    setTimeout(() => (fired = true), 0);
    const body = await requestBody(b, { upload: 'blob', read: 'blob' });
    // Built in one synchronous call (the old way), the body was ready before any macrotask ran.
    expect(fired).toBe(true);
    expect(body).toBeInstanceOf(Blob);
    expect((body as Blob).size).toBe(b.length);
    expect(same(await bytesOf(body), b)).toBe(true);
  });

  it("'blob': a body of at most one slice is one Blob, at once", async () => {
    for (const n of [0, 1, BLOB_SLICE_BYTES - 1, BLOB_SLICE_BYTES]) {
      const b = pattern(n);
      let fired = false;
      setImmediate(() => (fired = true));
      const body = await requestBody(b, { upload: 'blob', read: 'blob' });
      expect(fired).toBe(false);
      expect(same(await bytesOf(body), b)).toBe(true);
    }
  });

  it("'blob': the Blob is a snapshot (a later change to the bytes does not reach it), also for views at an offset", async () => {
    const whole = pattern(4 * MIB + 7);
    const view = whole.subarray(5, 3 * MIB + 1000);
    const expected = view.slice();
    const body = await requestBody(view, { upload: 'blob', read: 'blob' });
    whole.fill(0);
    expect(same(await bytesOf(body), expected)).toBe(true);
  });

  it("'blob': a SharedArrayBuffer-backed view is copied into an ArrayBuffer first", async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(2 * MIB + 1));
    shared.set(pattern(2 * MIB + 1));
    const body = await requestBody(shared, { upload: 'blob', read: 'blob' });
    expect(same(await bytesOf(body), pattern(2 * MIB + 1))).toBe(true);
  });
});
