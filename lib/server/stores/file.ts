/**
 * A file-backed {@link VaultStore} that any number of processes may share (several vault processes
 * on one host, or containers on one volume, each in its own PID namespace), with no lock at all.
 *
 * Each key has a directory (`<dir>/<SHA-256(key) hex>/`) holding numbered versions `1.v`, `2.v`,
 * … A compare-and-swap from version `n` writes the new value to a private temporary file,
 * `fsync`s it, and publishes it with `link(tmp, "<n+1>.v")`: POSIX link(2) fails with `EEXIST`
 * when the name exists, atomically, on local file systems and on NFS. So of all the processes
 * that read version `n`, exactly one creates `n+1`; the others get `false`. The decision is one
 * system call that the kernel (or the NFS server) serializes, and there is nothing to own, expire,
 * break or clean up after a crash. (The earlier store locked with a pid file; a pid means nothing
 * across PID namespaces and is reused after a restart: issue 13, finding 3.)
 *
 * **Names are never removed**, because a process that read version `n` long ago (paused, swapped
 * out) may still try to create `n+1`: that name must still exist so that its link fails. What a
 * version held is erased instead: once `n+1` is durable, `n.v` (and any older version a crashed
 * writer left unerased) is atomically replaced by a hard link to one shared empty file, so an
 * overwritten or deleted value does not stay in the store beyond the write that replaced it. The
 * file system may still hold the freed blocks (docs/OPERATIONS.md §Erasure). Versions are
 * therefore contiguous, and a reader finds the newest by probing upward from a hint file
 * (`latest`, a lower bound any writer may lag). A delete writes a small tombstone version, so a
 * re-created key never reuses a version (no ABA); versions also carry a random token, so a key
 * directory removed by hand and re-created does not reuse one either.
 *
 * Node built-ins only: import it from `e2ee-backup/server`. Several hosts need a consensus store
 * instead (etcd: stores/etcd.ts).
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { abytes, concatBytes, equalBytes, readU32BE, toHex, utf8, writeU32BE } from '../../util/bytes.js';
import type { VaultStore, Versioned } from '../vault-store.js';

/** Options of {@link createFileVaultStore}. */
export interface FileVaultStoreOptions {
  /** Directory holding the store (created if missing); share it between processes freely. */
  readonly dir: string;
}

const MAGIC = utf8('E2FS');
/** Version 2: one directory per key, numbered versions published by link(2). */
const FORMAT_VERSION = 2;
const TOKEN_BYTES = 16;
const MAX_VALUE_BYTES = 1 << 20;
const MAX_KEY_BYTES = 1024;
/** A temporary file this old is a crashed writer's: removed by a later write to its key. */
const STALE_TMP_MS = 10 * 60_000;
/** Re-reads when a version is erased between the probe and the read (a newer one replaced it). */
const MAX_READ_ATTEMPTS = 64;

const KIND_TOMBSTONE = 0;
const KIND_VALUE = 1;

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}

function encodeFile(key: Uint8Array, token: Uint8Array, value: Uint8Array | null): Uint8Array {
  const lens = new Uint8Array(8);
  writeU32BE(lens, 0, key.length);
  writeU32BE(lens, 4, value?.length ?? 0);
  const body = concatBytes(
    MAGIC,
    Uint8Array.of(FORMAT_VERSION, value === null ? KIND_TOMBSTONE : KIND_VALUE),
    token,
    lens.subarray(0, 4),
    key,
    lens.subarray(4),
    value ?? new Uint8Array(0),
  );
  return concatBytes(body, sha256(body));
}

interface Stored {
  /** The version number (the file name). */
  readonly n: number;
  /** `${n}-${token hex}`: what callers see as the version. */
  readonly version: string;
  /** `null` for a tombstone (the key is absent). */
  readonly value: Uint8Array | null;
}

function decodeFile(b: Uint8Array, key: Uint8Array, n: number): Stored {
  const bad = (): Error => new Error('file vault store: a stored value is corrupt');
  const head = MAGIC.length + 2 + TOKEN_BYTES;
  if (b.length < head + 8 + 32) throw bad();
  const body = b.subarray(0, b.length - 32);
  if (!equalBytes(sha256(body), b.subarray(b.length - 32))) throw bad();
  if (!equalBytes(b.subarray(0, 4), MAGIC) || b[4] !== FORMAT_VERSION) throw bad();
  const kind = b[5];
  if (kind !== KIND_VALUE && kind !== KIND_TOMBSTONE) throw bad();
  const token = b.subarray(6, head);
  const kl = readU32BE(b, head);
  if (kl > MAX_KEY_BYTES || head + 4 + kl + 4 > body.length) throw bad();
  if (!equalBytes(b.subarray(head + 4, head + 4 + kl), key)) throw bad();
  const vl = readU32BE(b, head + 4 + kl);
  const vs = head + 8 + kl;
  if (vl > MAX_VALUE_BYTES || vs + vl !== body.length) throw bad();
  if (kind === KIND_TOMBSTONE && vl !== 0) throw bad();
  return { n, version: `${n}-${toHex(token)}`, value: kind === KIND_VALUE ? b.slice(vs, vs + vl) : null };
}

function isErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

async function syncDir(dir: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(dir, 'r');
    await h.sync();
  } finally {
    await h?.close();
  }
}

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

const tmpName = (): string => `${toHex(new Uint8Array(randomBytes(8)))}.tmp`;

/**
 * Create (or reopen) a file-backed vault store in `dir`. A new instance over the same directory,
 * in this process or any other, sees every acknowledged write: counters survive restarts, and
 * processes sharing the directory spend exactly one guess per successful compare-and-swap.
 *
 * @example
 * ```ts
 * const store = createFileVaultStore({ dir: '/var/lib/vault' });
 * const handler = createVaultHandler({ fleetId, setup, store, verifyToken });
 * ```
 */
export function createFileVaultStore(options: FileVaultStoreOptions): VaultStore {
  if (typeof options?.dir !== 'string' || options.dir.length === 0) throw new TypeError('options.dir must be a path');
  const dir = options.dir;
  const erasedPath = join(dir, 'erased');
  // The one empty file every erased version becomes a hard link to (no inode per erased version).
  const ready = (async () => {
    await mkdir(dir, { recursive: true });
    try {
      await (await open(erasedPath, 'wx')).close();
      await syncDir(dir);
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) throw e;
    }
  })();

  function checkKey(key: unknown): Uint8Array {
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('key must be a non-empty string');
    const b = utf8(key);
    if (b.length > MAX_KEY_BYTES) throw new RangeError(`key must be at most ${MAX_KEY_BYTES} bytes`);
    return b;
  }

  const keyDirOf = (kb: Uint8Array): string => join(dir, toHex(sha256(kb)));
  const versionPath = (keyDir: string, n: number): string => join(keyDir, `${n}.v`);

  /** The hint: a version that exists (0 when none is known). Never above the newest. */
  async function hint(keyDir: string): Promise<number> {
    const b = await readOptional(join(keyDir, 'latest'));
    if (b === undefined || b.length !== 8) return 0;
    const n = readU32BE(b, 0) * 2 ** 32 + readU32BE(b, 4);
    return Number.isSafeInteger(n) ? n : 0;
  }

  async function setHint(keyDir: string, n: number): Promise<void> {
    const b = new Uint8Array(8);
    writeU32BE(b, 0, Math.floor(n / 2 ** 32));
    writeU32BE(b, 4, n >>> 0);
    const tmp = join(keyDir, tmpName());
    const h = await open(tmp, 'wx');
    try {
      await h.writeFile(b);
    } finally {
      await h.close();
    }
    // A lagging hint is harmless (readers probe upward from it); no fsync needed.
    await rename(tmp, join(keyDir, 'latest'));
  }

  /** The newest version of a key (a tombstone included), or `undefined` when it never existed. */
  async function readLatest(keyDir: string, kb: Uint8Array): Promise<Stored | undefined> {
    await ready;
    for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      // Versions are contiguous from 1 and names are never removed: the newest is the last
      // name that exists going up from any version known to exist.
      let n = await hint(keyDir);
      if (n > 0 && !(await exists(versionPath(keyDir, n)))) n = 0; // a damaged hint: probe from 1
      while (await exists(versionPath(keyDir, n + 1))) n++;
      if (n === 0) return undefined;
      const b = await readOptional(versionPath(keyDir, n));
      if (b === undefined) throw new Error('file vault store: a version file is missing');
      // Erased since the probe: a newer version exists now. Look again.
      if (b.length === 0) continue;
      return decodeFile(b, kb, n);
    }
    throw new Error('file vault store: the key changes faster than it can be read');
  }

  /**
   * Erase the versions below `n`: replace each with a link to the shared empty file, newest
   * first, down to the first one already erased (a crashed writer's unerased version is caught
   * by the next write). Every 64th version also removes temporaries crashed writers left.
   */
  async function eraseOlder(keyDir: string, n: number): Promise<void> {
    let erased = false;
    for (let k = n - 1; k >= 1; k--) {
      const p = versionPath(keyDir, k);
      const st = await stat(p).catch(() => undefined);
      if (st === undefined || st.size === 0) break;
      const tmp = join(keyDir, tmpName());
      try {
        await link(erasedPath, tmp);
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
        // The shared empty file was removed by hand: an empty file of its own does as well.
        await (await open(tmp, 'wx')).close();
      }
      await rename(tmp, p);
      erased = true;
    }
    // A key's directory gains one name per write (names are never removed), so listing it on
    // every write would cost O(writes); temporaries of crashed writers are rare: look every 64.
    if (n % 64 !== 0) {
      if (erased) await syncDir(keyDir);
      return;
    }
    const cutoff = Date.now() - STALE_TMP_MS;
    for (const name of await readdir(keyDir)) {
      if (!name.endsWith('.tmp')) continue;
      const p = join(keyDir, name);
      const st = await stat(p).catch(() => undefined);
      if (st !== undefined && st.mtimeMs < cutoff) await unlink(p).catch(() => undefined);
    }
    if (erased) await syncDir(keyDir);
  }

  return {
    async get(key: string): Promise<Versioned | undefined> {
      const kb = checkKey(key);
      const cur = await readLatest(keyDirOf(kb), kb);
      return cur === undefined || cur.value === null ? undefined : { value: cur.value, version: cur.version };
    },
    async compareAndSwap(key: string, expected: string | null, value: Uint8Array | null): Promise<boolean> {
      const kb = checkKey(key);
      if (expected !== null && typeof expected !== 'string') throw new TypeError('expected must be a string or null');
      if (value !== null) {
        abytes(value, 'value');
        if (value.length > MAX_VALUE_BYTES) throw new RangeError(`value must be at most ${MAX_VALUE_BYTES} bytes`);
      }
      const keyDir = keyDirOf(kb);
      const cur = await readLatest(keyDir, kb);
      const present = cur !== undefined && cur.value !== null;
      if ((present ? cur.version : null) !== expected) return false;
      // Deleting an absent key: nothing to write (as the memory store).
      if (value === null && !present) return true;
      const n = (cur?.n ?? 0) + 1;
      if (!Number.isSafeInteger(n)) throw new Error('file vault store: version numbers exhausted');
      if (cur === undefined) {
        await mkdir(keyDir, { recursive: true });
        await syncDir(dir);
      }
      const tmp = join(keyDir, tmpName());
      const h = await open(tmp, 'wx');
      try {
        await h.writeFile(encodeFile(kb, new Uint8Array(randomBytes(TOKEN_BYTES)), value));
        await h.sync();
      } finally {
        await h.close();
      }
      let won = true;
      try {
        // The one atomic step: of every writer that read version n - 1, one creates n.
        await link(tmp, versionPath(keyDir, n));
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) {
          await unlink(tmp).catch(() => undefined);
          throw e;
        }
        won = false;
      }
      await unlink(tmp).catch(() => undefined);
      if (!won) return false;
      // The new name is durable only once the directory entry is; only then may a KE2 leave.
      await syncDir(keyDir);
      await setHint(keyDir, n);
      // Erase what it replaced (docs/OPERATIONS.md §Erasure).
      await eraseOlder(keyDir, n);
      return true;
    },
  };
}
