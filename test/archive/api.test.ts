/** Type-level and export checks of the archive API as `e2ee-backup/archive` exposes it. */
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as sdk from '../../lib/archive.js';
import type { ArchiveHeader, ArchiveReader, CipherEngine } from '../../lib/archive.js';

describe('archive API from e2ee-backup/archive', () => {
  it('exports the functions and constants', () => {
    for (const name of ['encryptArchive', 'decryptArchive', 'createEncryptStream', 'createDecryptStream', 'openArchive', 'parseHeader', 'ciphertextSize', 'plaintextSize', 'defaultEngine', 'nobleEngine'] as const) {
      expect(typeof sdk[name]).toBe('function');
    }
    expect(sdk.KEY_ID_LENGTH).toBe(16);
    expect(sdk.DEFAULT_CHUNK_SIZE).toBe(65536);
  });

  it('has the documented types', () => {
    // Checked by the type checker only: the function is never called, so no archive work runs.
    const typesOnly = (): void => {
      expectTypeOf(sdk.encryptArchive).toBeCallableWith(new Uint8Array(32), new Uint8Array(16), new Uint8Array(1));
      expectTypeOf(sdk.encryptArchive(new Uint8Array(32), 'aa', new Uint8Array(1))).toEqualTypeOf<Promise<Uint8Array>>();
      expectTypeOf(sdk.encryptArchive(new Uint8Array(32), 'aa', new Blob([]))).toEqualTypeOf<Promise<Blob>>();
      expectTypeOf(sdk.decryptArchive(() => undefined, new Blob([]))).toEqualTypeOf<Promise<Blob>>();
      expectTypeOf(sdk.decryptArchive(new Uint8Array(32), new Uint8Array(0))).toEqualTypeOf<Promise<Uint8Array>>();
      expectTypeOf(sdk.createEncryptStream).returns.toEqualTypeOf<TransformStream<Uint8Array, Uint8Array>>();
      expectTypeOf(sdk.createDecryptStream).returns.toEqualTypeOf<TransformStream<Uint8Array, Uint8Array>>();
      expectTypeOf(sdk.openArchive).returns.toEqualTypeOf<Promise<ArchiveReader>>();
      expectTypeOf(sdk.parseHeader).returns.toEqualTypeOf<ArchiveHeader>();
      expectTypeOf(sdk.defaultEngine).returns.toEqualTypeOf<CipherEngine>();
    };
    expect(typeof typesOnly).toBe('function');
  });
});
