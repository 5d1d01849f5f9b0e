/**
 * Incremental backups over a {@link BlobStore} (docs/INCREMENTAL.md): back up a source as keyed
 * content-defined chunks, uploading only chunks the store lacks, packed into padded pack objects;
 * restore any snapshot (stream or random access); prune unreferenced packs in a crash-safe order.
 *
 * @module
 */
import type { CipherEngine, ChunkCipher } from '../archive/engine.js';
import { chunkNonceTail } from '../archive/engine.js';
import { defaultEngine } from '../archive/engines/default.js';
import { latestOrUndefined, nextSequence, noteSeen, publishLatest, seenOf } from '../client/latest.js';
import type { BackupMetadata } from '../client/manifest.js';
import { MAX_LISTED_BACKUPS, boundedRead, getSmall, type CatalogContext } from '../client/restore.js';
import { BackupError, archiveAuthFailed, isBackupError, throwIfAborted } from '../errors.js';
import type { Keyring } from '../recovery/keyring.js';
import type { BlobStore } from '../storage/blob/types.js';
import type { KeyValueStore } from '../storage/kv.js';
import { blobStream } from '../util/blob.js';
import { equalBytes, fromHex, isBytes, secureRandom, toHex, wipe, type RandomSource } from '../util/bytes.js';
import { KeyedChunker } from './chunker.js';
import {
  DEFAULT_PACK_SIZE,
  KIND_INDEX,
  KIND_SNAPSHOT,
  KIND_TRASH,
  MAX_INDEX_ENVELOPE,
  MAX_SNAPSHOT_ENVELOPE,
  MAX_TRASH_ENVELOPE,
  MAX_TRASH_PACKS,
  MAX_PACK_CHUNKS,
  MAX_PACK_SIZE,
  OBJECT_ID_LENGTH,
  PACK_HEADER_LENGTH,
  TAG_LENGTH,
  decodeDirectory,
  decodeIndex,
  decodeSnapshot,
  decodeTrash,
  directoryAad,
  encodeDirectory,
  encodeIndex,
  encodePackHeader,
  encodeSnapshot,
  encodeTrash,
  envelopeKind,
  indexGroups,
  names,
  openEnvelope,
  padme,
  parsePackHeader,
  sealEnvelope,
  type IndexedPack,
  type PackEntry,
  type Snapshot,
  type TrashEntry,
} from './format.js';
import { createChunkIdMac, deriveChunkIdKey, deriveChunkerKeys, derivePackKeys, wipeChunkerKeys } from './keys.js';

/** What every incremental operation needs. */
export interface IncrementalContext {
  /** The account; bound into every sealed object. */
  readonly accountId: string;
  /** Where packs, index segments and snapshots live. */
  readonly blobs: BlobStore;
  /** Prefix of every key of this account (default none). */
  readonly keyPrefix?: string;
  /**
   * The keyring. New chunks use `current`; any generation opens. Keys are copied per operation
   * and the copies wiped; the keyring itself is not retained.
   */
  readonly keyring: Keyring;
  /** Cipher engine for chunks (default engine otherwise). */
  readonly engine?: CipherEngine;
  /** Clock, ms since the epoch. */
  readonly now?: () => number;
  /** Randomness (ids, salts, nonces). */
  readonly random?: RandomSource;
  /** Cancels the operation (`ABORTED`). */
  readonly signal?: AbortSignal;
  /**
   * Called before every write or delete in the store; rejects to stop the operation (the client
   * passes its lock guard: a tab that lost its lease writes nothing more).
   */
  readonly guard?: () => Promise<void>;
  /**
   * Deadline of each read of an envelope (snapshot, index segment, trash, latest pointer), a pack
   * header or directory, or a listing, ms (default 30 000, as the client's `readTimeoutMs`): a
   * store that does not answer in time fails the operation with `TIMEOUT`.
   */
  readonly readTimeoutMs?: number;
  /**
   * The device's key-value store (the client's `storage`): where the device remembers the newest
   * latest pointer it wrote or saw (lib/client/latest.ts). A backup takes its sequence as one more
   * than the highest of that and the store's pointer, and records its own. Without it, only the
   * store's pointer counts.
   */
  readonly storage?: KeyValueStore;
}

/** A backup source: bytes, a Blob, or a stream of bytes. */
export type IncrementalSource = Uint8Array | Blob | ReadableStream<Uint8Array>;

/** Progress of an incremental backup. */
export interface IncrementalProgress {
  /** Plaintext bytes chunked so far. */
  readonly bytes: number;
  /** Plaintext size, when known up front. */
  readonly total?: number;
  /** Plaintext bytes in chunks the store did not hold (sealed and uploaded). */
  readonly newBytes: number;
  /** Plaintext bytes in chunks the store already held (not uploaded). */
  readonly skippedBytes: number;
  /** Bytes sent to the store so far (packs, index, snapshot, pointer). */
  readonly uploadedBytes: number;
}

/** Options of {@link backupIncremental}. */
export interface IncrementalBackupOptions {
  /** App metadata, stored encrypted in the snapshot. */
  readonly metadata?: BackupMetadata;
  /** Progress callback. */
  readonly onProgress?: (p: IncrementalProgress) => void;
  /** Pack payload target (default 4 MiB). */
  readonly packSize?: number;
  /** Packs uploading at once (default 2). */
  readonly concurrency?: number;
}

/** What {@link backupIncremental} resolves with. */
export interface IncrementalBackupResult {
  /** Hex id of the snapshot. */
  readonly backupId: string;
  /** When it was made. */
  readonly createdAt: number;
  /** Plaintext size. */
  readonly plaintextSize: number;
  /** Number of chunks. */
  readonly chunkCount: number;
  /** Plaintext bytes in new chunks. */
  readonly newBytes: number;
  /** Plaintext bytes deduplicated against the store. */
  readonly skippedBytes: number;
  /** Every byte sent to the store (packs with padding, index segment, snapshot, latest pointer). */
  readonly uploadedBytes: number;
  /** Packs written. */
  readonly packs: number;
  /** Chunks found in packs of an interrupted earlier run (resumed work). */
  readonly resumedChunks: number;
  /** The latest-pointer sequence this backup took (docs/CLIENT.md §Rollback). */
  readonly sequence: number;
  /** Whether the latest pointer now names it (false: another device's newer backup is latest). */
  readonly latest: boolean;
}

interface Ctx {
  readonly accountId: string;
  readonly blobs: BlobStore;
  readonly prefix: string;
  readonly keyring: Keyring;
  readonly engine: CipherEngine;
  readonly now: () => number;
  readonly random: RandomSource;
  readonly signal: AbortSignal | undefined;
  readonly guard: () => Promise<void>;
  readonly readTimeoutMs: number | undefined;
  readonly storage: KeyValueStore | undefined;
}

function resolve(c: IncrementalContext): Ctx {
  if (typeof c !== 'object' || c === null) throw new TypeError('context must be an object');
  if (typeof c.accountId !== 'string' || c.accountId.length === 0) throw new TypeError('accountId must be a non-empty string');
  if (typeof c.blobs !== 'object' || c.blobs === null) throw new TypeError('blobs must be a BlobStore');
  if (typeof c.keyring !== 'object' || c.keyring === null || c.keyring.current === undefined) throw new TypeError('keyring must be a Keyring');
  const inner = c.blobs;
  const guard = c.guard;
  const blobs: BlobStore =
    guard === undefined
      ? inner
      : {
          limits: inner.limits,
          createUpload: async (k, o) => (await guard(), inner.createUpload(k, o)),
          putPart: async (u, n, b, o) => (await guard(), inner.putPart(u, n, b, o)),
          listParts: (u, o) => inner.listParts(u, o),
          completeUpload: async (u, p, o) => (await guard(), inner.completeUpload(u, p, o)),
          abortUpload: (u, o) => inner.abortUpload(u, o),
          put: async (k, b, o) => (await guard(), inner.put(k, b, o)),
          get: (k, o) => inner.get(k, o),
          head: (k, o) => inner.head(k, o),
          delete: async (k, o) => (await guard(), inner.delete(k, o)),
          list: (p, o) => inner.list(p, o),
        };
  return {
    accountId: c.accountId,
    blobs,
    prefix: c.keyPrefix ?? '',
    keyring: c.keyring,
    engine: c.engine ?? defaultEngine(),
    now: c.now ?? Date.now,
    random: c.random ?? secureRandom,
    signal: c.signal,
    guard: guard ?? (async () => undefined),
    readTimeoutMs: c.readTimeoutMs,
    storage: c.storage,
  };
}

/** The client's catalog context of `ctx` (bounded reads of envelopes and the latest pointer); keys are copies. */
function catalog(ctx: Ctx): CatalogContext {
  return {
    accountId: ctx.accountId,
    blobs: ctx.blobs,
    keyPrefix: ctx.prefix,
    keyLookup: (id) => keyCopy(ctx, id),
    ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    ...(ctx.readTimeoutMs === undefined ? {} : { readTimeoutMs: ctx.readTimeoutMs }),
  };
}

/** A read from the store under the client's deadline (`TIMEOUT`), following the operation's signal. */
function timed<T>(ctx: Ctx, what: string, read: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return boundedRead({ ...(ctx.signal === undefined ? {} : { signal: ctx.signal }), ...(ctx.readTimeoutMs === undefined ? {} : { readTimeoutMs: ctx.readTimeoutMs }) }, what, read);
}

/** A copy of the key of `keyId` (wipe it), or undefined. */
function keyCopy(ctx: Ctx, keyId: Uint8Array): Uint8Array | undefined {
  const g = ctx.keyring.generations.find((x) => equalBytes(x.keyId, keyId));
  return g === undefined ? undefined : Uint8Array.from(g.key);
}

/** A key lookup for envelopes whose copies are wiped when `done()` runs. */
function lookupScope(ctx: Ctx): { lookup: (id: Uint8Array) => Uint8Array | undefined; done: () => void } {
  const copies: Uint8Array[] = [];
  return {
    lookup: (id) => {
      const k = keyCopy(ctx, id);
      if (k !== undefined) copies.push(k);
      return k;
    },
    done: () => wipe(...copies.splice(0)),
  };
}

const opt = (ctx: Ctx) => (ctx.signal === undefined ? {} : { signal: ctx.signal });

/** A ranged read (pack header or directory) under the deadline, or undefined when absent. */
async function getRange(ctx: Ctx, key: string, range: { offset: number; length: number }): Promise<Uint8Array | undefined> {
  try {
    return await timed(ctx, key.slice(ctx.prefix.length), (signal) => ctx.blobs.get(key, { signal, range }));
  } catch (e) {
    if (isBackupError(e, 'NOT_FOUND')) return undefined;
    throw e;
  }
}

async function openSealed(ctx: Ctx, kind: number, name: string, sealed: Uint8Array): Promise<{ body: Uint8Array; keyId: Uint8Array }> {
  const scope = lookupScope(ctx);
  try {
    return openEnvelope(kind, sealed, name, { keyLookup: scope.lookup, accountId: ctx.accountId });
  } finally {
    scope.done();
  }
}

function sealWith(ctx: Ctx, kind: number, body: Uint8Array, name: string): Uint8Array {
  const key = Uint8Array.from(ctx.keyring.current.key);
  try {
    return sealEnvelope(kind, body, name, { key, keyId: ctx.keyring.current.keyId, accountId: ctx.accountId, random: ctx.random });
  } finally {
    wipe(key);
  }
}

// ---------------------------------------------------------------------------------------------
// Repository state: index segments, packs present, trash.

interface Location {
  readonly pack: IndexedPack;
  /** Position of the chunk in its pack (its nonce counter). */
  readonly j: number;
  readonly entry: PackEntry;
}

interface RepoState {
  /** Index segment names (relative to the prefix). */
  readonly segments: Map<string, IndexedPack[]>;
  /** Indexed packs by hex id. */
  readonly packs: Map<string, IndexedPack>;
  /** Pack ids (hex) present in the store, with their sizes; undefined when not listed. */
  readonly present: Map<string, number> | undefined;
  readonly trash: Map<string, number>;
  /**
   * The trash object's ETag when it was read (taken before its bytes, so a write in between makes
   * the conditional write that follows fail); `undefined` when there was none.
   */
  readonly trashEtag: string | undefined;
  /** Chunk locations by hex id, newest pack first. */
  readonly locations: Map<string, Location[]>;
}

/** A sealed latest pointer: envelope header 46 ‖ body 32 (id, createdAt, sequence) ‖ tag 16. */
const SEALED_LATEST_SIZE = 94;

/** Most index segments read (bounds the work a hostile store can cause). */
export const MAX_INDEX_SEGMENTS = 100_000;
/** Most packs listed: as many as the trash can condemn (a store holding more cannot be pruned anyway). */
export const MAX_PACKS_LISTED = MAX_TRASH_PACKS;

/**
 * A sealed envelope, read as the client reads a manifest (lib/client/restore.ts `getSmall`): one
 * ranged GET of at most `limit` + 1 bytes, the largest legal object of its kind (format.ts
 * `MAX_SNAPSHOT_ENVELOPE`, `MAX_INDEX_ENVELOPE`, `MAX_TRASH_ENVELOPE`), under the read deadline
 * (`TIMEOUT`); over the cap is `PROTOCOL`; `undefined` when absent.
 */
async function getEnvelope(ctx: Ctx, key: string, limit: number): Promise<Uint8Array | undefined> {
  try {
    return await getSmall(catalog(ctx), key, limit);
  } catch (e) {
    if (isBackupError(e, 'NOT_FOUND')) return undefined;
    throw e;
  }
}

/** A listing under the deadline, refused (`PROTOCOL`, `details.limit`) past `maxEntries`. */
function listBounded(ctx: Ctx, dir: string, maxEntries: number) {
  return timed(ctx, `the list of ${dir}`, (signal) => ctx.blobs.list(ctx.prefix + dir, { signal, maxEntries }));
}

async function loadState(ctx: Ctx, options: { listPacks: boolean }): Promise<RepoState> {
  const list = await listBounded(ctx, 'index/', MAX_INDEX_SEGMENTS);
  const segments = new Map<string, IndexedPack[]>();
  const packs = new Map<string, IndexedPack>();
  for (const e of list) {
    throwIfAborted(ctx.signal);
    const rel = e.key.slice(ctx.prefix.length);
    if (!/^index\/[0-9a-f]{32}$/.test(rel)) continue;
    if (e.size > MAX_INDEX_ENVELOPE) continue;
    const sealed = await getEnvelope(ctx, e.key, MAX_INDEX_ENVELOPE);
    if (sealed === undefined) continue; // deleted since the listing (a concurrent prune)
    const { body } = await openSealed(ctx, KIND_INDEX, rel, sealed);
    const ps = decodeIndex(body);
    segments.set(rel, ps);
    for (const p of ps) packs.set(toHex(p.packId), p);
  }
  let present: Map<string, number> | undefined;
  if (options.listPacks) {
    present = new Map();
    for (const e of await listBounded(ctx, 'packs/', MAX_PACKS_LISTED)) {
      const rel = e.key.slice(ctx.prefix.length);
      if (/^packs\/[0-9a-f]{32}$/.test(rel)) present.set(rel.slice(6), e.size);
    }
  }
  const trash = new Map<string, number>();
  // The ETag first, then the bytes: a prune writes the trash back only if it is still this one.
  const trashEtag = (await timed(ctx, 'the trash', (signal) => ctx.blobs.head(ctx.prefix + names.trash, { signal })))?.etag;
  const sealedTrash = trashEtag === undefined ? undefined : await getEnvelope(ctx, ctx.prefix + names.trash, MAX_TRASH_ENVELOPE);
  if (sealedTrash !== undefined) {
    const { body } = await openSealed(ctx, KIND_TRASH, names.trash, sealedTrash);
    for (const t of decodeTrash(body)) trash.set(toHex(t.packId), t.condemnedAt);
  }
  const locations = new Map<string, Location[]>();
  const ordered = [...packs.values()].sort((a, b) => b.createdAt - a.createdAt);
  for (const p of ordered) {
    if (present !== undefined && !present.has(toHex(p.packId))) continue;
    p.entries.forEach((entry, j) => {
      const h = toHex(entry.id);
      const l = locations.get(h);
      if (l === undefined) locations.set(h, [{ pack: p, j, entry }]);
      else l.push({ pack: p, j, entry });
    });
  }
  return { segments, packs, present, trash, trashEtag, locations };
}

// ---------------------------------------------------------------------------------------------
// Pack writing.

interface BuiltPack {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly indexed: IndexedPack;
}

/** Builds packs for one generation: seal chunks in order, then the directory, then pad. */
class PackWriter {
  #cipher: ChunkCipher | undefined;
  #salt: Uint8Array = new Uint8Array(0);
  #parts: Uint8Array[] = [];
  #entries: PackEntry[] = [];
  #offset = PACK_HEADER_LENGTH;

  constructor(
    private readonly key: Uint8Array,
    private readonly keyId: Uint8Array,
    private readonly engine: CipherEngine,
    private readonly random: RandomSource,
    private readonly now: () => number,
    private readonly target: number,
  ) {}

  get empty(): boolean {
    return this.#entries.length === 0;
  }

  /** Seal one chunk into the open pack; returns a finished pack when the target size is reached. */
  async add(id: Uint8Array, plaintext: Uint8Array): Promise<BuiltPack | undefined> {
    if (this.#cipher === undefined) {
      this.#salt = this.random(32);
      const k = derivePackKeys(this.key, this.#salt);
      try {
        this.#cipher = this.engine.create(k.payloadKey, k.noncePrefix);
      } finally {
        wipe(k.payloadKey, k.noncePrefix);
      }
    }
    const sealed = await this.#cipher.seal(chunkNonceTail(this.#entries.length, false), plaintext, id);
    this.#parts.push(sealed);
    this.#entries.push({ id: Uint8Array.from(id), offset: this.#offset, length: sealed.length });
    this.#offset += sealed.length;
    if (this.#offset >= this.target || this.#entries.length >= MAX_PACK_CHUNKS - 1) return this.finish();
    return undefined;
  }

  /** Close the open pack (undefined when empty). */
  async finish(): Promise<BuiltPack | undefined> {
    const cipher = this.#cipher;
    if (cipher === undefined || this.#entries.length === 0) return undefined;
    const entries = this.#entries;
    const createdAt = this.now();
    const dir = encodeDirectory(entries);
    const header = encodePackHeader({
      keyId: this.keyId,
      salt: this.#salt,
      createdAt,
      count: entries.length,
      dirOffset: this.#offset,
      dirLength: dir.length + TAG_LENGTH,
    });
    const sealedDir = await cipher.seal(chunkNonceTail(entries.length, true), dir, directoryAad(header));
    cipher.dispose();
    const total = this.#offset + sealedDir.length;
    const bytes = new Uint8Array(padme(total));
    bytes.set(header, 0);
    let o = PACK_HEADER_LENGTH;
    for (const p of this.#parts) {
      bytes.set(p, o);
      o += p.length;
    }
    bytes.set(sealedDir, o);
    const packId = this.random(OBJECT_ID_LENGTH);
    const indexed: IndexedPack = { packId, keyId: Uint8Array.from(this.keyId), salt: this.#salt, createdAt, size: bytes.length, entries };
    this.#cipher = undefined;
    this.#parts = [];
    this.#entries = [];
    this.#offset = PACK_HEADER_LENGTH;
    return { name: names.pack(packId), bytes, indexed };
  }

  dispose(): void {
    this.#cipher?.dispose();
    this.#cipher = undefined;
    for (const p of this.#parts) wipe(p);
  }
}

/** Uploads with bounded concurrency; the first failure rejects `drain()`. */
class Uploader {
  #inflight = new Set<Promise<void>>();
  #error: unknown;
  uploaded = 0;

  constructor(
    private readonly ctx: Ctx,
    private readonly limit: number,
  ) {}

  async put(name: string, bytes: Uint8Array): Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    while (this.#inflight.size >= this.limit) await Promise.race(this.#inflight);
    if (this.#error !== undefined) throw this.#error;
    const p: Promise<void> = this.ctx.blobs.put(this.ctx.prefix + name, bytes, opt(this.ctx)).then(
      () => {
        this.uploaded += bytes.length;
        this.#inflight.delete(p);
      },
      (e: unknown) => {
        this.#error ??= e;
        this.#inflight.delete(p);
      },
    );
    this.#inflight.add(p);
  }

  async drain(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.race(this.#inflight);
    if (this.#error !== undefined) throw this.#error;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading a pack's own directory (resume after a reload; adopting orphans).

async function readPackDirectory(ctx: Ctx, packHex: string, size: number): Promise<IndexedPack | undefined> {
  if (size < PACK_HEADER_LENGTH || size > MAX_PACK_SIZE) return undefined;
  const name = `packs/${packHex}`;
  const head = await getRange(ctx, ctx.prefix + name, { offset: 0, length: PACK_HEADER_LENGTH });
  if (head === undefined || head.length !== PACK_HEADER_LENGTH) return undefined;
  const h = parsePackHeader(head, size);
  const bk = keyCopy(ctx, h.keyId);
  if (bk === undefined) return undefined;
  try {
    const sealedDir = await getRange(ctx, ctx.prefix + name, { offset: h.dirOffset, length: h.dirLength });
    if (sealedDir === undefined || sealedDir.length !== h.dirLength) return undefined;
    const k = derivePackKeys(bk, h.salt);
    const cipher = ctx.engine.create(k.payloadKey, k.noncePrefix);
    wipe(k.payloadKey, k.noncePrefix);
    try {
      const dir = await cipher.open(chunkNonceTail(h.count, true), sealedDir, directoryAad(head));
      if (dir === undefined) throw archiveAuthFailed();
      return { packId: fromHex(packHex), keyId: h.keyId, salt: h.salt, createdAt: h.createdAt, size, entries: decodeDirectory(dir, h) };
    } finally {
      cipher.dispose();
    }
  } finally {
    wipe(bk);
  }
}

// ---------------------------------------------------------------------------------------------
// Backup.

async function* readSource(source: IncrementalSource, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  const PIECE = 1 << 20;
  if (isBytes(source)) {
    for (let o = 0; o < source.length; o += PIECE) {
      throwIfAborted(signal);
      yield source.subarray(o, Math.min(source.length, o + PIECE));
    }
    return;
  }
  const stream = typeof Blob !== 'undefined' && source instanceof Blob ? blobStream(source) : (source as ReadableStream<Uint8Array>);
  if (typeof (stream as { getReader?: unknown }).getReader !== 'function') throw new TypeError('source must be a Uint8Array, a Blob or a ReadableStream');
  const reader = stream.getReader();
  try {
    for (;;) {
      throwIfAborted(signal);
      const { done, value } = await reader.read();
      if (done) return;
      if (!isBytes(value)) throw new TypeError('source stream must yield Uint8Array chunks');
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Back up `source` incrementally: chunk it under the current generation's keys, upload only the
 * chunks the store lacks in padded packs, then write an index segment for the new packs, the
 * sealed snapshot (`manifests/<id>`, kind 3) and move the latest pointer.
 *
 * A run that dies midway leaves complete packs behind; the next run reads their sealed
 * directories and skips their chunks (resume).
 *
 * @example
 * ```ts
 * const r = await backupIncremental({ accountId, blobs, keyring }, chatExport);
 * console.log(r.newBytes, r.skippedBytes, r.uploadedBytes);
 * ```
 */
export async function backupIncremental(
  context: IncrementalContext,
  source: IncrementalSource,
  options: IncrementalBackupOptions = {},
): Promise<IncrementalBackupResult> {
  const ctx = resolve(context);
  throwIfAborted(ctx.signal);
  const gen = ctx.keyring.current;
  const bk = Uint8Array.from(gen.key);
  const packTarget = options.packSize ?? DEFAULT_PACK_SIZE;
  if (!Number.isSafeInteger(packTarget) || packTarget < 1024 || packTarget > MAX_PACK_SIZE / 2) {
    throw new RangeError(`packSize must be 1 KiB .. ${MAX_PACK_SIZE / 2}`);
  }
  const total = isBytes(source) ? source.length : typeof Blob !== 'undefined' && source instanceof Blob ? source.size : undefined;
  const chunkerKeys = deriveChunkerKeys(bk);
  const chunker = new KeyedChunker(chunkerKeys);
  wipeChunkerKeys(chunkerKeys);
  const idKey = deriveChunkIdKey(bk);
  const mac = await createChunkIdMac(idKey);
  wipe(idKey);
  const writer = new PackWriter(bk, gen.keyId, ctx.engine, ctx.random, ctx.now, packTarget);
  const uploader = new Uploader(ctx, options.concurrency ?? 2);
  try {
    // The sequence is taken when the backup starts (as a plain backup's): of two devices'
    // backups, the one that started later ends up latest.
    const sequence = await nextSequence(catalog(ctx), ctx.storage);
    // What the store holds under this generation: indexed packs that are present and not
    // condemned, plus the sealed directories of unindexed packs (an interrupted run: resume).
    const state = await loadState(ctx, { listPacks: true });
    const known = new Set<string>();
    for (const [h, locs] of state.locations) {
      if (locs.some((l) => equalBytes(l.pack.keyId, gen.keyId) && !state.trash.has(toHex(l.pack.packId)))) known.add(h);
    }
    const adopted: IndexedPack[] = [];
    let resumedChunks = 0;
    for (const [packHex, size] of state.present!) {
      if (state.packs.has(packHex) || state.trash.has(packHex)) continue;
      let p: IndexedPack | undefined;
      try {
        p = await readPackDirectory(ctx, packHex, size);
      } catch (e) {
        if (!isBackupError(e) || ['ABORTED', 'OFFLINE', 'TIMEOUT', 'UNAUTHORIZED'].includes(e.code)) throw e;
        p = undefined; // not ours, or damaged: never deduplicate against it
      }
      if (p === undefined || !equalBytes(p.keyId, gen.keyId)) continue;
      adopted.push(p);
      for (const e of p.entries) {
        if (!known.has(toHex(e.id))) resumedChunks++;
        known.add(toHex(e.id));
      }
    }

    const ids: Uint8Array[] = [];
    const sizes: number[] = [];
    const written: IndexedPack[] = [];
    let bytes = 0;
    let newBytes = 0;
    let skippedBytes = 0;
    const progress = () =>
      options.onProgress?.({ bytes, ...(total === undefined ? {} : { total }), newBytes, skippedBytes, uploadedBytes: uploader.uploaded });
    const ship = async (p: BuiltPack | undefined) => {
      if (p === undefined) return;
      written.push(p.indexed);
      await uploader.put(p.name, p.bytes);
    };
    const take = async (chunk: Uint8Array, id: Uint8Array) => {
      const h = toHex(id);
      ids.push(id);
      sizes.push(chunk.length);
      bytes += chunk.length;
      if (known.has(h)) skippedBytes += chunk.length;
      else {
        known.add(h);
        newBytes += chunk.length;
        await ship(await writer.add(id, chunk));
      }
      wipe(chunk);
    };
    // The MACs of one piece's chunks run together: with WebCrypto each is a hop to another
    // thread, and awaiting them one by one would serialize those hops.
    const takeAll = async (chunks: Uint8Array[]) => {
      const macs = await Promise.all(chunks.map((c) => mac.id(c)));
      for (let i = 0; i < chunks.length; i++) await take(chunks[i]!, macs[i]!);
    };
    for await (const piece of readSource(source, ctx.signal)) {
      await takeAll(chunker.push(piece));
      progress();
    }
    await takeAll(chunker.end());
    await ship(await writer.finish());
    await uploader.drain();
    progress();

    // Index before snapshot: a snapshot never names a chunk the index cannot locate.
    for (const group of indexGroups([...written, ...adopted])) {
      const name = names.index(ctx.random(OBJECT_ID_LENGTH));
      const sealed = sealWith(ctx, KIND_INDEX, encodeIndex(group), name);
      await ctx.blobs.put(ctx.prefix + name, sealed, opt(ctx));
      uploader.uploaded += sealed.length;
    }
    const backupId = ctx.random(OBJECT_ID_LENGTH);
    const createdAt = ctx.now();
    const snapshot: Snapshot = { backupId, createdAt, plaintextSize: bytes, metadata: options.metadata ?? {}, ids, sizes };
    const snapName = names.snapshot(backupId);
    const sealedSnap = sealWith(ctx, KIND_SNAPSHOT, encodeSnapshot(snapshot), snapName);
    await ctx.blobs.put(ctx.prefix + snapName, sealedSnap, opt(ctx));
    uploader.uploaded += sealedSnap.length;
    // The pointer as plain backups move it (lib/client/latest.ts): with the sequence taken at the
    // start, only forward, by a conditional write; the device records it.
    const mine = { backupId, createdAt, seq: sequence };
    const key = Uint8Array.from(gen.key);
    let latest: boolean;
    try {
      latest = await publishLatest(
        {
          accountId: ctx.accountId,
          blobs: ctx.blobs,
          keyPrefix: ctx.prefix,
          keyLookup: (id) => keyCopy(ctx, id),
          key,
          keyId: gen.keyId,
          random: ctx.random,
          guard: ctx.guard,
          ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
          ...(ctx.readTimeoutMs === undefined ? {} : { readTimeoutMs: ctx.readTimeoutMs }),
        },
        mine,
      );
    } finally {
      wipe(key);
    }
    if (latest) uploader.uploaded += SEALED_LATEST_SIZE;
    if (ctx.storage !== undefined) await noteSeen(ctx.storage, ctx.accountId, seenOf(mine));
    progress();
    return {
      backupId: toHex(backupId),
      createdAt,
      plaintextSize: bytes,
      chunkCount: ids.length,
      newBytes,
      skippedBytes,
      uploadedBytes: uploader.uploaded,
      packs: written.length,
      resumedChunks,
      sequence,
      latest,
    };
  } finally {
    chunker.dispose();
    mac.dispose();
    writer.dispose();
    wipe(bk);
  }
}

// ---------------------------------------------------------------------------------------------
// Listing and opening snapshots.

/** A snapshot as listed. */
export interface SnapshotSummary {
  /** Hex id. */
  readonly backupId: string;
  /** When it was made. */
  readonly createdAt: number;
  /** Plaintext size. */
  readonly plaintextSize: number;
  /** Number of chunks. */
  readonly chunkCount: number;
  /** App metadata. */
  readonly metadata: BackupMetadata;
  /** True for the one the latest pointer names. */
  readonly latest: boolean;
}

/** Most objects listed under `manifests/`: the namespace is shared with plain backups, whose listing stops there too. */
export const MAX_LISTED_SNAPSHOTS = MAX_LISTED_BACKUPS;

interface LoadedSnapshot {
  readonly snapshot: Snapshot;
  readonly keyId: Uint8Array;
}

async function loadSnapshot(ctx: Ctx, backupId: Uint8Array): Promise<LoadedSnapshot> {
  const name = names.snapshot(backupId);
  const sealed = await getEnvelope(ctx, ctx.prefix + name, MAX_SNAPSHOT_ENVELOPE);
  if (sealed === undefined) throw new BackupError('NOT_FOUND', 'no such backup');
  const { body, keyId } = await openSealed(ctx, KIND_SNAPSHOT, name, sealed);
  const snapshot = decodeSnapshot(body);
  if (!equalBytes(snapshot.backupId, backupId)) throw archiveAuthFailed();
  return { snapshot, keyId };
}

/** The id the latest pointer names, read as the client reads it (bounded by size and time). */
async function latestId(ctx: Ctx): Promise<Uint8Array | undefined> {
  const scope = lookupScope(ctx);
  try {
    return (await latestOrUndefined({ ...catalog(ctx), keyLookup: scope.lookup }))?.backupId;
  } finally {
    scope.done();
  }
}

/** Every snapshot (kind 3 objects under `manifests/`); a kind-3 object that does not open throws. */
async function allSnapshots(ctx: Ctx): Promise<LoadedSnapshot[]> {
  const list = await listBounded(ctx, 'manifests/', MAX_LISTED_SNAPSHOTS);
  const out: LoadedSnapshot[] = [];
  for (const e of list) {
    throwIfAborted(ctx.signal);
    const rel = e.key.slice(ctx.prefix.length);
    if (!/^manifests\/[0-9a-f]{32}$/.test(rel) || e.size > MAX_SNAPSHOT_ENVELOPE) continue;
    const sealed = await getEnvelope(ctx, e.key, MAX_SNAPSHOT_ENVELOPE).catch((err: unknown) => {
      if (isBackupError(err, 'PROTOCOL')) return undefined; // not a readable envelope: not ours to judge here
      throw err;
    });
    if (sealed === undefined || envelopeKind(sealed) !== KIND_SNAPSHOT) continue; // plain backups: not ours
    const { body, keyId } = await openSealed(ctx, KIND_SNAPSHOT, rel, sealed);
    const snapshot = decodeSnapshot(body);
    if (toHex(snapshot.backupId) !== rel.slice(10)) throw archiveAuthFailed();
    out.push({ snapshot, keyId });
  }
  return out;
}

/**
 * Every incremental snapshot, newest first.
 *
 * @example
 * ```ts
 * for (const s of await listSnapshots({ accountId, blobs, keyring })) console.log(s.backupId, s.plaintextSize);
 * ```
 */
export async function listSnapshots(context: IncrementalContext): Promise<SnapshotSummary[]> {
  const ctx = resolve(context);
  const latest = await latestId(ctx).catch(() => undefined);
  const lh = latest === undefined ? undefined : toHex(latest);
  return (await allSnapshots(ctx))
    .map(({ snapshot: s }) => ({
      backupId: toHex(s.backupId),
      createdAt: s.createdAt,
      plaintextSize: s.plaintextSize,
      chunkCount: s.ids.length,
      metadata: s.metadata,
      latest: toHex(s.backupId) === lh,
    }))
    .sort((a, b) => b.createdAt - a.createdAt || (a.backupId < b.backupId ? 1 : -1));
}

/** An incremental snapshot opened for reading. */
export interface OpenedSnapshot {
  /** Hex id. */
  readonly backupId: string;
  /** When it was made. */
  readonly createdAt: number;
  /** App metadata. */
  readonly metadata: BackupMetadata;
  /** Plaintext size. */
  readonly plaintextSize: number;
  /** `length` plaintext bytes from `offset`, fetching and verifying only the chunks needed. */
  read(offset: number, length: number, options?: { readonly signal?: AbortSignal }): Promise<Uint8Array>;
  /** The whole plaintext, verified chunk by chunk, in order. */
  stream(options?: {
    readonly signal?: AbortSignal;
    readonly readAhead?: number;
    readonly onProgress?: (p: { readonly bytes: number; readonly total: number }) => void;
  }): ReadableStream<Uint8Array>;
  /** Wipe the pack keys held for reads. */
  close(): void;
}

/**
 * Open a snapshot (the latest by default) for streaming or random-access reads. Every chunk is
 * opened with XChaCha20-Poly1305 under its pack's key with its id as associated data; a chunk
 * that is missing, moved, swapped or altered fails with `ARCHIVE_AUTH_FAILED`.
 *
 * @example
 * ```ts
 * const snap = await openSnapshot({ accountId, blobs, keyring });
 * const tail = await snap.read(snap.plaintextSize - 4096, 4096);
 * await snap.stream().pipeTo(sink);
 * snap.close();
 * ```
 */
export async function openSnapshot(context: IncrementalContext, backupId?: string | Uint8Array): Promise<OpenedSnapshot> {
  const ctx = resolve(context);
  let id: Uint8Array;
  if (backupId === undefined) {
    const l = await latestId(ctx);
    if (l === undefined) throw new BackupError('NOT_FOUND', 'no backup yet');
    id = l;
  } else {
    id = typeof backupId === 'string' ? fromHex(backupId) : Uint8Array.from(backupId);
    if (id.length !== OBJECT_ID_LENGTH) throw new RangeError('backupId must be 16 bytes or 32 hex digits');
  }
  const { snapshot, keyId } = await loadSnapshot(ctx, id);
  const state = await loadState(ctx, { listPacks: false });
  const starts = new Float64Array(snapshot.ids.length + 1);
  for (let i = 0; i < snapshot.sizes.length; i++) starts[i + 1] = starts[i]! + snapshot.sizes[i]!;
  const ciphers = new Map<string, ChunkCipher>();
  let closed = false;
  // The snapshot's generation key, copied now: reads come later, after the caller may have wiped
  // its keyring; every chunk of the snapshot lives in a pack of this generation.
  const genKey = keyCopy(ctx, keyId);
  if (genKey === undefined) throw new BackupError('ARCHIVE_KEY_UNKNOWN', 'the snapshot was sealed under a key that is not in the keyring');

  const cipherFor = (pack: IndexedPack): ChunkCipher => {
    const h = toHex(pack.packId);
    let c = ciphers.get(h);
    if (c === undefined) {
      if (closed) throw new BackupError('INVALID_ARGUMENT', 'the snapshot was closed');
      const k = derivePackKeys(genKey, pack.salt);
      c = ctx.engine.create(k.payloadKey, k.noncePrefix);
      wipe(k.payloadKey, k.noncePrefix);
      if (ciphers.size > 256) {
        const [first] = ciphers;
        first![1].dispose();
        ciphers.delete(first![0]);
      }
      ciphers.set(h, c);
    }
    return c;
  };

  /** Candidate locations of chunk i: only packs of the snapshot's generation. */
  const locationsOf = (i: number): Location[] =>
    (state.locations.get(toHex(snapshot.ids[i]!)) ?? []).filter((l) => equalBytes(l.pack.keyId, keyId) && l.entry.length === snapshot.sizes[i]! + TAG_LENGTH);

  const openAt = async (i: number, loc: Location, sealed: Uint8Array): Promise<Uint8Array> => {
    const pt = await cipherFor(loc.pack).open(chunkNonceTail(loc.j, false), sealed, snapshot.ids[i]!);
    if (pt === undefined || pt.length !== snapshot.sizes[i]) throw archiveAuthFailed();
    return pt;
  };

  /** Chunks [from, to) as plaintexts, reading runs of neighbours in one pack with one ranged read. */
  const fetchChunks = async (from: number, to: number, signal: AbortSignal | undefined): Promise<Uint8Array[]> => {
    if (closed) throw new BackupError('INVALID_ARGUMENT', 'the snapshot was closed');
    const out: Uint8Array[] = [];
    let i = from;
    while (i < to) {
      throwIfAborted(signal);
      const locs = locationsOf(i);
      if (locs.length === 0) throw archiveAuthFailed();
      const first = locs[0]!;
      // Extend a run: the next chunks at the next offsets of the same pack.
      let end = i + 1;
      let len = first.entry.length;
      while (end < to && len < 8 * 1024 * 1024) {
        const next = locationsOf(end)[0];
        if (next === undefined || next.pack !== first.pack || next.entry.offset !== first.entry.offset + len) break;
        len += next.entry.length;
        end++;
      }
      let run: Uint8Array | undefined;
      try {
        run = await ctx.blobs.get(ctx.prefix + names.pack(first.pack.packId), {
          range: { offset: first.entry.offset, length: len },
          ...(signal === undefined ? {} : { signal }),
        });
      } catch (e) {
        if (!isBackupError(e, 'NOT_FOUND') && !isBackupError(e, 'INVALID_ARGUMENT')) throw e;
        run = undefined;
      }
      let o = 0;
      let ok = run !== undefined && run.length === len;
      const got: Uint8Array[] = [];
      if (ok) {
        for (let k = i; k < end; k++) {
          const loc = k === i ? first : locationsOf(k)[0]!;
          try {
            got.push(await openAt(k, loc, run!.subarray(o, o + loc.entry.length)));
          } catch (e) {
            if (!isBackupError(e, 'ARCHIVE_AUTH_FAILED')) throw e;
            ok = false;
            break;
          }
          o += loc.entry.length;
        }
      }
      if (ok) {
        out.push(...got);
        i = end;
        continue;
      }
      wipe(...got);
      // Fall back chunk by chunk through the other locations (a pack repacked and deleted).
      out.push(await fetchOne(i, signal));
      i++;
    }
    return out;
  };

  const fetchOne = async (i: number, signal: AbortSignal | undefined): Promise<Uint8Array> => {
    for (const loc of locationsOf(i)) {
      try {
        const sealed = await ctx.blobs.get(ctx.prefix + names.pack(loc.pack.packId), {
          range: { offset: loc.entry.offset, length: loc.entry.length },
          ...(signal === undefined ? {} : { signal }),
        });
        if (sealed.length !== loc.entry.length) continue;
        return await openAt(i, loc, sealed);
      } catch (e) {
        if (isBackupError(e, 'NOT_FOUND') || isBackupError(e, 'INVALID_ARGUMENT') || isBackupError(e, 'ARCHIVE_AUTH_FAILED')) continue;
        throw e;
      }
    }
    throw archiveAuthFailed();
  };

  const chunkAt = (x: number): number => {
    let lo = 0;
    let hi = snapshot.ids.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid]! <= x) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };

  return {
    backupId: toHex(snapshot.backupId),
    createdAt: snapshot.createdAt,
    metadata: snapshot.metadata,
    plaintextSize: snapshot.plaintextSize,
    async read(offset, length, ro = {}) {
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || offset + length > snapshot.plaintextSize) {
        throw new RangeError('offset and length must lie within the plaintext');
      }
      if (length === 0) return new Uint8Array(0);
      const a = chunkAt(offset);
      const b = chunkAt(offset + length - 1);
      const pts = await fetchChunks(a, b + 1, ro.signal ?? ctx.signal);
      const out = new Uint8Array(length);
      let w = 0;
      for (let k = 0; k < pts.length; k++) {
        const cs = starts[a + k]!;
        const from = Math.max(0, offset - cs);
        const to = Math.min(pts[k]!.length, offset + length - cs);
        out.set(pts[k]!.subarray(from, to), w);
        w += to - from;
        wipe(pts[k]);
      }
      return out;
    },
    stream(so = {}) {
      const signal = so.signal ?? ctx.signal;
      const readAhead = Math.min(8, Math.max(1, so.readAhead ?? 3));
      const n = snapshot.ids.length;
      // Windows of chunks of about 4 MiB, fetched `readAhead` at a time ahead of the consumer.
      const windows: [number, number][] = [];
      for (let i = 0; i < n; ) {
        let j = i;
        let s = 0;
        while (j < n && (s < 4 * 1024 * 1024 || j === i)) s += snapshot.sizes[j++]!;
        windows.push([i, j]);
        i = j;
      }
      let next = 0;
      let released = 0;
      const pending: Promise<Uint8Array[]>[] = [];
      const fill = () => {
        while (pending.length < readAhead && next < windows.length) {
          const [a, b] = windows[next++]!;
          const p = fetchChunks(a, b, signal);
          p.catch(() => undefined);
          pending.push(p);
        }
      };
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          fill();
          const p = pending.shift();
          if (p === undefined) {
            controller.close();
            return;
          }
          for (const pt of await p) {
            released += pt.length;
            controller.enqueue(pt);
          }
          so.onProgress?.({ bytes: released, total: snapshot.plaintextSize });
        },
        cancel() {
          for (const p of pending.splice(0)) p.then((x) => wipe(...x), () => undefined);
        },
      });
    },
    close() {
      closed = true;
      for (const c of ciphers.values()) c.dispose();
      ciphers.clear();
      wipe(genKey);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Prune.

/** Options of {@link pruneIncremental}. */
export interface PruneOptions {
  /** Keep the newest `keep` snapshots (and always the latest, and any younger than the grace period). */
  readonly keep: number;
  /**
   * A pack is deleted only after it has been condemned (unreferenced) for this long, and packs
   * younger than this are never repacked or adopted as garbage. Must exceed the longest backup
   * run (docs/INCREMENTAL.md §8). Default 48 hours.
   */
  readonly graceMs?: number;
  /** Repack a pack whose referenced bytes fall below this fraction of its chunk bytes (default 0.5). */
  readonly repackBelow?: number;
}

/** What {@link pruneIncremental} did. */
export interface PruneResult {
  /** Hex ids of the snapshots deleted. */
  readonly deletedSnapshots: string[];
  /** Packs deleted now (condemned for at least the grace period). */
  readonly deletedPacks: number;
  /** Packs newly condemned (deleted by a prune after the grace period). */
  readonly condemnedPacks: number;
  /** Packs whose live chunks were copied into new packs (and then condemned). */
  readonly repackedPacks: number;
}

/** Default grace period of {@link pruneIncremental}. */
export const DEFAULT_GRACE_MS = 48 * 3600 * 1000;

/**
 * Delete all but the newest `keep` snapshots, then reclaim space in a crash-safe order:
 *
 * 1. delete the forgotten snapshots;
 * 2. list the snapshots present *now* (a concurrent backup's new snapshot counts) and mark every
 *    chunk they name as referenced;
 * 3. repack mostly-garbage packs older than the grace period (new packs and their index segment
 *    are written before anything is condemned);
 * 4. condemn unreferenced packs in the sealed trash list; delete only packs condemned at least
 *    `graceMs` ago and still unreferenced; a referenced pack in the trash is rescued. The trash is
 *    written by compare-and-swap before any deletion: when another device's prune wrote it
 *    meanwhile, steps 2-4 are made again from a fresh reading (`BLOB_STORE_FAILED` after 8 lost
 *    writes, with nothing deleted);
 * 5. rewrite the index segments that named deleted packs (new segment first, old ones after).
 *
 * A crash at any point leaves every chunk of every kept snapshot reachable (docs/INCREMENTAL.md §8).
 *
 * @example
 * ```ts
 * const r = await pruneIncremental({ accountId, blobs, keyring }, { keep: 7 });
 * ```
 */
export async function pruneIncremental(context: IncrementalContext, options: PruneOptions): Promise<PruneResult> {
  const ctx = resolve(context);
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  if (!Number.isSafeInteger(options.keep) || options.keep < 1) throw new RangeError('options.keep must be a positive integer');
  const grace = options.graceMs ?? DEFAULT_GRACE_MS;
  if (!Number.isSafeInteger(grace) || grace < 0) throw new RangeError('options.graceMs must be a non-negative integer');
  const repackBelow = options.repackBelow ?? 0.5;
  let now = ctx.now();

  // 1. Forget snapshots.
  const latest = await latestId(ctx);
  const lh = latest === undefined ? undefined : toHex(latest);
  const snaps = (await allSnapshots(ctx)).sort((a, b) => b.snapshot.createdAt - a.snapshot.createdAt);
  const deletedSnapshots: string[] = [];
  snaps.forEach(({ snapshot: s }, i) => {
    const h = toHex(s.backupId);
    if (i < options.keep || h === lh || now - s.createdAt < grace) return;
    deletedSnapshots.push(h);
  });
  for (const h of deletedSnapshots) {
    throwIfAborted(ctx.signal);
    await ctx.blobs.delete(ctx.prefix + names.snapshot(fromHex(h)), opt(ctx));
  }

  // Steps 2-4 decide from one reading of the snapshots, the index and the trash, and end with a
  // conditional write of the trash (If-Match the ETag read, If-None-Match when there was none).
  // When another device's prune wrote the trash meanwhile, the decisions may rest on a trash that
  // no longer holds (a rescued pack condemned again with its old time, a condemnation lost), so
  // they are made again from a fresh reading, at a fresh time.
  let repackedPacks = 0;
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) now = ctx.now();
    // 2. References of the snapshots present now.
    const referenced = new Set<string>();
    for (const { snapshot } of await allSnapshots(ctx)) for (const id of snapshot.ids) referenced.add(toHex(id));

    const state = await loadState(ctx, { listPacks: true });
    const present = state.present!;
    // Unindexed packs old enough to be no run's work in progress: read their directories.
    const orphans: IndexedPack[] = [];
    for (const [packHex, size] of present) {
      if (state.packs.has(packHex)) continue;
      let p: IndexedPack | undefined;
      try {
        p = await readPackDirectory(ctx, packHex, size);
      } catch (e) {
        if (!isBackupError(e) || ['ABORTED', 'OFFLINE', 'TIMEOUT', 'UNAUTHORIZED'].includes(e.code)) throw e;
        p = undefined;
      }
      if (p !== undefined && now - p.createdAt >= grace) orphans.push(p);
    }

    // The home of each referenced chunk: a present, not-condemned location, newest first.
    const allPacks = [...[...state.packs.values()].filter((p) => present.has(toHex(p.packId))), ...orphans];
    allPacks.sort((a, b) => b.createdAt - a.createdAt);
    const home = new Map<string, string>();
    for (const pass of [false, true]) {
      for (const p of allPacks) {
        const ph = toHex(p.packId);
        if (!pass && state.trash.has(ph)) continue;
        for (const e of p.entries) {
          const h = toHex(e.id);
          if (referenced.has(h) && !home.has(h)) home.set(h, ph);
        }
      }
    }
    const liveOf = (p: IndexedPack) => {
      const ph = toHex(p.packId);
      let live = 0;
      let all = 0;
      for (const e of p.entries) {
        all += e.length;
        if (home.get(toHex(e.id)) === ph) live += e.length;
      }
      return { live, all };
    };

    // 3. Repack mostly-garbage packs older than the grace period.
    const trash = new Map(state.trash);
    const newPacks: IndexedPack[] = [];
    const toRepack = allPacks.filter((p) => {
      const { live, all } = liveOf(p);
      return live > 0 && live < repackBelow * all && now - p.createdAt >= grace && !trash.has(toHex(p.packId));
    });
    for (const p of toRepack) {
      throwIfAborted(ctx.signal);
      const bk = keyCopy(ctx, p.keyId);
      if (bk === undefined) continue;
      const writer = new PackWriter(bk, p.keyId, ctx.engine, ctx.random, ctx.now, DEFAULT_PACK_SIZE);
      const ph = toHex(p.packId);
      try {
        const bytes = await ctx.blobs.get(ctx.prefix + names.pack(p.packId), { ...opt(ctx), range: { offset: 0, length: p.size } });
        if (bytes.length !== p.size) throw archiveAuthFailed();
        const k = derivePackKeys(bk, p.salt);
        const cipher = ctx.engine.create(k.payloadKey, k.noncePrefix);
        wipe(k.payloadKey, k.noncePrefix);
        const built: BuiltPack[] = [];
        try {
          for (let j = 0; j < p.entries.length; j++) {
            const e = p.entries[j]!;
            if (home.get(toHex(e.id)) !== ph) continue;
            const pt = await cipher.open(chunkNonceTail(j, false), bytes.subarray(e.offset, e.offset + e.length), e.id);
            if (pt === undefined) throw archiveAuthFailed();
            const b = await writer.add(e.id, pt);
            wipe(pt);
            if (b !== undefined) built.push(b);
          }
        } finally {
          cipher.dispose();
        }
        const last = await writer.finish();
        if (last !== undefined) built.push(last);
        for (const b of built) {
          await ctx.blobs.put(ctx.prefix + b.name, b.bytes, opt(ctx));
          newPacks.push(b.indexed);
          for (const e of b.indexed.entries) home.set(toHex(e.id), toHex(b.indexed.packId));
        }
        repackedPacks++;
      } finally {
        writer.dispose();
        wipe(bk);
      }
    }

    // New packs and adopted orphans are indexed before anything that depends on them is condemned.
    const adopted = orphans.filter((p) => liveOf(p).live > 0);
    for (const group of indexGroups([...newPacks, ...adopted])) {
      const name = names.index(ctx.random(OBJECT_ID_LENGTH));
      await ctx.blobs.put(ctx.prefix + name, sealWith(ctx, KIND_INDEX, encodeIndex(group), name), opt(ctx));
    }

    // 4. Condemn, rescue, delete. Condemnations are dated as close as possible to the trash write
    // that publishes them (a repack above may have taken long): backups that read the trash before
    // it must get the whole grace period.
    now = ctx.now();
    let condemnedPacks = 0;
    const doomed: string[] = [];
    for (const p of allPacks) {
      const ph = toHex(p.packId);
      const { live } = liveOf(p);
      const since = trash.get(ph);
      if (live > 0) {
        if (since !== undefined) trash.delete(ph);
        continue;
      }
      if (since === undefined) {
        trash.set(ph, now);
        condemnedPacks++;
      } else if (now - since >= grace) doomed.push(ph);
    }
    // Forget trash entries of packs that are gone. The doomed packs stay in the trash written
    // below, while they are being deleted: a backup that reads the state between that write and
    // a deletion must not find the pack present, indexed and uncondemned, and deduplicate against
    // it (the next prune forgets those entries, their packs being gone).
    for (const ph of [...trash.keys()]) if (!present.has(ph)) trash.delete(ph);
    const trashEntries: TrashEntry[] = [...trash].map(([ph, t]) => ({ packId: fromHex(ph), condemnedAt: t }));
    try {
      await ctx.blobs.put(ctx.prefix + names.trash, sealWith(ctx, KIND_TRASH, encodeTrash(trashEntries), names.trash), {
        ...opt(ctx),
        ...(state.trashEtag === undefined ? { ifNoneMatch: '*' as const } : { ifMatch: state.trashEtag }),
      });
    } catch (e) {
      if (!isBackupError(e, 'PRECONDITION_FAILED')) throw e;
      if (attempt >= MAX_TRASH_ATTEMPTS) {
        throw new BackupError('BLOB_STORE_FAILED', 'the trash kept changing while this prune tried to write it (another device pruning?); prune again later', { cause: e });
      }
      continue;
    }
    for (const ph of doomed) {
      throwIfAborted(ctx.signal);
      await ctx.blobs.delete(ctx.prefix + names.pack(fromHex(ph)), opt(ctx));
    }

    // 5. Rewrite index segments that name packs no longer present.
    const gone = new Set(doomed);
    for (const ph of state.packs.keys()) if (!present.has(ph)) gone.add(ph);
    const stale = [...state.segments].filter(([, ps]) => ps.some((p) => gone.has(toHex(p.packId))));
    if (stale.length > 0) {
      const keepPacks = new Map<string, IndexedPack>();
      for (const [, ps] of stale) for (const p of ps) if (!gone.has(toHex(p.packId))) keepPacks.set(toHex(p.packId), p);
      for (const group of indexGroups([...keepPacks.values()])) {
        const name = names.index(ctx.random(OBJECT_ID_LENGTH));
        await ctx.blobs.put(ctx.prefix + name, sealWith(ctx, KIND_INDEX, encodeIndex(group), name), opt(ctx));
      }
      for (const [seg] of stale) {
        throwIfAborted(ctx.signal);
        await ctx.blobs.delete(ctx.prefix + seg, opt(ctx));
      }
    }
    return { deletedSnapshots, deletedPacks: doomed.length, condemnedPacks, repackedPacks };
  }
}

/** Readings of the trash a prune makes before it gives up on writing it (another device keeps pruning). */
const MAX_TRASH_ATTEMPTS = 8;
