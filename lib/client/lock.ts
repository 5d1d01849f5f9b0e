/**
 * One backup at a time per account, across tabs (docs/CLIENT.md §Locking).
 *
 * Where the Web Locks API is present (`navigator.locks`, https://w3c.github.io/web-locks/), the
 * browser holds the lock for us and releases it when the tab dies, which is exactly the semantics
 * we want. Where it is not (Node, old WebViews), we fall back to a **lease** in the shared
 * {@link KeyValueStore}: a record `{ owner, expiresAt }` taken with one atomic `update`, renewed by
 * a heartbeat while held, and free to take once expired, so a crashed tab blocks others for at most
 * one lease period. If a holder cannot renew (it stalled past expiry and someone else took the
 * lease), its work is aborted rather than run without the lock.
 *
 * The default is to **wait** for the lock; with `wait: false` a busy lock fails at once with
 * `BACKUP_IN_PROGRESS`.
 *
 * @module
 */
import { BackupError, throwIfAborted } from '../errors.js';
import type { KeyValueStore } from '../storage/kv.js';
import { secureRandom, toHex, type RandomSource } from '../util/bytes.js';

/** The part of the Web Locks `LockManager` we use (so a platform object or a polyfill fits). */
export interface LockManagerLike {
  /**
   * Run `callback` while holding the lock `name` (Web Locks `LockManager.request`): with
   * `ifAvailable`, the callback gets `null` at once when the lock is held elsewhere.
   */
  request<T>(
    name: string,
    options: { readonly mode?: 'exclusive'; readonly ifAvailable?: boolean; readonly signal?: AbortSignal },
    callback: (lock: unknown) => Promise<T>,
  ): Promise<T>;
}

/**
 * An abortable sleep (injected for tests): resolve after `ms` (on whatever clock the test keeps),
 * reject when `signal` aborts.
 *
 * The lease fallback polls and renews in loops around this sleep. A sleep that resolves within
 * a microtask (`async () => {}`), with a store whose calls are microtasks too (the memory store),
 * would make those loops spin without ever letting timers, I/O or the locked work run. So after
 * an injected sleep the lock always yields one macrotask (`setTimeout(0)`) before it goes on;
 * the default sleep (a `setTimeout` timer) already yields and gets no extra turn.
 */
export type LockSleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** One turn of the event loop. */
const macrotask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** Options of {@link withExclusiveLock}. */
export interface ExclusiveLockOptions {
  /** Web Locks manager (`navigator.locks`); when absent the lease fallback is used. */
  readonly locks?: LockManagerLike;
  /** Store for the lease fallback (the same IndexedDB every tab of the origin sees). */
  readonly store: KeyValueStore;
  /** Wait for a busy lock (default) or fail at once with `BACKUP_IN_PROGRESS`. */
  readonly wait?: boolean;
  /** Give up waiting after this long with `TIMEOUT` (default: wait until `signal` aborts). */
  readonly timeoutMs?: number;
  /** Cancels the wait (and, once acquired, the work's signal). */
  readonly signal?: AbortSignal;
  /** Lease length for the fallback, ms (default 30 s). */
  readonly leaseMs?: number;
  /** How often a waiter polls the lease, ms (default leaseMs / 10, at least 10 ms). */
  readonly pollMs?: number;
  /** Clock (default `Date.now`). */
  readonly now?: () => number;
  /** Abortable sleep (default on `setTimeout`). */
  readonly sleep?: LockSleep;
  /** Randomness for the owner id. */
  readonly random?: RandomSource;
}

interface LeaseRecord {
  readonly owner: string;
  readonly expiresAt: number;
  readonly [key: string]: string | number;
}

/** Default abortable sleep. */
export const timerSleep: LockSleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new BackupError('ABORTED', 'operation was aborted', { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(new BackupError('ABORTED', 'operation was aborted', { cause: signal?.reason }));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function busy(): BackupError {
  return new BackupError('BACKUP_IN_PROGRESS', 'another backup of this account is running (this tab or another)');
}

/**
 * Proves the lock is still held, just before a step that must happen under it (each part sent,
 * completing the upload, writing the manifest and the latest pointer). Rejects (and aborts the
 * work's signal) when it is not. With Web Locks the browser holds the lock until the work settles,
 * so this only checks the signal; with the lease it is one atomic read-check-renew of the lease
 * record, so a tab whose timers were throttled past its lease notices before its next send, not
 * only when its heartbeat fires.
 */
export type LockGuard = () => Promise<void>;

/**
 * Run `fn` while holding the exclusive lock `name`. `fn` receives a signal that aborts when the
 * caller's signal does, or (lease fallback) when the lease is lost, and a {@link LockGuard}.
 *
 * @example
 * ```ts
 * await withExclusiveLock('e2ee-backup/alice/backup', { store, locks: navigator.locks }, async (signal) => {
 *   await uploadEverything(signal);
 * });
 * ```
 */
export async function withExclusiveLock<T>(
  name: string,
  options: ExclusiveLockOptions,
  fn: (signal: AbortSignal, guard: LockGuard) => Promise<T>,
): Promise<T> {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('name must be a non-empty string');
  throwIfAborted(options.signal);
  // A LockManager without request() (a partial polyfill) is no Web Locks: use the lease.
  if (options.locks !== undefined && typeof options.locks.request === 'function') return webLock(name, options, fn);
  return leaseLock(name, options, fn);
}

async function webLock<T>(name: string, o: ExclusiveLockOptions, fn: (signal: AbortSignal, guard: LockGuard) => Promise<T>): Promise<T> {
  const wait = o.wait ?? true;
  const ac = new AbortController();
  const onAbort = () => ac.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  if (wait && o.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, o.timeoutMs);
  }
  let granted = false;
  try {
    const request = wait ? { mode: 'exclusive' as const, signal: ac.signal } : { mode: 'exclusive' as const, ifAvailable: true };
    return await o.locks!.request(name, request, async (lock) => {
      granted = true;
      if (timer !== undefined) clearTimeout(timer);
      if (lock === null) throw busy();
      return fn(ac.signal, async () => throwIfAborted(ac.signal));
    });
  } catch (e) {
    // Where the engine has the API but denies it to this context (an opaque origin, a sandboxed
    // frame: SecurityError; NotSupportedError), fall back to the lease, as without Web Locks.
    if (!granted && !timedOut && !ac.signal.aborted && isLockDenied(e)) return leaseLock(name, o, fn);
    // The Web Locks API rejects a request aborted while waiting with an AbortError DOMException.
    if (timedOut) throw new BackupError('TIMEOUT', 'timed out waiting for the backup lock');
    if (ac.signal.aborted && isAbortError(e)) {
      throw new BackupError('ABORTED', 'operation was aborted', { cause: o.signal?.reason });
    }
    throw e;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

function isLockDenied(e: unknown): boolean {
  const name = typeof e === 'object' && e !== null ? (e as { name?: unknown }).name : undefined;
  return name === 'SecurityError' || name === 'NotSupportedError';
}

function isAbortError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError';
}

async function leaseLock<T>(name: string, o: ExclusiveLockOptions, fn: (signal: AbortSignal, guard: LockGuard) => Promise<T>): Promise<T> {
  const now = o.now ?? Date.now;
  const injected = o.sleep;
  // See LockSleep: an injected sleep may resolve within a microtask; never loop without a turn.
  const sleep: LockSleep =
    injected === undefined
      ? timerSleep
      : async (ms, signal) => {
          await injected(ms, signal);
          await macrotask();
        };
  const leaseMs = o.leaseMs ?? 30_000;
  if (!Number.isFinite(leaseMs) || leaseMs <= 0) throw new RangeError('leaseMs must be positive');
  const pollMs = o.pollMs ?? Math.max(10, Math.floor(leaseMs / 10));
  const key = `lock/${name}`;
  const owner = toHex((o.random ?? secureRandom)(16));
  const start = now();

  const tryTake = async (): Promise<boolean> => {
    let won = false;
    await o.store.update<LeaseRecord>(key, (old) => {
      const t = now();
      if (old === undefined || typeof old.expiresAt !== 'number' || old.expiresAt <= t || old.owner === owner) {
        won = true;
        return { owner, expiresAt: t + leaseMs };
      }
      won = false;
      return old;
    });
    return won;
  };

  for (;;) {
    throwIfAborted(o.signal);
    if (await tryTake()) break;
    if (!(o.wait ?? true)) throw busy();
    if (o.timeoutMs !== undefined && now() - start >= o.timeoutMs) {
      throw new BackupError('TIMEOUT', 'timed out waiting for the backup lock');
    }
    await sleep(pollMs, o.signal);
  }

  // Stricter than tryTake: the record must still name us. An expired lease that someone else took
  // and released meanwhile is free again, but this holder lost it in between, so it must stop.
  const stillHeld = async (): Promise<boolean> => {
    let held = false;
    await o.store.update<LeaseRecord>(key, (old) => {
      held = old !== undefined && old.owner === owner;
      return held ? { owner, expiresAt: now() + leaseMs } : old;
    });
    return held;
  };
  // Held: renew at a third of the lease, abort the work if the lease was lost.
  const ac = new AbortController();
  const onAbort = () => ac.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const stopHeartbeat = new AbortController();
  const heartbeat = (async () => {
    try {
      for (;;) {
        await sleep(Math.max(1, Math.floor(leaseMs / 3)), stopHeartbeat.signal);
        // An injected sleep may ignore its signal: check before renewing a lease we are releasing.
        if (stopHeartbeat.signal.aborted) return;
        if (!(await stillHeld())) {
          ac.abort(new BackupError('BACKUP_IN_PROGRESS', 'the backup lock lease was lost'));
          return;
        }
      }
    } catch (e) {
      // Stopped by the finally below, or the store failed: then we can no longer prove we hold
      // the lease, so stop the work (an interrupted upload resumes later; a concurrent one could not).
      if (!stopHeartbeat.signal.aborted) ac.abort(e);
    }
  })();
  const guard: LockGuard = async () => {
    throwIfAborted(ac.signal);
    if (await stillHeld()) return;
    const lost = new BackupError('BACKUP_IN_PROGRESS', 'the backup lock lease was lost');
    ac.abort(lost);
    throw lost;
  };
  try {
    return await fn(ac.signal, guard);
  } finally {
    stopHeartbeat.abort();
    await heartbeat;
    o.signal?.removeEventListener('abort', onAbort);
    // Release by writing an expired record rather than deleting: the IndexedDB store's `update`
    // turns a deletion into a put plus a separate delete, and that delete could remove a lease
    // another tab took in between.
    await o.store
      .update<LeaseRecord>(key, (old) => (old !== undefined && old.owner === owner ? { owner: '', expiresAt: 0 } : old))
      .catch(() => undefined);
  }
}
