/**
 * One backup run: source → archive encrypt stream → part pipeline → multipart upload → manifest →
 * latest pointer, resumable through the sealed upload session (docs/CLIENT.md §Backup run).
 *
 * The order of durable steps is what makes "nothing lost" hold:
 * 1. the session (with the salt, sealed) is saved before the upload is used;
 * 2. each part's ciphertext hash is saved before the part's first byte is sent;
 * 3. the archive object appears atomically on `completeUpload`; the session then records it;
 * 4. the manifest is written, then the latest pointer, then the session is dropped.
 * A crash between any two steps resumes at the next `backup()`; an earlier backup stays restorable
 * throughout, because the latest pointer moves only after the new manifest exists.
 *
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { BufferPool, readBlobInto, createRecyclingEncryptStream } from '../archive/stream.js';
import { HEADER_OVERHEAD, TAG_LENGTH, ciphertextSize, DEFAULT_CHUNK_SIZE } from '../archive/format.js';
import type { CipherEngine } from '../archive/engine.js';
import { BackupError, isBackupError, throwIfAborted } from '../errors.js';
import { assertLiveKey } from '../recovery/keyring.js';
import type { KeyValueStore } from '../storage/kv.js';
import { isListPartsUnsupported } from '../storage/blob/checks.js';
import type { BlobStore, UploadRef, UploadedPart } from '../storage/blob/types.js';
import { blobStream } from '../util/blob.js';
import { fromHex, isBytes, safeInt, toHex, type RandomSource } from '../util/bytes.js';
import {
  archiveName,
  chunkCountFor,
  manifestName,
  sealManifest,
  type BackupManifest,
  type BackupMetadata,
} from './manifest.js';
import { nextSequence, noteSeen, publishLatest, seenOf } from './latest.js';
import type { LockGuard } from './lock.js';
import { SourceChangedError, blobPartsFor, uploadParts, type PipelineSleep } from './pipeline.js';
import { clearSession, loadSession, saveSession, type SessionSlot, type UploadSessionState } from './session.js';

/**
 * What can be backed up: bytes, a Blob/File, or a stream of bytes. Bytes are read in place, not
 * copied, so they must not change until `backup()` settles: bytes changed meanwhile make a backup
 * that mixes old and new content (as a source that changes under a stream read would).
 */
export type BackupSource = Uint8Array | Blob | ReadableStream<Uint8Array>;

/** Progress of a backup. */
export interface BackupProgress {
  /** `encrypt`: bytes read from the source; `upload`: archive bytes the store confirmed. */
  readonly phase: 'upload';
  /** Archive (ciphertext) bytes confirmed by the store, including parts confirmed before a resume. */
  readonly bytes: number;
  /** Total archive bytes, when the source size is known. */
  readonly total?: number;
  /** Incremental backups (docs/INCREMENTAL.md): `bytes` and `total` count plaintext; new chunk bytes so far. */
  readonly newBytes?: number;
  /** Incremental backups: plaintext bytes skipped because the store already held their chunks. */
  readonly skippedBytes?: number;
}

/** @internal Everything a run needs; the facade fills it in. */
export interface BackupRun {
  readonly accountId: string;
  readonly blobs: BlobStore;
  readonly kv: KeyValueStore;
  /** Prefix of every blob key of this account (ends with `/` or is empty). */
  readonly keyPrefix: string;
  /** The current backup-key generation. */
  readonly key: { readonly keyId: Uint8Array; readonly key: Uint8Array };
  /** Any generation by keyId (a session may belong to an older one); returns a copy. */
  readonly keyLookup: (keyId: Uint8Array) => Uint8Array | undefined;
  readonly source: BackupSource;
  readonly metadata?: BackupMetadata;
  /** Caller's version of the source; see docs/CLIENT.md §Source changes. */
  readonly version?: string;
  readonly chunkSize?: number;
  readonly partSize?: number;
  readonly concurrency?: number;
  /** Extra attempts per part, and for starting the upload, on a transient failure (default 4). */
  readonly partRetries?: number;
  readonly engine?: CipherEngine;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: BackupProgress) => void;
  readonly now: () => number;
  readonly random: RandomSource;
  readonly sleep: PipelineSleep;
  /**
   * Proves the backup lock is still held; awaited before every step that storage sees under the
   * session's salt or that moves the backup forward (each part attempt, completing the upload,
   * the manifest, the latest pointer, dropping an old upload). Default: nothing to check.
   */
  readonly guard?: LockGuard;
  /** Deadline of each read of the latest pointer (restore.ts `boundedRead`). */
  readonly readTimeoutMs?: number;
}

/** @internal Outcome of a run. */
export interface BackupRunResult {
  readonly manifest: BackupManifest;
  /** The backup's latest-pointer sequence. */
  readonly sequence: number;
  /** Whether the latest pointer now names it (false: another device's newer backup is latest). */
  readonly latest: boolean;
  /** True when the run continued an upload a previous run had started. */
  readonly resumed: boolean;
}

const SAMPLE = 64 * 1024;
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

function sourceSize(s: BackupSource): number | undefined {
  if (isBytes(s)) return s.length;
  if (isBlob(s)) return s.size;
  return undefined;
}

function isBlob(s: unknown): s is Blob {
  return typeof s === 'object' && s !== null && typeof (s as Blob).slice === 'function' && typeof (s as Blob).size === 'number' && typeof (s as Blob).arrayBuffer === 'function';
}

/**
 * A fresh stream over the source each call for bytes and Blobs; the one stream only once. Given
 * the encrypt stream's buffer pool, a Blob is read straight into its buffers (readBlobInto).
 */
function sourceOpener(s: BackupSource): (pool?: BufferPool) => ReadableStream<Uint8Array> {
  if (isBytes(s)) {
    return () => {
      let off = 0;
      const step = 1 << 20;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (off >= s.length) {
            c.close();
            return;
          }
          // Views, not copies: the encrypt stream seals whole chunks in place and never writes to
          // its input, so the caller's bytes are read once, where they are (see BackupSource).
          c.enqueue(s.subarray(off, Math.min(s.length, off + step)));
          off += step;
        },
      }, { highWaterMark: 0 });
    };
  }
  if (isBlob(s)) return (pool) => (pool === undefined ? undefined : readBlobInto(s, pool)) ?? blobStream(s);
  let used = false;
  return () => {
    if (used) throw new BackupError('INVALID_ARGUMENT', 'a ReadableStream source can be read only once');
    used = true;
    return s;
  };
}

/**
 * The source fingerprint that decides whether to try resuming (docs/CLIENT.md §Source changes):
 * size, the caller's version, and SHA-256 of the first and last 64 KiB. It only gates the attempt;
 * the exact check is the per-part ciphertext hash.
 */
async function fingerprint(s: BackupSource, version: string | undefined, random: RandomSource): Promise<string> {
  const v = version === undefined ? '' : encodeURIComponent(version);
  if (isBytes(s) || isBlob(s)) {
    const size = sourceSize(s)!;
    const head = isBytes(s) ? s.subarray(0, SAMPLE) : new Uint8Array(await s.slice(0, SAMPLE).arrayBuffer());
    const tailStart = Math.max(0, size - SAMPLE);
    const tail = isBytes(s) ? s.subarray(tailStart) : new Uint8Array(await s.slice(tailStart).arrayBuffer());
    const buf = new Uint8Array(head.length + tail.length);
    buf.set(head);
    buf.set(tail, head.length);
    // noble, not crypto.subtle: an insecure context (plain http off localhost) has no subtle.
    const digest = sha256(buf);
    return `v1;size=${size};version=${v};sample=${toHex(digest)}`;
  }
  // A stream cannot be sampled without consuming it: resumable only with a caller version.
  if (version === undefined) return `v1;stream;nonce=${toHex(random(16))}`;
  return `v1;stream;version=${v}`;
}

function assertPositiveInt(n: number | undefined, name: string): void {
  if (n !== undefined) safeInt(n, name, 1);
}

/** Parts a small archive is cut into when the app set no part size, so that progress moves (issue 19). */
const SMALL_ARCHIVE_PARTS = 8;

/**
 * The part size to plan with: the app's, or by default 8 MiB, lowered for a small archive of
 * known size to about 1/8 of it (never below the store's minimum), so a backup of a few MB is
 * several parts and its progress moves instead of jumping from 0 to 100 %.
 */
function targetPartSize(partSize: number | undefined, ctSize: number | undefined): number {
  if (partSize !== undefined) return partSize;
  if (ctSize === undefined) return DEFAULT_PART_SIZE;
  return Math.min(DEFAULT_PART_SIZE, Math.ceil(ctSize / SMALL_ARCHIVE_PARTS));
}

type PartLimits = Pick<BlobStore['limits'], 'minPartSize' | 'maxPartSize' | 'maxParts'> & { readonly maxObjectSize: number };

/** Plan parts: whole chunks per part, every part but the last at least the store's minimum. */
function planChunksPerPart(limits: PartLimits, chunkSize: number, partSize: number, ctSize: number | undefined): number {
  const stride = chunkSize + TAG_LENGTH;
  const { minPartSize, maxPartSize, maxParts, maxObjectSize } = limits;
  let k = Math.max(1, Math.ceil(Math.max(partSize, minPartSize) / stride));
  if (ctSize !== undefined) {
    if (ctSize > maxObjectSize) {
      throw new BackupError('QUOTA_EXCEEDED', 'the backup is larger than the blob store accepts', { limit: maxObjectSize });
    }
    const body = ctSize - HEADER_OVERHEAD;
    while (Math.ceil(body / (k * stride)) > maxParts) k *= 2;
  }
  if (HEADER_OVERHEAD + k * stride > maxPartSize) {
    throw new BackupError(
      'INVALID_ARGUMENT',
      `a ${HEADER_OVERHEAD + k * stride}-byte part (partSize ${partSize}, chunkSize ${chunkSize}) is over the store's maxPartSize ${maxPartSize}: lower options.partSize or options.chunkSize`,
      { option: 'partSize', limit: maxPartSize },
    );
  }
  return k;
}

/**
 * The client's part plan against the limits the server announced for this upload (when it does):
 * a server minimum above the adapter's (a client configured with `limits.minPartSize` lower than
 * its server accepts) raises the plan, so the server and the client agree before the first part;
 * parts the server cannot take at all fail here, naming the limit, its value and the side.
 */
function agreeWithServer(o: BackupRun, ref: UploadRef, chunkSize: number, partSize: number, ctSize: number | undefined, planned: number): number {
  const server = ref.serverLimits;
  if (server === undefined) return planned;
  const client = o.blobs.limits;
  const stride = chunkSize + TAG_LENGTH;
  const merged: PartLimits = {
    minPartSize: Math.max(client.minPartSize, server.minPartSize),
    maxPartSize: Math.min(client.maxPartSize, server.maxPartSize),
    maxParts: Math.min(client.maxParts, server.maxParts),
    maxObjectSize: client.maxObjectSize,
  };
  if (merged.minPartSize > merged.maxPartSize) {
    throw new BackupError(
      'INVALID_ARGUMENT',
      `the blob server's minPartSize ${server.minPartSize} is over the client store's limits.maxPartSize ${client.maxPartSize}`,
      { option: 'limits.maxPartSize', limit: server.minPartSize },
    );
  }
  const k = planChunksPerPart(merged, chunkSize, Math.max(partSize, planned * stride), ctSize);
  return Math.max(k, planned);
}

/** A refusal at completion, told with the part sizes the client sent and the limit it used. */
function explainCompletionFailure(e: unknown, o: BackupRun, partBytes: number): unknown {
  if (!isBackupError(e, 'INVALID_ARGUMENT') || e.details.status === undefined) return e;
  const { minPartSize } = o.blobs.limits;
  return new BackupError(
    'INVALID_ARGUMENT',
    `${e.message}: the blob server refused the parts of ${partBytes} bytes at completion, planned with the store's limits.minPartSize ${minPartSize} (client); the server's minimum part size is larger (S3: 5 MiB but the last). Set the adapter's limits.minPartSize to it, or leave it unset.`,
    { option: 'limits.minPartSize', limit: minPartSize, status: e.details.status, cause: e },
  );
}

const counter = (onBytes: (n: number) => void) =>
  new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, c) {
      onBytes(chunk.length);
      c.enqueue(chunk);
    },
  });

/** @internal Run one backup (see the module comment). */
export async function runBackup(o: BackupRun): Promise<BackupRunResult> {
  assertPositiveInt(o.chunkSize, 'chunkSize');
  assertPositiveInt(o.partSize, 'partSize');
  const open = sourceOpener(o.source);
  const size = sourceSize(o.source);
  const fp = await fingerprint(o.source, o.version, o.random);
  let resumed = false;
  const guard: LockGuard = o.guard ?? (async () => throwIfAborted(o.signal));
  // The session record's revision as this run last saw it: every save and delete is a
  // compare-and-swap on it (session.ts), so a stalled tab never overwrites what another recorded.
  const slot: SessionSlot = { rev: null };

  for (let attempt = 0; ; attempt++) {
    throwIfAborted(o.signal);
    const prior = await loadSession(o.kv, o.accountId, o.keyLookup, slot);
    let session: UploadSessionState | undefined;
    let sessionKeyId = o.key.keyId;
    let confirmed = new Map<number, UploadedPart>();
    // The session to drop once a new upload exists (a ListParts refused with UNAUTHORIZED, below).
    let dropAfterCreate: UploadSessionState | undefined;

    if (prior !== undefined && prior.state.completed !== undefined) {
      // The archive exists but its manifest was never written: finish that backup first.
      const m = await finish(o, guard, slot, prior.state, prior.keyId, prior.state.completed, sessionMetadata(prior.state));
      if (prior.state.fingerprint === fp) return { ...m, resumed: true };
      continue;
    }
    if (prior !== undefined && prior.state.fingerprint === fp) {
      const upload: UploadRef = { key: prior.state.uploadKey, uploadId: prior.state.uploadId };
      try {
        const listed = await o.blobs.listParts(upload, { signal: o.signal });
        // Every part the store holds must be one this session recorded before sending it. A part
        // the record does not vouch for means the record is older than the upload (a record put
        // back, or a write a crash lost): what was sent under this salt is then unknown, so the
        // salt is never used again (a fresh upload follows). See docs/CLIENT.md §The invariant.
        if (listed.every((p) => prior.state.started[String(p.partNumber)] !== undefined)) {
          confirmed = new Map(listed.map((p) => [p.partNumber, p]));
          session = prior.state;
          sessionKeyId = prior.keyId;
          resumed = true;
        }
      } catch (e) {
        // The upload expired or was aborted on the store, or the store cannot list an upload's
        // parts at all (405/501: s3rver, some S3-compatible stores), so what it holds under the
        // old salt cannot be proven: start over (fresh salt, always safe). Other failures
        // (offline, a timeout) leave the session for the next run.
        // A 401/403 to ListParts alone (a bucket policy or a presigning backend that does not allow
        // it) would fail every later run of this source the same way, so it starts over too; but
        // it can also be credentials that expired, when nothing would work now: the old session is
        // dropped only after a new upload was created (below), and kept if that fails as well.
        if (isBackupError(e, 'UNAUTHORIZED')) dropAfterCreate = prior.state;
        else if (!isBackupError(e, 'NOT_FOUND') && !isListPartsUnsupported(e)) throw e;
      }
    }
    if (session === undefined && prior !== undefined && dropAfterCreate === undefined) {
      // The source changed, the upload is gone, or the record does not vouch for every part:
      // drop the old upload; a new salt follows.
      await guard();
      await o.blobs.abortUpload({ key: prior.state.uploadKey, uploadId: prior.state.uploadId }, { signal: o.signal }).catch(() => undefined);
      await clearSession(o.kv, o.accountId, slot);
    }

    if (session === undefined) {
      const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
      const ctSize = size === undefined ? undefined : ciphertextSize(size, chunkSize);
      const partSize = targetPartSize(o.partSize, ctSize);
      const planned = planChunksPerPart(o.blobs.limits, chunkSize, partSize, ctSize);
      const backupId = o.random(16);
      const salt = o.random(32);
      const uploadKey = o.keyPrefix + archiveName(backupId);
      await guard();
      const ref = await createUploadWithRetries(o, uploadKey, ctSize);
      let chunksPerPart: number;
      try {
        chunksPerPart = agreeWithServer(o, ref, chunkSize, partSize, ctSize, planned);
      } catch (e) {
        await o.blobs.abortUpload(ref, { signal: o.signal }).catch(() => undefined);
        throw e;
      }
      if (dropAfterCreate !== undefined) {
        await guard();
        await o.blobs.abortUpload({ key: dropAfterCreate.uploadKey, uploadId: dropAfterCreate.uploadId }, { signal: o.signal }).catch(() => undefined);
        await clearSession(o.kv, o.accountId, slot);
      }
      session = {
        backupId: toHex(backupId),
        salt: toHex(salt),
        uploadKey,
        uploadId: ref.uploadId,
        chunkSize,
        chunksPerPart,
        fingerprint: fp,
        createdAt: o.now(),
        started: {},
        metadata: JSON.stringify(o.metadata ?? {}),
        seq: await startSequence(o),
      };
      sessionKeyId = o.key.keyId;
      await saveSession(o.kv, o.accountId, { key: o.key.key, keyId: sessionKeyId }, session, o.random, slot);
      resumed = false;
    }

    const bk = o.keyLookup(sessionKeyId);
    if (bk === undefined) throw new BackupError('ARCHIVE_KEY_UNKNOWN', 'the upload session is under a key generation not in the keyring');
    const keyRef = { key: bk, keyId: sessionKeyId };
    const stride = session.chunkSize + TAG_LENGTH;
    const plan = {
      firstPartSize: HEADER_OVERHEAD + session.chunksPerPart * stride,
      partSize: session.chunksPerPart * stride,
      headerLength: HEADER_OVERHEAD,
      sealedChunkSize: stride,
    };
    const upload: UploadRef = { key: session.uploadKey, uploadId: session.uploadId };
    let plaintextSize = 0;
    const ctTotal = size === undefined ? undefined : ciphertextSize(size, session.chunkSize);
    // Persist part hashes one at a time (each save re-seals the whole state).
    let state = session;
    let saving: Promise<void> = Promise.resolve();
    const onPartStart = (partNumber: number, hash: string): Promise<void> => {
      saving = saving.then(async () => {
        state = { ...state, started: { ...state.started, [String(partNumber)]: hash } };
        await saveSession(o.kv, o.accountId, keyRef, state, o.random, slot);
      });
      return saving;
    };
    try {
      // Where the key enters encryption: a wiped key is refused, never used (issue 14).
      assertLiveKey(bk, 'backup key');
      const salt = fromHex(session.salt);
      // Where the store takes parts as Blobs (browsers), each part's body is built as its chunks
      // come, and the worker pool's sealed chunks are taken as it lent them (no copy out of it).
      const blobParts = blobPartsFor(o.blobs, o.engine);
      // And a Blob source is read straight into the encrypt stream's plaintext chunk buffers.
      const input = new BufferPool(session.chunkSize);
      const ciphertext = open(input)
        .pipeThrough(counter((n) => (plaintextSize += n)))
        .pipeThrough(
          // Recycling: uploadParts is done with each chunk (in its part) before it reads the next one.
          createRecyclingEncryptStream(
            bk,
            sessionKeyId,
            {
              chunkSize: session.chunkSize,
              // The salt is the only randomness the encoder draws: reusing it reproduces the bytes.
              random: (n: number) => (n === salt.length ? salt.slice() : o.random(n)),
              ...(o.engine === undefined ? {} : { engine: o.engine }),
              ...(o.signal === undefined ? {} : { signal: o.signal }),
            },
            blobParts?.lender !== undefined,
            input,
          ),
        );
      const result = await uploadParts({
        store: o.blobs,
        upload,
        ciphertext,
        plan,
        confirmed,
        started: session.started,
        onPartStart,
        ...(blobParts && { blobParts }),
        beforeSend: guard,
        sleep: o.sleep,
        random: () => o.random(1)[0]! / 256,
        ...(o.concurrency === undefined ? {} : { concurrency: o.concurrency }),
        ...(o.partRetries === undefined ? {} : { retries: o.partRetries }),
        ...(o.signal === undefined ? {} : { signal: o.signal }),
        onProgress: (bytes) => o.onProgress?.({ phase: 'upload', bytes, ...(ctTotal === undefined ? {} : { total: ctTotal }) }),
      });
      if (result.size !== ciphertextSize(plaintextSize, session.chunkSize)) {
        throw new BackupError('PROTOCOL', 'archive size does not match the plaintext size');
      }
      await guard();
      await complete(o, upload, result.parts, result.size).catch((e: unknown) => {
        throw explainCompletionFailure(e, o, plan.partSize);
      });
      const completed = { archiveSize: result.size, plaintextSize };
      state = { ...state, completed };
      await saveSession(o.kv, o.accountId, keyRef, state, o.random, slot);
      return { ...(await finish(o, guard, slot, state, sessionKeyId, completed, o.metadata ?? {})), resumed };
    } catch (e) {
      if (e instanceof SourceChangedError) {
        await guard();
        await o.blobs.abortUpload(upload, { signal: o.signal }).catch(() => undefined);
        await clearSession(o.kv, o.accountId, slot);
        // A Blob or bytes can be read again: start over with a fresh salt. A stream cannot.
        if (size !== undefined && attempt < 2) continue;
        throw new BackupError(
          'INVALID_ARGUMENT',
          'the source changed since the interrupted upload, its version did not; upload discarded, call backup() again',
          { cause: e },
        );
      }
      throw e;
    } finally {
      bk.fill(0);
    }
  }
}

/**
 * The sequence a backup takes when it starts: one more than the highest this device has seen or
 * storage's latest pointer shows (a pointer that does not open counts as none).
 */
async function startSequence(o: BackupRun): Promise<number> {
  return nextSequence(
    {
      accountId: o.accountId,
      blobs: o.blobs,
      keyPrefix: o.keyPrefix,
      keyLookup: o.keyLookup,
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      ...(o.readTimeoutMs === undefined ? {} : { readTimeoutMs: o.readTimeoutMs }),
    },
    o.kv,
  );
}

/** Codes on which starting the upload is tried again: transient, the store's answer unknown or "not now". */
const CREATE_RETRYABLE = new Set(['OFFLINE', 'TIMEOUT', 'BLOB_STORE_FAILED']);

/**
 * Start the multipart upload, retrying transient failures (full jitter, like the part uploads).
 *
 * `createUpload` is not idempotent (each call makes a new upload id), so the transport does not
 * retry it. Retrying here is still safe because the key is ours alone: a fresh random backup id
 * that nothing else writes and no manifest names yet. If an attempt's answer was lost after the
 * store acted on it, that attempt leaves an empty upload under this key that is never completed
 * (no part is ever sent to it: we only use the id we received). It costs nothing but an entry
 * until the store expires incomplete uploads (S3: an `AbortIncompleteMultipartUpload` lifecycle
 * rule, docs/STORAGE.md); it can neither become the archive nor change the one we complete.
 */
async function createUploadWithRetries(o: BackupRun, key: string, contentLength: number | undefined): Promise<UploadRef> {
  const retries = o.partRetries ?? 4;
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(o.signal);
    try {
      return await o.blobs.createUpload(key, { signal: o.signal, ...(contentLength === undefined ? {} : { contentLength }) });
    } catch (e) {
      if (o.signal?.aborted || !isBackupError(e) || !CREATE_RETRYABLE.has(e.code) || attempt >= retries) throw e;
      const cap = Math.min(8000, 200 * 2 ** attempt);
      await o.sleep(Math.floor((o.random(1)[0]! / 256) * cap), o.signal);
    }
  }
}

function sessionMetadata(s: UploadSessionState): BackupMetadata {
  try {
    const m: unknown = JSON.parse(s.metadata ?? '{}');
    return typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as BackupMetadata) : {};
  } catch {
    return {};
  }
}

async function complete(o: BackupRun, upload: UploadRef, parts: Parameters<BlobStore['completeUpload']>[1], size: number): Promise<void> {
  try {
    await o.blobs.completeUpload(upload, parts, { signal: o.signal });
  } catch (e) {
    // completeUpload is not idempotent on the wire: if an earlier attempt succeeded but its answer
    // was lost, the upload is gone and the object exists. Only then is the failure a success.
    if (isBackupError(e, 'ABORTED')) throw e;
    const info = await o.blobs.head(upload.key, { signal: o.signal }).catch(() => undefined);
    if (info === undefined || info.size !== size) throw e;
  }
}

async function finish(
  o: BackupRun,
  guard: LockGuard,
  slot: SessionSlot,
  s: UploadSessionState,
  keyId: Uint8Array,
  completed: { readonly archiveSize: number; readonly plaintextSize: number },
  metadata: BackupMetadata,
): Promise<{ readonly manifest: BackupManifest; readonly sequence: number; readonly latest: boolean }> {
  const bk = o.keyLookup(keyId);
  if (bk === undefined) throw new BackupError('ARCHIVE_KEY_UNKNOWN', 'the upload session is under a key generation not in the keyring');
  try {
    const manifest: BackupManifest = {
      backupId: fromHex(s.backupId),
      createdAt: s.createdAt,
      keyId: Uint8Array.from(keyId),
      archiveSalt: fromHex(s.salt),
      archiveSize: completed.archiveSize,
      plaintextSize: completed.plaintextSize,
      chunkSize: s.chunkSize,
      chunkCount: chunkCountFor(completed.plaintextSize, s.chunkSize),
      metadata,
    };
    const sealOpts = { key: bk, keyId, accountId: o.accountId, random: o.random };
    await guard();
    await o.blobs.put(o.keyPrefix + manifestName(manifest.backupId), sealManifest(manifest, sealOpts), { signal: o.signal });
    // The pointer moves only forward (latest.ts): a backup another device started later stays latest.
    const sequence = s.seq ?? (await startSequence(o));
    const mine = { backupId: manifest.backupId, createdAt: manifest.createdAt, seq: sequence };
    const latest = await publishLatest(
      {
        accountId: o.accountId,
        blobs: o.blobs,
        keyPrefix: o.keyPrefix,
        keyLookup: o.keyLookup,
        key: bk,
        keyId,
        random: o.random,
        guard,
        ...(o.signal === undefined ? {} : { signal: o.signal }),
        ...(o.readTimeoutMs === undefined ? {} : { readTimeoutMs: o.readTimeoutMs }),
      },
      mine,
    );
    await noteSeen(o.kv, o.accountId, seenOf(mine));
    await clearSession(o.kv, o.accountId, slot);
    return { manifest, sequence, latest };
  } finally {
    bk.fill(0);
  }
}
