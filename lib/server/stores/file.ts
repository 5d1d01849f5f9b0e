/**
 * A file-backed {@link VaultStore}: one file per key in a directory, every write a
 * write-to-temp, `fsync`, `rename`, `fsync(dir)` sequence (POSIX rename(2) is atomic), so a crash
 * or a restart leaves either the old or the new value, never a torn one, and a restart loses no
 * guess that was acknowledged. Node built-ins only: import it from `e2ee-backup/server`.
 *
 * Compare-and-swap is serialized per key inside the process and, across processes on one host,
 * by an exclusive-create lock file (`O_CREAT|O_EXCL`) holding the owner's pid; a lock whose owner
 * is gone is broken. Several hosts need a consensus store instead (etcd: stores/etcd.ts).
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { abytes, concatBytes, equalBytes, readU32BE, toHex, utf8, writeU32BE } from '../../util/bytes.js';
import type { VaultStore, Versioned } from '../vault-store.js';

/** Options of {@link createFileVaultStore}. */
export interface FileVaultStoreOptions {
  /** Directory holding the store (created if missing). */
  readonly dir: string;
  /** How long to wait for another process's lock, in ms (default 5000). */
  readonly lockTimeoutMs?: number;
}

const MAGIC = utf8('E2FS');
const FORMAT_VERSION = 1;
const TOKEN_BYTES = 16;
const MAX_VALUE_BYTES = 1 << 20;
const MAX_KEY_BYTES = 1024;

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}

function fileName(key: string): string {
  return toHex(sha256(utf8(key)));
}

function encodeFile(key: Uint8Array, token: Uint8Array, value: Uint8Array): Uint8Array {
  const lens = new Uint8Array(8);
  writeU32BE(lens, 0, key.length);
  writeU32BE(lens, 4, value.length);
  const body = concatBytes(MAGIC, Uint8Array.of(FORMAT_VERSION), token, lens.subarray(0, 4), key, lens.subarray(4), value);
  return concatBytes(body, sha256(body));
}

function decodeFile(b: Uint8Array, key: Uint8Array): Versioned {
  const bad = (): Error => new Error('file vault store: a stored value is corrupt');
  const head = MAGIC.length + 1 + TOKEN_BYTES;
  if (b.length < head + 8 + 32) throw bad();
  const body = b.subarray(0, b.length - 32);
  if (!equalBytes(sha256(body), b.subarray(b.length - 32))) throw bad();
  if (!equalBytes(b.subarray(0, 4), MAGIC) || b[4] !== FORMAT_VERSION) throw bad();
  const token = b.subarray(5, head);
  const kl = readU32BE(b, head);
  if (kl > MAX_KEY_BYTES || head + 4 + kl + 4 > body.length) throw bad();
  if (!equalBytes(b.subarray(head + 4, head + 4 + kl), key)) throw bad();
  const vl = readU32BE(b, head + 4 + kl);
  const vs = head + 8 + kl;
  if (vl > MAX_VALUE_BYTES || vs + vl !== body.length) throw bad();
  return { value: b.slice(vs, vs + vl), version: toHex(token) };
}

function isErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return !isErrno(e, 'ESRCH');
  }
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

/**
 * Create (or reopen) a file-backed vault store in `dir`. A new instance over the same directory
 * sees every acknowledged write: counters survive restarts.
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
  const lockTimeoutMs = options.lockTimeoutMs ?? 5000;
  const ready = mkdir(dir, { recursive: true });
  const queues = new Map<string, Promise<unknown>>();

  function checkKey(key: unknown): Uint8Array {
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('key must be a non-empty string');
    const b = utf8(key);
    if (b.length > MAX_KEY_BYTES) throw new RangeError(`key must be at most ${MAX_KEY_BYTES} bytes`);
    return b;
  }

  async function read(key: string, kb: Uint8Array): Promise<Versioned | undefined> {
    await ready;
    let b: Uint8Array;
    try {
      b = new Uint8Array(await readFile(join(dir, `${fileName(key)}.vs`)));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw e;
    }
    return decodeFile(b, kb);
  }

  /** Cross-process exclusive lock on one key's file (O_EXCL create); stale locks are broken. */
  async function withFileLock<T>(name: string, f: () => Promise<T>): Promise<T> {
    const lockPath = join(dir, `${name}.lock`);
    const deadline = Date.now() + lockTimeoutMs;
    for (;;) {
      try {
        const h = await open(lockPath, 'wx');
        await h.writeFile(String(process.pid));
        await h.close();
        break;
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw e;
        const owner = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
        if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && !processAlive(owner)) {
          await unlink(lockPath).catch(() => undefined);
          continue;
        }
        if (Date.now() > deadline) throw new Error('file vault store: lock wait timed out', { cause: e });
        await new Promise((r) => setTimeout(r, 2 + Math.random() * 8));
      }
    }
    try {
      return await f();
    } finally {
      await unlink(lockPath).catch(() => undefined);
    }
  }

  /** Per-key in-process queue, so this process never races itself for the lock file. */
  function serialized<T>(name: string, f: () => Promise<T>): Promise<T> {
    const prev = queues.get(name) ?? Promise.resolve();
    const run = prev.then(f, f);
    const tail = run.catch(() => undefined);
    queues.set(name, tail);
    void tail.then(() => {
      if (queues.get(name) === tail) queues.delete(name);
    });
    return run;
  }

  return {
    async get(key: string): Promise<Versioned | undefined> {
      return read(key, checkKey(key));
    },
    async compareAndSwap(key: string, expected: string | null, value: Uint8Array | null): Promise<boolean> {
      const kb = checkKey(key);
      if (expected !== null && typeof expected !== 'string') throw new TypeError('expected must be a string or null');
      if (value !== null) {
        abytes(value, 'value');
        if (value.length > MAX_VALUE_BYTES) throw new RangeError(`value must be at most ${MAX_VALUE_BYTES} bytes`);
      }
      const name = fileName(key);
      const path = join(dir, `${name}.vs`);
      await ready;
      return serialized(name, () =>
        withFileLock(name, async () => {
          const cur = await read(key, kb);
          if ((cur?.version ?? null) !== expected) return false;
          if (value === null) {
            await unlink(path).catch((e: unknown) => {
              if (!isErrno(e, 'ENOENT')) throw e;
            });
          } else {
            const tmp = join(dir, `${name}.${toHex(new Uint8Array(randomBytes(8)))}.tmp`);
            const h = await open(tmp, 'wx');
            try {
              await h.writeFile(encodeFile(kb, new Uint8Array(randomBytes(TOKEN_BYTES)), value));
              await h.sync();
            } finally {
              await h.close();
            }
            await rename(tmp, path);
          }
          // The rename (or unlink) is durable only once the directory entry is.
          await syncDir(dir);
          return true;
        }),
      );
    },
  };
}
