/**
 * Wire formats of incremental backups (docs/INCREMENTAL.md §5-§7): pack objects, the sealed
 * envelope of snapshots, index segments and the trash list, and their bodies. Every length and
 * count read from storage is capped before it sizes anything.
 *
 * @module
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { BackupError, archiveAuthFailed } from '../errors.js';
import { MANIFEST_MAGIC, MANIFEST_VERSION, deriveManifestKey, type BackupMetadata } from '../client/manifest.js';
import {
  abytes,
  concatBytes,
  fromUtf8,
  readU16BE,
  readU32BE,
  readU64BE,
  toHex,
  utf8,
  wipe,
  writeU32BE,
  writeU64BE,
} from '../util/bytes.js';
import { CHUNK_ID_LENGTH } from './keys.js';
import { MAX_CHUNK } from './chunker.js';

/** Magic of a pack object: ASCII `E2EE-PAK`. */
export const PACK_MAGIC: Uint8Array = /* @__PURE__ */ Uint8Array.of(0x45, 0x32, 0x45, 0x45, 0x2d, 0x50, 0x41, 0x4b);
/** Pack format version. */
export const PACK_VERSION = 1;
/** Pack suite: HKDF-SHA-256, XChaCha20-Poly1305 STREAM-like chunk nonces (as the archive's suite 1). */
export const PACK_SUITE = 1;
/** Pack header length. */
export const PACK_HEADER_LENGTH = 80;
/** Length of a pack id and a backup id. */
export const OBJECT_ID_LENGTH = 16;
/** Length of a keyId. */
export const KEY_ID_LENGTH = 16;
/** Poly1305 tag length. */
export const TAG_LENGTH = 16;
/** Bytes per directory entry: id 32 ‖ offset u32 ‖ sealed length u32. */
export const DIR_ENTRY_LENGTH = CHUNK_ID_LENGTH + 8;
/** Largest pack object accepted (a pack is built to about {@link DEFAULT_PACK_SIZE}). */
export const MAX_PACK_SIZE = 64 * 1024 * 1024;
/** Most chunks in one pack. */
export const MAX_PACK_CHUNKS = 65536;
/** Pack payload size the writer aims for before it closes a pack. */
export const DEFAULT_PACK_SIZE = 4 * 1024 * 1024;

/** Envelope kinds (the byte after the version; 1 and 2 are the manifest and the latest pointer). */
export const KIND_SNAPSHOT = 3;
export const KIND_INDEX = 4;
export const KIND_TRASH = 5;

const NONCE_LENGTH = 24;
const ENVELOPE_HEADER_LENGTH = 4 + 1 + 1 + KEY_ID_LENGTH + NONCE_LENGTH;
/** Most chunks one snapshot lists (1 Mi chunks: 64 GiB at the 64 KiB average, at least 16 GiB). */
export const MAX_SNAPSHOT_CHUNKS = 1024 * 1024;
/** Most packs one index segment lists (writers split larger sets into several segments). */
export const MAX_INDEX_PACKS = 64 * 1024;
/** Most chunk entries one index segment lists (as many as one snapshot names). */
export const MAX_INDEX_ENTRIES = MAX_SNAPSHOT_CHUNKS;
/** Most packs in the trash list. */
export const MAX_TRASH_PACKS = 1024 * 1024;
/** Cap on app metadata in a snapshot (as the manifest's). */
export const MAX_SNAPSHOT_METADATA = 64 * 1024;

const PACK_RECORD_FIXED = 16 + 16 + 32 + 8 + 4 + 4;
const SNAPSHOT_FIXED = 1 + 16 + 8 + 8 + 4 + 4;
const SNAPSHOT_ENTRY = CHUNK_ID_LENGTH + 4;
const TRASH_ENTRY = 16 + 8;

/**
 * Largest sealed snapshot: the largest body the format allows (1 Mi chunks, 64 KiB metadata) in
 * its envelope, about 36 MiB. A read of a snapshot never asks the store for more (plus one byte).
 */
export const MAX_SNAPSHOT_ENVELOPE = ENVELOPE_HEADER_LENGTH + SNAPSHOT_FIXED + MAX_SNAPSHOT_METADATA + MAX_SNAPSHOT_CHUNKS * SNAPSHOT_ENTRY + TAG_LENGTH;
/** Largest sealed index segment (64 Ki packs, 1 Mi entries: about 45 MiB). */
export const MAX_INDEX_ENVELOPE = ENVELOPE_HEADER_LENGTH + 5 + MAX_INDEX_PACKS * PACK_RECORD_FIXED + MAX_INDEX_ENTRIES * DIR_ENTRY_LENGTH + TAG_LENGTH;
/** Largest sealed trash list (1 Mi packs: 24 MiB). */
export const MAX_TRASH_ENVELOPE = ENVELOPE_HEADER_LENGTH + 5 + MAX_TRASH_PACKS * TRASH_ENTRY + TAG_LENGTH;
/** Largest sealed snapshot, index segment or trash list accepted (the largest of the three). */
export const MAX_ENVELOPE_SIZE = Math.max(MAX_SNAPSHOT_ENVELOPE, MAX_INDEX_ENVELOPE, MAX_TRASH_ENVELOPE);

/**
 * Split packs into index segments within {@link MAX_INDEX_PACKS} and {@link MAX_INDEX_ENTRIES}
 * (a pack holds at most {@link MAX_PACK_CHUNKS} chunks, so every group fits).
 */
export function indexGroups(packs: readonly IndexedPack[]): IndexedPack[][] {
  const out: IndexedPack[][] = [];
  let cur: IndexedPack[] = [];
  let entries = 0;
  for (const p of packs) {
    if (cur.length > 0 && (cur.length >= MAX_INDEX_PACKS || entries + p.entries.length > MAX_INDEX_ENTRIES)) {
      out.push(cur);
      cur = [];
      entries = 0;
    }
    cur.push(p);
    entries += p.entries.length;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Storage names inside the account's key prefix. */
export const names = {
  pack: (id: Uint8Array): string => `packs/${toHex(id)}`,
  index: (id: Uint8Array): string => `index/${toHex(id)}`,
  snapshot: (id: Uint8Array): string => `manifests/${toHex(id)}`,
  trash: 'trash',
} as const;

/** @internal A `PROTOCOL` error for a malformed incremental object. */
export function malformed(what: string, limit?: number): BackupError {
  return new BackupError('PROTOCOL', `malformed incremental backup object: ${what}`, limit === undefined ? {} : { limit });
}

/**
 * Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication with
 * PURBs", PETS 2019, §4): round `L` up so only O(log log L) bits of its size remain; at most
 * about 12% overhead, under 3% for a few MiB.
 *
 * @example
 * ```ts
 * padme(3_000_000); // 3_014_656
 * ```
 */
export function padme(length: number): number {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError('length must be a safe non-negative integer');
  if (length < 2) return length;
  const e = Math.floor(Math.log2(length));
  const s = Math.floor(Math.log2(e)) + 1;
  const step = 2 ** (e - s);
  return Math.ceil(length / step) * step;
}

// ---------------------------------------------------------------------------------------------
// Envelope: the manifest construction (lib/client/manifest.ts) with new kinds and larger caps.

function lp16(s: string, name: string): Uint8Array {
  const b = utf8(s);
  if (b.length === 0 || b.length > 1024) throw new RangeError(`${name} must be 1..1024 UTF-8 bytes`);
  const out = new Uint8Array(2 + b.length);
  out[0] = b.length >>> 8;
  out[1] = b.length & 0xff;
  out.set(b, 2);
  return out;
}

/** @internal Seal `body` as envelope `kind` for storage under `name` (AAD: header ‖ lp16(accountId) ‖ lp16(name)). */
export function sealEnvelope(
  kind: number,
  body: Uint8Array,
  name: string,
  o: { readonly key: Uint8Array; readonly keyId: Uint8Array; readonly accountId: string; readonly random: (n: number) => Uint8Array },
): Uint8Array {
  abytes(o.keyId, 'keyId', KEY_ID_LENGTH);
  const nonce = abytes(o.random(NONCE_LENGTH), 'random()', NONCE_LENGTH);
  const header = new Uint8Array(ENVELOPE_HEADER_LENGTH);
  header.set(MANIFEST_MAGIC, 0);
  header[4] = MANIFEST_VERSION;
  header[5] = kind;
  header.set(o.keyId, 6);
  header.set(nonce, 6 + KEY_ID_LENGTH);
  const mk = deriveManifestKey(o.key);
  try {
    const aad = concatBytes(header, lp16(o.accountId, 'accountId'), lp16(name, 'name'));
    return concatBytes(header, xchacha20poly1305(mk, nonce, aad).encrypt(body));
  } finally {
    wipe(mk);
  }
}

/** The kind byte of a sealed envelope, or `undefined` if it is not one of ours. */
export function envelopeKind(sealed: Uint8Array): number | undefined {
  if (sealed.length < ENVELOPE_HEADER_LENGTH) return undefined;
  for (let i = 0; i < 4; i++) if (sealed[i] !== MANIFEST_MAGIC[i]) return undefined;
  return sealed[5];
}

/** The keyId of a sealed envelope (public; selects the key). */
export function envelopeKeyId(sealed: Uint8Array): Uint8Array {
  if (sealed.length < ENVELOPE_HEADER_LENGTH) throw malformed('envelope too short');
  return sealed.slice(6, 6 + KEY_ID_LENGTH);
}

/** @internal Open an envelope of `kind` stored under `name`; every authentication failure is `ARCHIVE_AUTH_FAILED`. */
export function openEnvelope(
  kind: number,
  sealed: Uint8Array,
  name: string,
  o: { readonly keyLookup: (keyId: Uint8Array) => Uint8Array | undefined; readonly accountId: string },
): { body: Uint8Array; keyId: Uint8Array } {
  abytes(sealed, 'sealed');
  if (sealed.length < ENVELOPE_HEADER_LENGTH + TAG_LENGTH) throw malformed('envelope too short');
  if (sealed.length > MAX_ENVELOPE_SIZE) throw malformed('envelope over the size limit', MAX_ENVELOPE_SIZE);
  if (envelopeKind(sealed) === undefined) throw new BackupError('ARCHIVE_NOT_RECOGNIZED', 'not an e2ee-backup object (bad magic)');
  if (sealed[4] !== MANIFEST_VERSION) throw new BackupError('ARCHIVE_UNSUPPORTED_VERSION', `unsupported envelope version ${sealed[4]}`);
  if (sealed[5] !== kind) throw malformed('unexpected object kind');
  const header = sealed.subarray(0, ENVELOPE_HEADER_LENGTH);
  const keyId = sealed.slice(6, 6 + KEY_ID_LENGTH);
  const bk = o.keyLookup(keyId);
  if (bk === undefined) throw new BackupError('ARCHIVE_KEY_UNKNOWN', 'the object was sealed under a key that is not in the keyring');
  const mk = deriveManifestKey(bk);
  try {
    const aad = concatBytes(header, lp16(o.accountId, 'accountId'), lp16(name, 'name'));
    return { body: xchacha20poly1305(mk, sealed.subarray(6 + KEY_ID_LENGTH, ENVELOPE_HEADER_LENGTH), aad).decrypt(sealed.subarray(ENVELOPE_HEADER_LENGTH)), keyId };
  } catch {
    throw archiveAuthFailed();
  } finally {
    wipe(mk);
  }
}

// ---------------------------------------------------------------------------------------------
// Packs.

/** A parsed pack header. */
export interface PackHeader {
  readonly keyId: Uint8Array;
  readonly salt: Uint8Array;
  readonly createdAt: number;
  readonly count: number;
  readonly dirOffset: number;
  readonly dirLength: number;
}

/** Encode the 80-byte pack header. */
export function encodePackHeader(h: PackHeader): Uint8Array {
  const out = new Uint8Array(PACK_HEADER_LENGTH);
  out.set(PACK_MAGIC, 0);
  out[8] = PACK_VERSION;
  out[9] = PACK_SUITE;
  // flags (u16) = 0 at 10..12
  out.set(abytes(h.keyId, 'keyId', KEY_ID_LENGTH), 12);
  out.set(abytes(h.salt, 'salt', 32), 28);
  writeU64BE(out, 60, h.createdAt);
  writeU32BE(out, 68, h.count);
  writeU32BE(out, 72, h.dirOffset);
  writeU32BE(out, 76, h.dirLength);
  return out;
}

/** Parse and bound-check a pack header (not authenticated yet: the directory's AAD is its hash). */
export function parsePackHeader(b: Uint8Array, packSize?: number): PackHeader {
  if (b.length < PACK_HEADER_LENGTH) throw archiveAuthFailed();
  for (let i = 0; i < 8; i++) if (b[i] !== PACK_MAGIC[i]) throw new BackupError('ARCHIVE_NOT_RECOGNIZED', 'not an e2ee-backup pack (bad magic)');
  if (b[8] !== PACK_VERSION) throw new BackupError('ARCHIVE_UNSUPPORTED_VERSION', `unsupported pack version ${b[8]}`);
  if (b[9] !== PACK_SUITE) throw new BackupError('ARCHIVE_UNSUPPORTED_SUITE', `unsupported pack suite ${b[9]}`);
  if (readU16BE(b, 10) !== 0) throw new BackupError('ARCHIVE_LIMIT_EXCEEDED', 'unknown pack flags', { limit: 0 });
  const count = readU32BE(b, 68);
  const dirOffset = readU32BE(b, 72);
  const dirLength = readU32BE(b, 76);
  if (count > MAX_PACK_CHUNKS) throw new BackupError('ARCHIVE_LIMIT_EXCEEDED', 'too many chunks in a pack', { limit: MAX_PACK_CHUNKS });
  if (dirLength !== count * DIR_ENTRY_LENGTH + TAG_LENGTH) throw archiveAuthFailed();
  const max = packSize ?? MAX_PACK_SIZE;
  if (dirOffset < PACK_HEADER_LENGTH || dirOffset + dirLength > max) throw archiveAuthFailed();
  let createdAt: number;
  try {
    createdAt = readU64BE(b, 60);
  } catch {
    throw archiveAuthFailed();
  }
  return { keyId: b.slice(12, 28), salt: b.slice(28, 60), createdAt, count, dirOffset, dirLength };
}

/** One chunk's place in a pack. */
export interface PackEntry {
  /** Chunk id (HMAC). */
  readonly id: Uint8Array;
  /** Offset of the sealed chunk in the pack object. */
  readonly offset: number;
  /** Sealed length (plaintext + 16). */
  readonly length: number;
}

/** Directory plaintext: count × (id ‖ offset ‖ length). */
export function encodeDirectory(entries: readonly PackEntry[]): Uint8Array {
  const out = new Uint8Array(entries.length * DIR_ENTRY_LENGTH);
  entries.forEach((e, i) => {
    out.set(e.id, i * DIR_ENTRY_LENGTH);
    writeU32BE(out, i * DIR_ENTRY_LENGTH + 32, e.offset);
    writeU32BE(out, i * DIR_ENTRY_LENGTH + 36, e.length);
  });
  return out;
}

/** Parse a directory; entries must tile the pack from the header to the directory in order. */
export function decodeDirectory(b: Uint8Array, header: PackHeader): PackEntry[] {
  if (b.length !== header.count * DIR_ENTRY_LENGTH) throw archiveAuthFailed();
  const out: PackEntry[] = [];
  let expect = PACK_HEADER_LENGTH;
  for (let i = 0; i < header.count; i++) {
    const o = i * DIR_ENTRY_LENGTH;
    const offset = readU32BE(b, o + 32);
    const length = readU32BE(b, o + 36);
    if (offset !== expect || length < TAG_LENGTH || length > MAX_CHUNK + TAG_LENGTH) throw malformed('pack directory does not tile the pack');
    expect += length;
    out.push({ id: b.slice(o, o + 32), offset, length });
  }
  if (expect !== header.dirOffset) throw malformed('pack directory does not end at the directory');
  return out;
}

/** Associated data of a pack's directory: SHA-256 of its header. */
export function directoryAad(header: Uint8Array): Uint8Array {
  return sha256(header);
}

// ---------------------------------------------------------------------------------------------
// Index segments: which chunks live in which pack.

/** One pack as an index segment lists it. */
export interface IndexedPack {
  readonly packId: Uint8Array;
  readonly keyId: Uint8Array;
  readonly salt: Uint8Array;
  readonly createdAt: number;
  /** Size of the pack object (padding included). */
  readonly size: number;
  /** Its chunks, in pack order (entry j was sealed with nonce counter j). */
  readonly entries: readonly PackEntry[];
}


/** Encode an index segment body. */
export function encodeIndex(packs: readonly IndexedPack[]): Uint8Array {
  let size = 1 + 4;
  for (const p of packs) size += PACK_RECORD_FIXED + p.entries.length * DIR_ENTRY_LENGTH;
  const out = new Uint8Array(size);
  out[0] = 1;
  writeU32BE(out, 1, packs.length);
  let o = 5;
  for (const p of packs) {
    out.set(p.packId, o);
    out.set(p.keyId, o + 16);
    out.set(p.salt, o + 32);
    writeU64BE(out, o + 64, p.createdAt);
    writeU32BE(out, o + 72, p.size);
    writeU32BE(out, o + 76, p.entries.length);
    o += PACK_RECORD_FIXED;
    out.set(encodeDirectory(p.entries), o);
    o += p.entries.length * DIR_ENTRY_LENGTH;
  }
  return out;
}

/** Decode an index segment body, capping every count. */
export function decodeIndex(b: Uint8Array): IndexedPack[] {
  if (b.length < 5 || b[0] !== 1) throw malformed('index segment version');
  const n = readU32BE(b, 1);
  if (n > MAX_INDEX_PACKS) throw malformed('too many packs in an index segment', MAX_INDEX_PACKS);
  const out: IndexedPack[] = [];
  let o = 5;
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (o + PACK_RECORD_FIXED > b.length) throw malformed('index segment truncated');
    const count = readU32BE(b, o + 76);
    const size = readU32BE(b, o + 72);
    if (count > MAX_PACK_CHUNKS) throw malformed('too many chunks in a pack', MAX_PACK_CHUNKS);
    if (size > MAX_PACK_SIZE) throw malformed('pack over the size limit', MAX_PACK_SIZE);
    total += count;
    if (total > MAX_INDEX_ENTRIES) throw malformed('too many index entries', MAX_INDEX_ENTRIES);
    let createdAt: number;
    try {
      createdAt = readU64BE(b, o + 64);
    } catch {
      throw malformed('time above 2^53 - 1');
    }
    const rec = { packId: b.slice(o, o + 16), keyId: b.slice(o + 16, o + 32), salt: b.slice(o + 32, o + 64), createdAt, size };
    o += PACK_RECORD_FIXED;
    if (o + count * DIR_ENTRY_LENGTH > b.length) throw malformed('index segment truncated');
    const entries: PackEntry[] = [];
    let expect = PACK_HEADER_LENGTH;
    for (let j = 0; j < count; j++) {
      const e = o + j * DIR_ENTRY_LENGTH;
      const offset = readU32BE(b, e + 32);
      const length = readU32BE(b, e + 36);
      if (offset !== expect || length < TAG_LENGTH || length > MAX_CHUNK + TAG_LENGTH || offset + length > size) {
        throw malformed('index entries do not tile their pack');
      }
      expect += length;
      entries.push({ id: b.slice(e, e + 32), offset, length });
    }
    o += count * DIR_ENTRY_LENGTH;
    out.push({ ...rec, entries });
  }
  if (o !== b.length) throw malformed('index segment has trailing bytes');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Snapshots: the ordered chunk list of one backup.

/** The decrypted description of one incremental backup. */
export interface Snapshot {
  /** Random 16-byte id (the name `manifests/<hex>` and the latest pointer use it). */
  readonly backupId: Uint8Array;
  /** When it was made, ms since the Unix epoch. */
  readonly createdAt: number;
  /** Plaintext size: the sum of the chunk sizes. */
  readonly plaintextSize: number;
  /** The app's metadata. */
  readonly metadata: BackupMetadata;
  /** Chunk ids, in order. */
  readonly ids: readonly Uint8Array[];
  /** Chunk plaintext sizes, in order. */
  readonly sizes: readonly number[];
}


/** Encode a snapshot body. */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  abytes(s.backupId, 'backupId', OBJECT_ID_LENGTH);
  if (s.ids.length !== s.sizes.length) throw new RangeError('ids and sizes differ in length');
  if (s.ids.length > MAX_SNAPSHOT_CHUNKS) throw new RangeError(`a snapshot holds at most ${MAX_SNAPSHOT_CHUNKS} chunks`);
  const meta = utf8(JSON.stringify(s.metadata ?? {}));
  if (meta.length > MAX_SNAPSHOT_METADATA) throw new RangeError(`metadata must encode to at most ${MAX_SNAPSHOT_METADATA} bytes`);
  const out = new Uint8Array(SNAPSHOT_FIXED + meta.length + s.ids.length * SNAPSHOT_ENTRY);
  out[0] = 1;
  out.set(s.backupId, 1);
  writeU64BE(out, 17, s.createdAt);
  writeU64BE(out, 25, s.plaintextSize);
  writeU32BE(out, 33, s.ids.length);
  writeU32BE(out, 37, meta.length);
  out.set(meta, SNAPSHOT_FIXED);
  let o = SNAPSHOT_FIXED + meta.length;
  for (let i = 0; i < s.ids.length; i++) {
    out.set(abytes(s.ids[i], 'id', CHUNK_ID_LENGTH), o);
    writeU32BE(out, o + 32, s.sizes[i]!);
    o += SNAPSHOT_ENTRY;
  }
  return out;
}

/** Decode a snapshot body; counts capped, sizes cross-checked. */
export function decodeSnapshot(b: Uint8Array): Snapshot {
  if (b.length < SNAPSHOT_FIXED || b[0] !== 1) throw malformed('snapshot version');
  let createdAt: number;
  let plaintextSize: number;
  try {
    createdAt = readU64BE(b, 17);
    plaintextSize = readU64BE(b, 25);
  } catch {
    throw malformed('integer above 2^53 - 1');
  }
  const n = readU32BE(b, 33);
  const m = readU32BE(b, 37);
  if (n > MAX_SNAPSHOT_CHUNKS) throw malformed('too many chunks', MAX_SNAPSHOT_CHUNKS);
  if (m > MAX_SNAPSHOT_METADATA) throw malformed('metadata over the limit', MAX_SNAPSHOT_METADATA);
  if (b.length !== SNAPSHOT_FIXED + m + n * SNAPSHOT_ENTRY) throw malformed('snapshot length');
  let metadata: BackupMetadata;
  try {
    const parsed: unknown = JSON.parse(fromUtf8(b.subarray(SNAPSHOT_FIXED, SNAPSHOT_FIXED + m)));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError('not an object');
    metadata = parsed as BackupMetadata;
  } catch (e) {
    throw new BackupError('PROTOCOL', 'malformed incremental backup object: metadata is not a JSON object', { cause: e });
  }
  const ids: Uint8Array[] = [];
  const sizes: number[] = [];
  let o = SNAPSHOT_FIXED + m;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const len = readU32BE(b, o + 32);
    if (len < 1 || len > MAX_CHUNK) throw malformed('chunk size out of range', MAX_CHUNK);
    ids.push(b.slice(o, o + 32));
    sizes.push(len);
    sum += len;
    o += SNAPSHOT_ENTRY;
  }
  if (sum !== plaintextSize) throw malformed('chunk sizes do not add up to the plaintext size');
  return { backupId: b.slice(1, 17), createdAt, plaintextSize, metadata, ids, sizes };
}

// ---------------------------------------------------------------------------------------------
// Trash: packs condemned by a prune, with the time they were condemned (§8).

/** One condemned pack. */
export interface TrashEntry {
  readonly packId: Uint8Array;
  readonly condemnedAt: number;
}

/** Encode the trash body. */
export function encodeTrash(entries: readonly TrashEntry[]): Uint8Array {
  const out = new Uint8Array(5 + entries.length * 24);
  out[0] = 1;
  writeU32BE(out, 1, entries.length);
  entries.forEach((e, i) => {
    out.set(e.packId, 5 + 24 * i);
    writeU64BE(out, 5 + 24 * i + 16, e.condemnedAt);
  });
  return out;
}

/** Decode the trash body. */
export function decodeTrash(b: Uint8Array): TrashEntry[] {
  if (b.length < 5 || b[0] !== 1) throw malformed('trash version');
  const n = readU32BE(b, 1);
  if (n > MAX_TRASH_PACKS) throw malformed('too many packs in the trash', MAX_TRASH_PACKS);
  if (b.length !== 5 + 24 * n) throw malformed('trash length');
  const out: TrashEntry[] = [];
  for (let i = 0; i < n; i++) {
    let condemnedAt: number;
    try {
      condemnedAt = readU64BE(b, 5 + 24 * i + 16);
    } catch {
      throw malformed('time above 2^53 - 1');
    }
    out.push({ packId: b.slice(5 + 24 * i, 5 + 24 * i + 16), condemnedAt });
  }
  return out;
}
