/**
 * Abort wiring that does not keep an abandoned stream alive.
 *
 * A stream that listens on the caller's `AbortSignal` is reachable from that signal for as long as
 * the listener stays registered. An app that drops a stream without finishing or cancelling it
 * (a closed view, an exception between two reads) would then leave its state (keys, plaintext
 * buffers) in memory, unwiped, for as long as the signal lives, which for an app-wide controller
 * is the page's lifetime. {@link linkAbort} registers a listener that holds its target only
 * through a `WeakRef`, and a `FinalizationRegistry` entry that, once the target is collected,
 * removes the listener and disposes of what the stream left behind (wipes it).
 *
 * Finalization is best effort (ECMA-262 §9.10: an engine may never run the callbacks); it is the
 * fallback for a stream nobody ended, not the way streams are cleaned up.
 *
 * @module
 * @internal
 */

/** Something that wipes or releases what it holds; safe to call more than once. */
export interface Disposer {
  /** Wipe or release. */
  dispose(): void;
}

const registry: FinalizationRegistry<() => void> | undefined =
  typeof FinalizationRegistry === 'function' ? new FinalizationRegistry((release: () => void) => release()) : undefined;

const noop = (): void => undefined;

/** A `WeakRef`, or where there is none (pre-2021 engines) a strong stand-in. */
function weakRef<T extends object>(target: T): { deref(): T | undefined } {
  return typeof WeakRef === 'function' ? new WeakRef(target) : { deref: () => target };
}

/**
 * Call `onAbort(target, signal)` when `signal` aborts, holding `target` weakly. When `target` is
 * garbage-collected first, the listener is removed and `leftovers.dispose()` runs. Returns the
 * function that unlinks (call it when the stream ends; `leftovers` is then the caller's to wipe).
 *
 * For the weak hold to work, neither `onAbort` nor `leftovers` may reach `target` or the stream
 * that owns it: pass a module-level function and an object that holds only what must be wiped
 * (a closure created inside the stream's own function shares that function's scope, and so
 * would keep everything it can see alive).
 *
 * @param signal - The caller's signal, or `undefined` (nothing to link).
 * @param target - What the abort acts on; the stream must hold it strongly while it is in use.
 * @param onAbort - A module-level function applied to `target` on abort.
 * @param leftovers - Disposed of if `target` is collected while still linked.
 */
export function linkAbort<T extends object>(
  signal: AbortSignal | undefined,
  target: T,
  onAbort: (target: T, signal: AbortSignal) => void,
  leftovers?: Disposer,
): () => void {
  if (signal === undefined) return noop;
  // No closure in this function may mention `target`: they would all share one scope holding it.
  const ref = weakRef(target);
  const listener = (): void => {
    const t = ref.deref();
    if (t !== undefined) onAbort(t, signal);
  };
  signal.addEventListener('abort', listener, { once: true });
  const token = {};
  registry?.register(
    target,
    () => {
      signal.removeEventListener('abort', listener);
      leftovers?.dispose();
    },
    token,
  );
  return () => {
    registry?.unregister(token);
    signal.removeEventListener('abort', listener);
  };
}
