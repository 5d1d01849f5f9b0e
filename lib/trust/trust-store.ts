/**
 * The trust store: which vault fleets this device trusts, and why. It implements
 * {@link FleetTrust} for the vault client.
 *
 * - Roots and pins come from the app's config ({@link TrustStoreConfig}); they never change at
 *   run time.
 * - A signed bundle ({@link ./bundle.ts}) is applied only if it passes every stateless rule
 *   ({@link verifySignedBundle}) **and** the stateful ones: its epoch is above the stored
 *   high-water mark (`TRUST_ROLLBACK`), and its checkpoint is consistent with the last checkpoint
 *   this device saw (RFC 9162 §2.1.4; `TRUST_SPLIT_VIEW`), so a log that shows this device a
 *   different history than everyone else is caught.
 * - State is ONE record in the {@link KeyValueStore}, written with one atomic `update`, carrying
 *   a SHA-256 checksum. On every load the record's checksum is checked and the stored signed
 *   bundle and checkpoint are verified again against the config's roots **at the current clock**,
 *   so a corrupted, truncated or forged record is ignored: the device falls back to its pins,
 *   never to trusting anything it cannot prove. A stored bundle that has since expired keeps its
 *   epoch (the high-water mark) and its retirements, but its fleets are no longer trusted.
 * - Listeners registered with `on('change', …)` hear about every applied bundle; a detected split
 *   view is kept as evidence ({@link TrustStore.splitViewEvidence}) and announced with
 *   `on('split-view', …)`, so the app can report the fork.
 *
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { BackupError, isBackupError } from '../errors.js';
import { LABELS } from '../labels.js';
import type { FleetTrust, TrustedFleet } from '../recovery/fleet-trust.js';
import type { KeyValueStore, StoredValue } from '../storage/kv.js';
import { abytes, equalBytes, isBytes, utf8 } from '../util/bytes.js';
import { Writer } from './codec.js';
import {
  checkTrustRoots,
  verifyBundleAt,
  verifyLogCheckpoint,
  verifySignedBundle,
  type Bundle,
  type FleetRole,
  type TrustRoots,
  type VerifiedBundle,
} from './bundle.js';
import type { Checkpoint } from './checkpoint.js';
import { MAX_PROOF_HASHES, verifyConsistency } from './merkle.js';

/** The app's trust configuration: roots for bundles plus optional pinned fleets. */
export interface TrustStoreConfig extends TrustRoots {
  /** Fleets trusted from the start (WhatsApp-style pins); a bundle can only retire them. */
  readonly pins?: readonly TrustedFleet[];
}

/** A trusted fleet with what the trust store knows about it. */
export interface TrustedFleetEntry extends TrustedFleet {
  /** Allowed uses: pins may do both; bundle entries say. */
  readonly roles: readonly FleetRole[];
  /** Where the trust comes from. */
  readonly source: 'pin' | 'bundle';
  /** Unix seconds; absent for pins. */
  readonly notBefore?: number;
  /** Unix seconds (exclusive); absent for pins. */
  readonly notAfter?: number;
}

/** Payload of a `change` event. */
export interface TrustChangeEvent {
  /** The new high-water mark. */
  readonly epoch: number;
  /** Fleets trusted right after the change. */
  readonly fleets: readonly TrustedFleetEntry[];
  /** Fleet ids the new bundle retires. */
  readonly retired: readonly string[];
}

/** A snapshot of the store's state. */
export interface TrustStateSnapshot {
  /** Epoch high-water mark (0 before any bundle). */
  readonly epoch: number;
  /** The applied bundle, if any. */
  readonly bundle?: Bundle;
  /** The last checkpoint seen, if any. */
  readonly checkpoint?: {
    /** The log's origin line (its name). */
    readonly origin: string;
    /** Number of leaves in the log at this checkpoint. */
    readonly size: number;
    /** The Merkle tree root hash (SHA-256, 32 bytes) at `size`. */
    readonly root: Uint8Array;
  };
  /** True when a stored record existed but failed its checksum or verification and was ignored. */
  readonly discardedCorruptState: boolean;
  /**
   * True when the applied bundle's window has passed: its fleets are no longer trusted (pins not
   * retired by it still are), its epoch still bounds what may be applied next. Call `refresh()`.
   */
  readonly bundleExpired: boolean;
}

/**
 * What a device keeps when a log shows it a checkpoint inconsistent with the last one it saw
 * (`TRUST_SPLIT_VIEW`): both signed notes and the proof offered, as received. Two notes of the
 * same size with different roots, both signed by the witness, prove the fork outright; otherwise
 * the evidence is a signed checkpoint plus a consistency proof that does not connect it (the log
 * must then produce a valid proof to clear itself).
 */
export interface SplitViewEvidence {
  /** Unix seconds at which the device detected it. */
  readonly detectedAt: number;
  /** The last checkpoint this device had accepted. */
  readonly seen: {
    /** The whole signed note. */
    readonly checkpoint: Uint8Array;
  };
  /** What the log presented instead. */
  readonly presented: {
    /** The whole signed note. */
    readonly checkpoint: Uint8Array;
    /** The signed bundle that carried it (with its inclusion proof). */
    readonly signedBundle: Uint8Array;
  };
  /** The consistency proof offered between the two sizes; absent for two notes of one size. */
  readonly consistencyProof?: readonly Uint8Array[];
}

/** Options of {@link TrustStore.applyBundle}. */
export interface ApplyBundleOptions {
  /** Consistency proof between the last checkpoint seen and the bundle's (either direction). */
  readonly consistencyProof?: readonly Uint8Array[];
}

/** Options of {@link createTrustStore}. */
export interface TrustStoreOptions {
  /** Roots, thresholds and pins. */
  readonly config: TrustStoreConfig;
  /** Where state is persisted: `createIndexedDbStore()` in browsers, `createMemoryStore()` in Node. */
  readonly store: KeyValueStore;
  /** Clock in milliseconds (`Date.now` by default). */
  readonly now?: () => number;
  /**
   * Fetch the newest signed bundle. `resolveUnknown` passes the fleet and key it is looking for
   * (a hint: a publisher may serve a bundle that proves them); `refresh` passes nothing.
   */
  readonly fetchBundle?: (fleetId?: string, publicKey?: Uint8Array) => Promise<Uint8Array | undefined>;
  /** Fetch an RFC 9162 consistency proof between two tree sizes of the audit log. */
  readonly fetchConsistencyProof?: (fromSize: number, toSize: number) => Promise<readonly Uint8Array[]>;
  /** Storage key of the state record; `trust/v1/<namespace>` by default. */
  readonly storageKey?: string;
}

/**
 * The trust store: a {@link FleetTrust} that learns new fleets from verified bundles (created by
 * {@link createTrustStore}).
 *
 * @example
 * ```ts
 * await trust.refresh(); // on app start: apply a newer bundle, if any
 * const { epoch, checkpoint } = await trust.state();
 * const off = trust.on('change', (e) => console.log('epoch', e.epoch, 'retired', e.retired));
 * const plan = await planMigration(trust, enrolledFleetId); // a fleet was retired: move the escrow
 * ```
 */
export interface TrustStore extends FleetTrust {
  /** Every fleet trusted now (pins not retired, bundle fleets inside their window). */
  trustedFleets(): Promise<readonly TrustedFleetEntry[]>;
  /**
   * Resolve a key the vault presented: already trusted, or proven by a bundle from
   * `fetchBundle`. `undefined` when no bundle proves it (or the fetched one is not newer). A
   * bundle that fails any other rule rejects with its `TRUST_*` error, so an attack is visible.
   */
  resolveUnknown(fleetId: string, publicKey: Uint8Array): Promise<TrustedFleetEntry | undefined>;
  /**
   * Fetch the newest bundle through `fetchBundle` and apply it if it is newer (call it on app
   * start or periodically, so a superseded fleet is noticed before a vault says so). Resolves
   * `true` when trust changed, `false` when there was nothing newer; other refusals reject.
   */
  refresh(): Promise<boolean>;
  /** Verify and apply a signed bundle; rejects with a `TRUST_*` `BackupError` on any rule. */
  applyBundle(bytes: Uint8Array, options?: ApplyBundleOptions): Promise<TrustChangeEvent>;
  /** Current state (high-water mark, bundle, last checkpoint). */
  state(): Promise<TrustStateSnapshot>;
  /**
   * Every split view this device detected (oldest first, at most 8 distinct ones), kept across
   * restarts so the app can report the fork to the witness operator or its users.
   */
  splitViewEvidence(): Promise<readonly SplitViewEvidence[]>;
  /** Listen for trust changes; returns the function that removes the listener. */
  on(type: 'change', listener: (event: TrustChangeEvent) => void): () => void;
  /** Listen for detected split views (the evidence is also kept); returns the remover. */
  on(type: 'split-view', listener: (event: SplitViewEvidence) => void): () => void;
}

// ---------------------------------------------------------------------------------------------
// Persisted record

const RECORD_VERSION = 1;

interface StoredRecord {
  readonly v: number;
  readonly namespace: string;
  readonly epoch: number;
  /** Unix seconds at which the bundle was applied (informational: loads verify at the current clock). */
  readonly appliedAt: number;
  readonly bundle: Uint8Array;
  /** Last checkpoint seen (note bytes) and when it was verified. */
  readonly checkpoint: Uint8Array;
  readonly checkpointAt: number;
  readonly checksum: Uint8Array;
}

function recordChecksum(r: Omit<StoredRecord, 'checksum'>): Uint8Array {
  const w = new Writer()
    .bytes(utf8(LABELS.trustState))
    .u8(0)
    .u8(r.v)
    .ascii(r.namespace)
    .u64(r.epoch)
    .u64(r.appliedAt)
    .u32(r.bundle.length)
    .bytes(r.bundle)
    .u32(r.checkpoint.length)
    .bytes(r.checkpoint)
    .u64(r.checkpointAt);
  return sha256(w.finish());
}

/** Shape + checksum check; `undefined` for anything else. Never throws. */
function readRecord(raw: unknown, namespace: string): StoredRecord | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  const nat = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (o.v !== RECORD_VERSION || o.namespace !== namespace) return undefined;
  if (!nat(o.epoch) || !nat(o.appliedAt) || !nat(o.checkpointAt)) return undefined;
  if (!isBytes(o.bundle) || !isBytes(o.checkpoint) || !isBytes(o.checksum)) return undefined;
  const rec: StoredRecord = {
    v: o.v,
    namespace: o.namespace,
    epoch: o.epoch,
    appliedAt: o.appliedAt,
    bundle: Uint8Array.from(o.bundle),
    checkpoint: Uint8Array.from(o.checkpoint),
    checkpointAt: o.checkpointAt,
    checksum: Uint8Array.from(o.checksum),
  };
  try {
    if (!equalBytes(recordChecksum(rec), rec.checksum)) return undefined;
  } catch {
    return undefined;
  }
  return rec;
}

interface LoadedState {
  /** The stored record's checksum (also of a discarded one, so a write can replace it). */
  readonly checksum?: Uint8Array;
  readonly epoch: number;
  readonly verified?: VerifiedBundle;
  readonly checkpoint?: Checkpoint;
  readonly checkpointNote?: Uint8Array;
  readonly checkpointAt?: number;
  readonly discarded: boolean;
  /** The verification holds for clock values in [checkedAt, recheckAt) (Unix seconds). */
  readonly checkedAt?: number;
  readonly recheckAt?: number;
}

const EMPTY: LoadedState = { epoch: 0, discarded: false };

/** Split-view evidence kept per device (distinct entries, oldest first). */
const MAX_SPLIT_VIEW_EVIDENCE = 8;

function readEvidence(raw: unknown): SplitViewEvidence[] {
  if (!Array.isArray(raw)) return [];
  const out: SplitViewEvidence[] = [];
  for (const e of raw.slice(0, MAX_SPLIT_VIEW_EVIDENCE) as unknown[]) {
    if (typeof e !== 'object' || e === null) continue;
    const o = e as Record<string, unknown>;
    if (typeof o.detectedAt !== 'number' || !Number.isSafeInteger(o.detectedAt)) continue;
    if (!isBytes(o.seen) || !isBytes(o.presented) || !isBytes(o.signedBundle)) continue;
    const proof = o.proof;
    if (proof !== null && (!Array.isArray(proof) || proof.length > MAX_PROOF_HASHES || !proof.every(isBytes))) continue;
    out.push({
      detectedAt: o.detectedAt,
      seen: { checkpoint: Uint8Array.from(o.seen) },
      presented: { checkpoint: Uint8Array.from(o.presented), signedBundle: Uint8Array.from(o.signedBundle) },
      ...(proof === null ? {} : { consistencyProof: (proof as Uint8Array[]).map((h) => Uint8Array.from(h)) }),
    });
  }
  return out;
}

function writeEvidence(e: SplitViewEvidence): StoredValue {
  return {
    detectedAt: e.detectedAt,
    seen: Uint8Array.from(e.seen.checkpoint),
    presented: Uint8Array.from(e.presented.checkpoint),
    signedBundle: Uint8Array.from(e.presented.signedBundle),
    proof: e.consistencyProof === undefined ? null : e.consistencyProof.map((h) => Uint8Array.from(h)),
  } as unknown as StoredValue;
}

const sameEvidence = (a: SplitViewEvidence, b: SplitViewEvidence): boolean =>
  equalBytes(a.seen.checkpoint, b.seen.checkpoint) && equalBytes(a.presented.checkpoint, b.presented.checkpoint);

// ---------------------------------------------------------------------------------------------

/**
 * Create a trust store.
 *
 * @example
 * ```ts
 * const trust = createTrustStore({
 *   config: {
 *     namespace: 'chat.example',
 *     witnessKeys: [{ name: 'witness.example/log', publicKey: witnessPk, notBefore: 1767225600 }],
 *     operatorKeys: [{ publicKey: operatorPk, notBefore: 1767225600 }],
 *     thresholds: { witnesses: 1, operators: 1 },
 *     pins: [{ fleetId: 'eu-1', suite: 'rfc9807/ristretto255-SHA512/argon2id-m47104-t1-p1', publicKey: eu1Key }],
 *   },
 *   store: createIndexedDbStore(),
 *   fetchBundle: async () => new Uint8Array(await (await fetch('/fleet/bundle')).arrayBuffer()),
 *   fetchConsistencyProof: (from, to) => fetchProof(from, to),
 * });
 * trust.on('change', (e) => console.log('fleet trust now at epoch', e.epoch));
 * ```
 */
export function createTrustStore(options: TrustStoreOptions): TrustStore {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { config, store } = options;
  checkTrustRoots(config);
  if (typeof store?.update !== 'function' || typeof store.get !== 'function') {
    throw new TypeError('options.store must be a KeyValueStore');
  }
  const pins: TrustedFleetEntry[] = (config.pins ?? []).map((p, i) => {
    if (typeof p.fleetId !== 'string' || typeof p.suite !== 'string') {
      throw new TypeError(`config.pins[${i}] must have fleetId and suite strings`);
    }
    abytes(p.publicKey, `config.pins[${i}].publicKey`);
    return Object.freeze({
      fleetId: p.fleetId,
      suite: p.suite,
      publicKey: Uint8Array.from(p.publicKey),
      roles: Object.freeze(['enroll', 'recover'] as FleetRole[]),
      source: 'pin' as const,
    });
  });
  const now = options.now ?? Date.now;
  const nowSec = (): number => Math.floor(now() / 1000);
  const key = options.storageKey ?? `trust/v1/${config.namespace}`;
  const evidenceKey = `${key}/split-view`;
  const listeners = new Set<(e: TrustChangeEvent) => void>();
  const forkListeners = new Set<(e: SplitViewEvidence) => void>();
  /** Evidence the store failed to persist: still handed to the app for this session. */
  const unpersisted: SplitViewEvidence[] = [];
  // The verification of a stored record holds until the bundle's window ends or a root expires.
  const rootExpiries = [...config.witnessKeys, ...config.operatorKeys].flatMap((k) => (k.notAfter === undefined ? [] : [k.notAfter]));
  let cache: LoadedState | undefined;
  let chain: Promise<unknown> = Promise.resolve();

  // Load and fully re-verify the stored record at the current clock (never at a time the record
  // itself names: anyone can write a record with a correct checksum). Any failure other than the
  // bundle's window having passed means "no bundle": pins only.
  async function load(): Promise<LoadedState> {
    const raw = await store.get<StoredValue>(key);
    if (raw === undefined) return EMPTY;
    const rec = readRecord(raw, config.namespace);
    if (rec === undefined) return { ...EMPTY, discarded: true };
    const ms = now();
    const t = Math.floor(ms / 1000);
    if (cache?.checksum && equalBytes(cache.checksum, rec.checksum) && t >= cache.checkedAt! && t < cache.recheckAt!) return cache;
    const discarded: LoadedState = { ...EMPTY, checksum: rec.checksum, discarded: true };
    try {
      const { verified, expired } = verifyBundleAt(rec.bundle, config, ms, true);
      const checkpoint = verifyLogCheckpoint(rec.checkpoint, config, t);
      if (verified.bundle.epoch !== rec.epoch) return discarded;
      const recheckAt = Math.min(expired ? Infinity : verified.bundle.notAfter, ...rootExpiries.filter((x) => x > t));
      cache = {
        checksum: rec.checksum,
        epoch: rec.epoch,
        verified,
        checkpoint,
        checkpointNote: rec.checkpoint,
        checkpointAt: rec.checkpointAt,
        discarded: false,
        checkedAt: t,
        recheckAt,
      };
      return cache;
    } catch {
      return discarded;
    }
  }

  function fleetsOf(state: LoadedState, t: number): TrustedFleetEntry[] {
    const bundle = state.verified?.bundle;
    // An expired bundle still retires what it retired (so restoring it brings nothing back), but
    // its own fleets are no longer vouched for.
    const retired = new Set(bundle?.retired ?? []);
    const out: TrustedFleetEntry[] = pins.filter((p) => !retired.has(p.fleetId));
    const live = bundle !== undefined && t < bundle.notAfter;
    for (const f of live ? bundle.fleets : []) {
      if (t < f.notBefore || t >= f.notAfter) continue;
      // A pin with the same id and key already covers it; keep the bundle's (it has roles).
      const dup = out.findIndex((p) => p.fleetId === f.fleetId && equalBytes(p.publicKey, f.publicKey));
      const entry: TrustedFleetEntry = Object.freeze({
        fleetId: f.fleetId,
        suite: f.suite,
        publicKey: Uint8Array.from(f.publicKey),
        roles: f.roles,
        source: 'bundle' as const,
        notBefore: f.notBefore,
        notAfter: f.notAfter,
      });
      if (dup >= 0) out[dup] = entry;
      else out.push(entry);
    }
    return out.map((f) => ({ ...f, publicKey: Uint8Array.from(f.publicKey) }));
  }

  /** Keep the evidence (persisted, deduplicated, capped), tell the listeners, then refuse. */
  async function splitView(current: LoadedState, next: VerifiedBundle, proof: readonly Uint8Array[] | undefined, message: string): Promise<never> {
    const evidence: SplitViewEvidence = {
      detectedAt: nowSec(),
      seen: { checkpoint: Uint8Array.from(current.checkpointNote!) },
      presented: { checkpoint: Uint8Array.from(next.checkpointNote), signedBundle: Uint8Array.from(next.bytes) },
      ...(proof === undefined ? {} : { consistencyProof: proof.map((h) => Uint8Array.from(h)) }),
    };
    try {
      await store.update<StoredValue>(evidenceKey, (old) => {
        const list = readEvidence(old);
        if (list.length >= MAX_SPLIT_VIEW_EVIDENCE || list.some((e) => sameEvidence(e, evidence))) return old;
        return [...list, evidence].map(writeEvidence);
      });
    } catch {
      // Storage failed: keep it for this session; the refusal below stands either way.
      if (!unpersisted.some((e) => sameEvidence(e, evidence))) unpersisted.push(evidence);
    }
    for (const l of [...forkListeners]) {
      try {
        l(evidence);
      } catch {
        // A listener's bug must not turn the refusal into something else.
      }
    }
    throw new BackupError('TRUST_SPLIT_VIEW', message);
  }

  async function checkConsistency(current: LoadedState, nextBundle: VerifiedBundle, proof: readonly Uint8Array[] | undefined): Promise<void> {
    const old = current.checkpoint;
    const next = nextBundle.checkpoint;
    if (old === undefined) return;
    if (old.size === next.size) {
      if (!equalBytes(old.root, next.root)) {
        await splitView(current, nextBundle, undefined, 'two checkpoints of the same size disagree: the log forked');
      }
      return;
    }
    const [a, b] = old.size < next.size ? [old, next] : [next, old];
    let p = proof;
    if (p === undefined && options.fetchConsistencyProof) p = await options.fetchConsistencyProof(a.size, b.size);
    if (p === undefined) {
      throw new BackupError('TRUST_SPLIT_VIEW', 'no consistency proof from the last checkpoint seen; refusing');
    }
    if (!Array.isArray(p) || p.length > MAX_PROOF_HASHES) {
      throw new BackupError('TRUST_MALFORMED', 'consistency proof is too long', { limit: MAX_PROOF_HASHES });
    }
    if (!p.every(isBytes) || !verifyConsistency(a.size, b.size, p, a.root, b.root)) {
      await splitView(current, nextBundle, p.filter(isBytes), 'the new checkpoint is not consistent with the last one seen');
    }
  }

  async function apply(bytes: Uint8Array, opts: ApplyBundleOptions): Promise<TrustChangeEvent> {
    abytes(bytes, 'bytes');
    const t = now();
    const verified = verifySignedBundle(bytes, config, t);
    // Check against the stored state, then write only if that state is still the stored one
    // (compare-and-swap on the record's checksum inside one atomic update). If another tab wrote
    // in between, start over from its state: its epoch and checkpoint must be checked too.
    for (let attempt = 0; attempt < 4; attempt++) {
      const current = await load();
      if (verified.bundle.epoch <= current.epoch) {
        throw new BackupError('TRUST_ROLLBACK', `bundle epoch ${verified.bundle.epoch} is not above ${current.epoch}`);
      }
      await checkConsistency(current, verified, opts.consistencyProof);
      // Keep whichever checkpoint is larger: the last one seen only ever moves forward.
      const keepOld = current.checkpoint !== undefined && current.checkpoint.size > verified.checkpoint.size;
      const sec = Math.floor(t / 1000);
      const body = {
        v: RECORD_VERSION,
        namespace: config.namespace,
        epoch: verified.bundle.epoch,
        appliedAt: sec,
        bundle: Uint8Array.from(bytes),
        checkpoint: keepOld ? current.checkpointNote! : verified.checkpointNote,
        checkpointAt: keepOld ? current.checkpointAt! : sec,
      };
      const record: StoredRecord = { ...body, checksum: recordChecksum(body) };
      let raced = false;
      await store.update<StoredValue>(key, (old) => {
        const prev = readRecord(old, config.namespace);
        const unchanged =
          prev === undefined ? current.checksum === undefined : current.checksum !== undefined && equalBytes(prev.checksum, current.checksum);
        if (!unchanged) {
          raced = true;
          return old;
        }
        return { ...record } as unknown as StoredValue;
      });
      if (raced) {
        cache = undefined;
        continue;
      }
      // We just verified exactly what we wrote: prime the cache (keyed by the record's checksum)
      // so the reload below does not verify it a second time.
      cache = {
        checksum: record.checksum,
        epoch: record.epoch,
        verified,
        checkpoint: keepOld ? current.checkpoint! : verified.checkpoint,
        checkpointNote: record.checkpoint,
        checkpointAt: record.checkpointAt,
        discarded: false,
        checkedAt: sec,
        recheckAt: Math.min(verified.bundle.notAfter, ...rootExpiries.filter((x) => x > sec)),
      };
      return emitChange(verified);
    }
    throw new BackupError('TRUST_ROLLBACK', 'the trust state kept changing underneath; try again');
  }

  async function emitChange(verified: VerifiedBundle): Promise<TrustChangeEvent> {
    const state = await load();
    const event: TrustChangeEvent = {
      epoch: verified.bundle.epoch,
      fleets: fleetsOf(state, nowSec()),
      retired: verified.bundle.retired,
    };
    for (const l of [...listeners]) {
      try {
        l(event);
      } catch {
        // A listener's bug must not undo or hide an applied trust change.
      }
    }
    return event;
  }

  const serialized = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn, fn);
    chain = p.catch(() => undefined);
    return p;
  };

  const findTrusted = async (fleetId: string, publicKey: Uint8Array) =>
    fleetsOf(await load(), nowSec()).find((f) => f.fleetId === fleetId && equalBytes(f.publicKey, publicKey));

  return {
    async trustedFleets() {
      return fleetsOf(await load(), nowSec());
    },
    async resolveUnknown(fleetId, publicKey) {
      if (typeof fleetId !== 'string') throw new TypeError('fleetId must be a string');
      abytes(publicKey, 'publicKey');
      const known = await findTrusted(fleetId, publicKey);
      if (known || !options.fetchBundle) return known;
      const bytes = await options.fetchBundle(fleetId, Uint8Array.from(publicKey));
      if (bytes === undefined) return undefined;
      try {
        await serialized(() => apply(bytes, {}));
      } catch (e) {
        // An old or current bundle is not news; anything else is an attack or a broken
        // publisher, and the caller must see it.
        if (!isBackupError(e, 'TRUST_ROLLBACK')) throw e;
      }
      return findTrusted(fleetId, publicKey);
    },
    async refresh() {
      if (!options.fetchBundle) return false;
      const bytes = await options.fetchBundle();
      if (bytes === undefined) return false;
      try {
        await serialized(() => apply(bytes, {}));
        return true;
      } catch (e) {
        if (isBackupError(e, 'TRUST_ROLLBACK')) return false;
        throw e;
      }
    },
    applyBundle(bytes, opts = {}) {
      return serialized(() => apply(bytes, opts));
    },
    async state() {
      const s = await load();
      return {
        epoch: s.epoch,
        ...(s.verified ? { bundle: s.verified.bundle } : {}),
        ...(s.checkpoint
          ? { checkpoint: { origin: s.checkpoint.origin, size: s.checkpoint.size, root: Uint8Array.from(s.checkpoint.root) } }
          : {}),
        discardedCorruptState: s.discarded,
        bundleExpired: s.verified !== undefined && nowSec() >= s.verified.bundle.notAfter,
      };
    },
    async splitViewEvidence() {
      const kept = readEvidence(await store.get<StoredValue>(evidenceKey));
      return [...kept, ...unpersisted.filter((e) => !kept.some((k) => sameEvidence(k, e)))];
    },
    on(type: 'change' | 'split-view', listener: ((e: TrustChangeEvent) => void) | ((e: SplitViewEvidence) => void)) {
      if (typeof listener !== 'function') throw new TypeError('listener must be a function');
      if (type === 'change') {
        const l = listener as (e: TrustChangeEvent) => void;
        listeners.add(l);
        return () => listeners.delete(l);
      }
      if (type === 'split-view') {
        const l = listener as (e: SplitViewEvidence) => void;
        forkListeners.add(l);
        return () => forkListeners.delete(l);
      }
      throw new RangeError(`unknown event type ${String(type)}`);
    },
  };
}
