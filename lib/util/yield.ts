/**
 * Cooperative yielding for long runs of work on the main thread. A stream whose engine seals in
 * the calling thread runs its transform as one chain of promise callbacks (microtasks): the event
 * loop never gets a turn, so a browser page does not paint or answer input for the whole run
 * (issue 20: main-thread tasks of 1-2 s). {@link createYielder} gives such a loop a checkpoint
 * that, after about {@link YIELD_BUDGET_MS} of work, waits for a macrotask.
 *
 * @module
 */

/** Longest run of work between two yields, in milliseconds (a frame is 16.7 ms at 60 Hz). */
export const YIELD_BUDGET_MS = 10;

interface Scheduler {
  yield?: () => Promise<void>;
}

let channel: { port: MessagePort; queue: (() => void)[] } | undefined;

/**
 * Wait for a macrotask: `scheduler.yield()` where it exists (Chromium: the continuation keeps
 * its priority ahead of other queued work), else `setImmediate` (Node: no timer clamping and no
 * handle that keeps the process alive), else a `MessageChannel` message (browsers without
 * `scheduler.yield`: `setTimeout(0)` is clamped to 4 ms after a few nested calls), else
 * `setTimeout(0)`.
 */
export function yieldToEventLoop(): Promise<void> {
  const s = (globalThis as { scheduler?: Scheduler }).scheduler;
  if (typeof s?.yield === 'function') return s.yield();
  if (typeof globalThis.setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  if (typeof MessageChannel === 'function') {
    if (channel === undefined) {
      const mc = new MessageChannel();
      const c = { port: mc.port2, queue: [] as (() => void)[] };
      mc.port1.onmessage = () => c.queue.shift()?.();
      channel = c;
    }
    const c = channel;
    return new Promise((resolve) => {
      c.queue.push(resolve);
      c.port.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

const now: () => number =
  typeof performance !== 'undefined' && typeof performance.now === 'function' ? () => performance.now() : () => Date.now();

/**
 * A checkpoint for a loop of work: `undefined` while the current slice is under `budgetMs`,
 * else a promise of the next macrotask (the slice restarts when it resolves). Calling it once per
 * unit of work (a chunk) costs one clock read.
 *
 * @example
 * ```ts
 * const pause = createYielder();
 * for (const chunk of chunks) {
 *   const y = pause();
 *   if (y !== undefined) await y;
 *   seal(chunk);
 * }
 * ```
 */
export function createYielder(budgetMs: number = YIELD_BUDGET_MS): () => Promise<void> | undefined {
  let sliceStart = now();
  return () => {
    if (now() - sliceStart < budgetMs) return undefined;
    return yieldToEventLoop().then(() => {
      sliceStart = now();
    });
  };
}
