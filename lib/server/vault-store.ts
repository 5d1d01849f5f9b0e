/**
 * The storage contract of the reference vault: a linearizable key-value store with
 * compare-and-swap on an opaque version. Every guess-counter change and every record write is ONE
 * conditional write, so several vault processes sharing one store (etcd with Raft majority
 * consensus, say: docs/OPERATIONS.md) still spend exactly one guess per attempt.
 *
 * @module
 */

/** A stored value and the version it was read at. */
export interface Versioned {
  /** The stored bytes. */
  readonly value: Uint8Array;
  /** Opaque version token (etcd's mod_revision, a counter in memory). */
  readonly version: string;
}

/** Linearizable, durable compare-and-swap store. */
export interface VaultStore {
  /** Read one key; `undefined` when absent. Must be a linearizable read. */
  get(key: string): Promise<Versioned | undefined>;
  /**
   * Write `value` (or delete when `value` is `null`) only if the key is still at `expected`
   * (`null`: only if absent). Resolves `true` when written durably, `false` on a version
   * conflict. Rejects when durability cannot be guaranteed (no quorum, disk error): the vault
   * then answers `VAULT_UNAVAILABLE` instead of risking an unrecorded guess.
   */
  compareAndSwap(key: string, expected: string | null, value: Uint8Array | null): Promise<boolean>;
  /** Release connections / file handles. */
  close?(): Promise<void>;
}
