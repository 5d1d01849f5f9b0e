// @vitest-environment jsdom
// lib/util/blob.ts: a Blob without stream() (jsdom's, older WebViews') is read by slices, the same
// bytes; one that can be read neither way is a typed INVALID_ARGUMENT, not a TypeError.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { blobStream, isReadableBlob } from '../../lib/util/blob.js';
import { readAll } from '../support/streams.js';

describe('blobStream', () => {
  it('reads a Blob that has no stream() by slices, the same bytes', async () => {
    const bytes = Uint8Array.from({ length: (1 << 20) * 2 + 123 }, (_, i) => (i * 31) & 255);
    const blob = new Blob([bytes]);
    const noStream = Object.assign(Object.create(null) as object, {
      size: blob.size,
      type: '',
      slice: (a?: number, b?: number) => blob.slice(a, b),
      arrayBuffer: () => blob.arrayBuffer(),
    }) as Blob;
    expect(isReadableBlob(noStream)).toBe(true);
    const out = await readAll(blobStream(noStream));
    expect(Buffer.from(out).equals(Buffer.from(bytes))).toBe(true);
  });

  it("reads jsdom's own Blob", async () => {
    const blob = new Blob(['hello ', 'world']);
    expect(new TextDecoder().decode(await readAll(blobStream(blob)))).toBe('hello world');
  });

  it('a Blob-like with neither stream() nor arrayBuffer() is INVALID_ARGUMENT', () => {
    const bad = { size: 3, slice: () => bad } as unknown as Blob;
    expect(isReadableBlob(bad)).toBe(false);
    let err: unknown;
    try {
      blobStream(bad);
    } catch (e) {
      err = e;
    }
    expect(isBackupError(err, 'INVALID_ARGUMENT')).toBe(true);
  });
});
