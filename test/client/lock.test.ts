// @vitest-environment jsdom
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { withExclusiveLock, type LockManagerLike } from '../../lib/client/lock.js';
import { isBackupError } from '../../lib/errors.js';
import { createIndexedDbStore, createMemoryStore } from '../../lib/storage/kv.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('lease fallback (no Web Locks)', () => {
  it('two holders never overlap; the second waits', async () => {
    const store = createMemoryStore();
    const log: string[] = [];
    const gate = deferred();
    const first = withExclusiveLock('acct', { store, pollMs: 5 }, async () => {
      log.push('a:start');
      await gate.promise;
      log.push('a:end');
    });
    await new Promise((r) => setTimeout(r, 20));
    const second = withExclusiveLock('acct', { store, pollMs: 5 }, async () => {
      log.push('b:start');
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(log).toEqual(['a:start']);
    gate.resolve();
    await Promise.all([first, second]);
    expect(log).toEqual(['a:start', 'a:end', 'b:start']);
    // Released: an expired record is left, which anyone may take.
    expect((await store.get<{ expiresAt: number }>('lock/acct'))?.expiresAt).toBe(0);
  });

  it('wait: false fails at once with BACKUP_IN_PROGRESS', async () => {
    const store = createMemoryStore();
    const gate = deferred();
    const first = withExclusiveLock('acct', { store }, () => gate.promise);
    await new Promise((r) => setTimeout(r, 10));
    const err = await withExclusiveLock('acct', { store, wait: false }, async () => 1).catch((e: unknown) => e);
    expect(isBackupError(err, 'BACKUP_IN_PROGRESS')).toBe(true);
    gate.resolve();
    await first;
    // Free again.
    expect(await withExclusiveLock('acct', { store, wait: false }, async () => 2)).toBe(2);
  });

  it('a crashed holder blocks only until its lease expires', async () => {
    const store = createMemoryStore();
    let t = 1_000_000;
    await store.set('lock/acct', { owner: 'dead-tab', expiresAt: t + 30_000 });
    const sleep = async (ms: number) => {
      t += ms;
      await new Promise((r) => setTimeout(r, 0));
    };
    const err = await withExclusiveLock('acct', { store, wait: false, now: () => t }, async () => 0).catch((e: unknown) => e);
    expect(isBackupError(err, 'BACKUP_IN_PROGRESS')).toBe(true);
    const before = t;
    const v = await withExclusiveLock('acct', { store, now: () => t, sleep, leaseMs: 30_000, pollMs: 1000 }, async () => 'ran');
    expect(v).toBe('ran');
    expect(t - before).toBeGreaterThanOrEqual(30_000);
  });

  it('times out waiting with TIMEOUT and honours abort', async () => {
    const store = createMemoryStore();
    await store.set('lock/acct', { owner: 'other', expiresAt: Date.now() + 60_000 });
    const err = await withExclusiveLock('acct', { store, timeoutMs: 30, pollMs: 5 }, async () => 0).catch((e: unknown) => e);
    expect(isBackupError(err, 'TIMEOUT')).toBe(true);
    const ac = new AbortController();
    const p = withExclusiveLock('acct', { store, signal: ac.signal, pollMs: 5 }, async () => 0).catch((e: unknown) => e);
    ac.abort();
    expect(isBackupError(await p, 'ABORTED')).toBe(true);
  });

  it('a holder that loses its lease has its work aborted', async () => {
    const store = createMemoryStore();
    const err = await withExclusiveLock('acct', { store, leaseMs: 30 }, async (signal) => {
      // Another tab steals the lease (as if ours had expired while we stalled).
      await store.set('lock/acct', { owner: 'thief', expiresAt: Date.now() + 60_000 });
      await new Promise<void>((resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
        setTimeout(resolve, 2000);
      });
    }).catch((e: unknown) => e);
    expect(isBackupError(err, 'BACKUP_IN_PROGRESS')).toBe(true);
    // The thief's lease is left alone.
    expect((await store.get<{ owner: string }>('lock/acct'))?.owner).toBe('thief');
  });

  it('an injected sleep that resolves within a microtask starves neither the work nor a waiter', async () => {
    const store = createMemoryStore();
    // Counts sleeps since the event loop last took a turn; a lock that loops on microtasks alone
    // trips it (and fails the test) instead of hanging the test run.
    let calls = 0;
    let seen = 0;
    const sleep = async () => {
      calls++;
      if (calls - seen > 1000) throw new Error('the lock loops without yielding to the event loop');
      setTimeout(() => {
        seen = calls;
      }, 0);
    };
    const order: string[] = [];
    const work = (name: string) => async () => {
      order.push(name);
      await new Promise((r) => setTimeout(r, 20));
      order.push(`${name} done`);
      return name;
    };
    const both = await Promise.all([
      withExclusiveLock('acct', { store, sleep, leaseMs: 30, pollMs: 1 }, work('a')),
      withExclusiveLock('acct', { store, sleep, leaseMs: 30, pollMs: 1 }, work('b')),
    ]);
    expect(both).toEqual(['a', 'b']);
    expect(order).toEqual(['a', 'a done', 'b', 'b done']);
  });

  it('two "tabs" (two stores on one IndexedDB database) exclude each other', async () => {
    const tab1 = createIndexedDbStore({ dbName: 'lock-test' });
    const tab2 = createIndexedDbStore({ dbName: 'lock-test' });
    let active = 0;
    let maxActive = 0;
    const work = async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 15));
      active--;
    };
    await Promise.all([
      withExclusiveLock('acct', { store: tab1, pollMs: 5 }, work),
      withExclusiveLock('acct', { store: tab2, pollMs: 5 }, work),
      withExclusiveLock('acct', { store: tab1, pollMs: 5 }, work),
      withExclusiveLock('acct', { store: tab2, pollMs: 5 }, work),
    ]);
    expect(maxActive).toBe(1);
  });
});

/**
 * A small in-test LockManager with the Web Locks semantics the client relies on
 * (https://w3c.github.io/web-locks/): FIFO exclusive grants, `ifAvailable` answering `null`, and
 * `signal` rejecting a queued request with an AbortError.
 */
function webLocks(): LockManagerLike {
  const queues = new Map<string, (() => void)[]>();
  const held = new Set<string>();
  const release = (name: string) => {
    const next = queues.get(name)?.shift();
    if (next) next();
    else held.delete(name);
  };
  return {
    async request(name, options, callback) {
      if (held.has(name)) {
        if (options.ifAvailable) return callback(null);
        await new Promise<void>((resolve, reject) => {
          const q = queues.get(name) ?? [];
          queues.set(name, q);
          const grant = () => resolve();
          q.push(grant);
          options.signal?.addEventListener('abort', () => {
            q.splice(q.indexOf(grant), 1);
            reject(new DOMException('aborted', 'AbortError'));
          });
        });
      } else {
        held.add(name);
      }
      try {
        return await callback({ name });
      } finally {
        release(name);
      }
    },
  };
}

describe('Web Locks path', () => {
  it('waits by default, BACKUP_IN_PROGRESS with wait: false, ABORTED on abort', async () => {
    const locks = webLocks();
    const store = createMemoryStore();
    const gate = deferred();
    const log: string[] = [];
    const first = withExclusiveLock('acct', { store, locks }, async () => {
      log.push('a');
      await gate.promise;
      log.push('a-done');
    });
    await Promise.resolve();
    const busy = await withExclusiveLock('acct', { store, locks, wait: false }, async () => 0).catch((e: unknown) => e);
    expect(isBackupError(busy, 'BACKUP_IN_PROGRESS')).toBe(true);
    const ac = new AbortController();
    const aborted = withExclusiveLock('acct', { store, locks, signal: ac.signal }, async () => 0).catch((e: unknown) => e);
    const second = withExclusiveLock('acct', { store, locks }, async () => log.push('b'));
    ac.abort();
    expect(isBackupError(await aborted, 'ABORTED')).toBe(true);
    gate.resolve();
    await Promise.all([first, second]);
    expect(log).toEqual(['a', 'a-done', 'b']);
    // The Web Locks path keeps no lease records.
    expect(await store.keys()).toEqual([]);
  });
});
