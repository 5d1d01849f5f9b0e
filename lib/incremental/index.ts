/**
 * Incremental backups (docs/INCREMENTAL.md): a keyed content-defined chunker, chunk ids from a
 * keyed MAC, chunks sealed into padded packs, a sealed index and sealed snapshots published
 * through the manifest namespace and the latest pointer, restore, and crash-safe pruning.
 * Import from `e2ee-backup/incremental`; `createBackupClient({ incremental: true, incrementalSupport })` uses it too
 * (the package entry does not reach this code unless the app passes {@link incrementalSupport}).
 *
 * @module
 */
export { backupIncremental, openSnapshot, listSnapshots, pruneIncremental, DEFAULT_GRACE_MS } from './repo.js';
export type {
  IncrementalContext,
  IncrementalSource,
  IncrementalProgress,
  IncrementalBackupOptions,
  IncrementalBackupResult,
  SnapshotSummary,
  OpenedSnapshot,
  PruneOptions,
  PruneResult,
} from './repo.js';
export { KeyedChunker, chunkLengths, MIN_CHUNK, MAX_CHUNK, FILTER_BITS, CUT_THRESHOLD } from './chunker.js';
export { deriveChunkerKeys, wipeChunkerKeys, deriveChunkIdKey, chunkIdSync, createChunkIdMac, derivePackKeys, CHUNK_ID_LENGTH } from './keys.js';
export type { ChunkerKeys, ChunkIdMac, PackKeys } from './keys.js';
export { padme, envelopeKind, KIND_SNAPSHOT, DEFAULT_PACK_SIZE } from './format.js';
export { incrementalSupport } from './support.js';
export type { IncrementalLoader, IncrementalModule } from './client-hook.js';
