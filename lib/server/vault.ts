/**
 * The reference vault: an OPAQUE server with a durable per-account guess counter and an escrow,
 * as a fetch-style handler `(Request) => Promise<Response>` (docs/PROTOCOL.md).
 *
 * Production vaults run this logic inside HSMs with majority-consensus replication (WhatsApp's and
 * Messenger's Backup Key Vaults); this one shows the contract, serves the demo and the tests, and
 * keeps all state behind the {@link VaultStore} compare-and-swap contract, so several processes
 * sharing one linearizable store (etcd) still spend exactly one guess per attempt.
 *
 * Rules it enforces:
 * - a guess is spent by one durable CAS **before** KE2 leaves the vault; a store that cannot
 *   confirm the write gives `VAULT_UNAVAILABLE` and no KE2;
 * - a verified KE3 resets the counter and releases the escrow, sealed again under a key from the
 *   OPAQUE session key; the pending login is deleted in the same CAS, so a replayed KE3 is refused;
 * - at zero guesses with no login left in flight, record and escrow are erased and every later
 *   call says `LOCKED_OUT`;
 * - a record is replaced only with a grant from a login that just proved the old code, or by an
 *   explicit reset that destroys the old escrow;
 * - a retried request with the same attempt id never spends a second guess.
 *
 * @module
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { BackupError, isBackupError, type BackupErrorCode } from '../errors.js';
import { LABELS } from '../labels.js';
// Evaluated for its registration with the lazy front, so a vault still running the superseded
// opaque-ts suite (`opaqueTsSuite()` from any entry) builds its server synchronously.
import '../recovery/opaque/opaque-ts.js';
// Likewise the RFC 9807 P-256 group and scrypt (in browsers: e2ee-backup/rfc9807-extras).
import '../recovery/opaque/rfc9807-p256.js';
import '../recovery/opaque/rfc9807-scrypt.js';
import { rfc9807Suite } from '../recovery/opaque/rfc9807.js';
import type { OpaqueServer, OpaqueSuite } from '../recovery/opaque/suite.js';
import {
  ATTEMPT_ID_BYTES,
  ByteReader,
  ByteWriter,
  GRANT_BYTES,
  MAX_ESCROW_BYTES,
  MAX_GUESS_LIMIT,
  MAX_MESSAGE_BYTES,
  MAX_OPAQUE_FIELD_BYTES,
  checkFleetId,
  encodeVaultResponse,
  opaqueBinding,
  parseVaultRequest,
  registrationKeys,
  registrationMac,
  sealEscrowTransport,
  verifyRegistrationMac,
  type LoginIntent,
  type RegistrationKeys,
  type EnrollMode,
  type MessageHeader,
  type VaultRequest,
  type VaultResponse,
} from '../recovery/protocol.js';
import { abytes, concatBytes, equalBytes, secureRandom, utf8, wipe, type RandomSource } from '../util/bytes.js';
import { bodyStream, readStreamCapped } from '../util/body.js';
import type { VaultStore, Versioned } from './vault-store.js';

/** A fetch-style HTTP handler. */
export type FetchHandler = (request: Request) => Promise<Response>;

/** Options of {@link createVaultHandler}. */
export interface VaultHandlerOptions {
  /** The fleet this vault serves; requests naming another fleet are refused. */
  readonly fleetId: string;
  /** The OPAQUE server setup (secret: OPRF seed and private key), from {@link generateVaultSetup}. */
  readonly setup: Uint8Array;
  /** Durable, linearizable CAS store for account state. */
  readonly store: VaultStore;
  /** Maps a bearer token to the account it authorizes, or `undefined` to refuse it. */
  readonly verifyToken: (token: string) => Promise<string | undefined>;
  /** OPAQUE suite (default: `rfc9807Suite()`, RFC 9807 ristretto255-SHA512 with Argon2id; docs/PROTOCOL.md §Suites). */
  readonly suite?: OpaqueSuite;
  /** Guesses per account between two successful logins (default 10, at most 1000). */
  readonly guessLimit?: number;
  /** How long a login may wait for its KE3, in ms (default 120 000). */
  readonly loginTtlMs?: number;
  /** How long a change-code grant stays valid, in ms (default 300 000). */
  readonly grantTtlMs?: number;
  /** How long a registration ticket (register-init to register-finish) stays valid, in ms (default 300 000). */
  readonly registrationTtlMs?: number;
  /**
   * How often this process erases accounts whose last guess was left pending, in ms (default
   * 10 000; 0: no timer, call {@link VaultHandler.sweep} yourself). Record and escrow are gone at
   * most `loginTtlMs + sweepIntervalMs` after the last guess is spent, with no further call
   * (docs/PROTOCOL.md §6, "Erasure").
   */
  readonly sweepIntervalMs?: number;
  /** Clock in ms since the epoch (default `Date.now`). */
  readonly now?: () => number;
  /** Randomness (default WebCrypto). */
  readonly random?: RandomSource;
}

/**
 * The vault's fetch-style handler, with its erasure sweeper.
 *
 * @example
 * ```ts
 * const handler = createVaultHandler({ fleetId, setup, store, verifyToken });
 * const served = await serveHandler(handler, { port: 0 });
 * process.once('SIGTERM', () => { handler.close(); void served.close(); });
 * ```
 */
export interface VaultHandler extends FetchHandler {
  /**
   * Erase every queued account whose last guess has expired unanswered (what the timer does every
   * `sweepIntervalMs`); resolves with the number of accounts erased.
   */
  sweep(): Promise<number>;
  /** Stop the sweep timer (the handler still answers requests). */
  close(): void;
}

/** A vault's secret setup and its public key (what fleet trust pins). */
export interface VaultSetup {
  /** Secret: keep it in the HSM / secret store. */
  readonly setup: Uint8Array;
  /** The OPAQUE server public key clients must trust for this fleet. */
  readonly publicKey: Uint8Array;
}

/**
 * Make a fresh vault setup (OPRF seed and AKE key pair) for a suite.
 *
 * @example
 * ```ts
 * const { setup, publicKey } = await generateVaultSetup();
 * const trust = pinnedFleets([{ fleetId: 'fleet-1', suite: RFC9807_DEFAULT_SUITE_ID, publicKey }]);
 * ```
 */
export async function generateVaultSetup(suite: OpaqueSuite = rfc9807Suite()): Promise<VaultSetup> {
  const setup = await suite.generateServerSetup();
  return { setup, publicKey: suite.setupPublicKey(setup) };
}

// ---------------------------------------------------------------------------------------------
// Account state: one value per account, so every change is ONE compare-and-swap.

const STATE_MAGIC = Uint8Array.of(0x45, 0x32, 0x56, 0x41); // "E2VA"
const STATE_VERSION = 3;
/** Logins in flight per account; the oldest is dropped beyond this (its guess stays spent). */
const MAX_PENDING = 16;
/** Finished attempt ids remembered per account, so a retry is recognized, not re-run. */
const MAX_DONE = 32;
const MAX_CAS_ATTEMPTS = 64;
const SEALED_EXPECTED_MAX = 24 + 256 + 16;
const OPRF_SALT_BYTES = 32;

type Outcome = 'success' | 'wrong' | 'aborted' | 'expired';
const OUTCOMES: readonly Outcome[] = ['success', 'wrong', 'aborted', 'expired'];
const ENROLL_MODES: readonly EnrollMode[] = ['new', 'replace', 'reset'];

/** What a registration ticket carries, sealed (docs/PROTOCOL.md §4.2). */
interface Ticket {
  mode: EnrollMode;
  epoch: number;
  expiresAt: number;
  oprfSalt: Uint8Array;
  /** The registration's finish key (docs/PROTOCOL.md §3.1): register-finish must carry its MAC. */
  finishKey: Uint8Array;
}

interface PendingLogin {
  attemptId: Uint8Array;
  /** What login-init asked for (bound into the AKE context); login-finish must say the same, or abort. */
  intent: Exclude<LoginIntent, 'abort'>;
  ke1Hash: Uint8Array;
  ke2: Uint8Array;
  /** nonce ‖ XChaCha20-Poly1305(pending key, OPAQUE expected state). */
  sealedExpected: Uint8Array;
  createdAt: number;
  guessesRemaining: number;
}

/**
 * `enrolled`; `locked-out` (tombstone: record and escrow erased); `removed` (tombstone after
 * `remove`: reads as not enrolled). Both tombstones keep the epoch, so no ticket issued before
 * them can ever land (docs/PROTOCOL.md §6).
 */
type AccountStatus = 'enrolled' | 'locked-out' | 'removed';
const STATUSES: readonly AccountStatus[] = ['enrolled', 'locked-out', 'removed'];

interface AccountState {
  status: AccountStatus;
  /**
   * Enrollment epoch: +1 at every registration that lands, every lockout and every removal. A
   * registration ticket names the epoch it was issued at and is accepted only at that epoch, so
   * each ticket is single-use and dies with any later enrollment event (issue 13, finding 1).
   */
  epoch: number;
  guessLimit: number;
  guessesRemaining: number;
  enrolledBy: Uint8Array;
  /** Random per registration; part of the OPRF credential identifier (docs/PROTOCOL.md §6). */
  oprfSalt: Uint8Array;
  record: Uint8Array;
  escrow: Uint8Array;
  grantHash: Uint8Array;
  grantExpiresAt: number;
  pending: PendingLogin[];
  done: { attemptId: Uint8Array; outcome: Outcome }[];
}

function corrupt(message: string): Error {
  return new BackupError('VAULT_UNAVAILABLE', `stored account state is corrupt: ${message}`);
}

/** @internal Encode an account state (docs/PROTOCOL.md §Vault state). */
export function encodeAccountState(s: AccountState): Uint8Array {
  const w = new ByteWriter()
    .raw(STATE_MAGIC)
    .u8(STATE_VERSION)
    .u8(STATUSES.indexOf(s.status))
    .u64(s.epoch)
    .u32(s.guessLimit)
    .u32(s.guessesRemaining)
    .raw(s.enrolledBy)
    .field(s.oprfSalt)
    .field(s.record)
    .field(s.escrow)
    .field(s.grantHash)
    .u64(s.grantExpiresAt)
    .u8(s.pending.length);
  for (const p of s.pending) {
    w.raw(p.attemptId).u8(p.intent === 'change' ? 1 : 0).raw(p.ke1Hash).field(p.ke2).field(p.sealedExpected).u64(p.createdAt).u32(p.guessesRemaining);
  }
  w.u8(s.done.length);
  for (const d of s.done) w.raw(d.attemptId).u8(OUTCOMES.indexOf(d.outcome));
  return w.finish();
}

/** @internal Decode an account state; a corrupt value is `VAULT_UNAVAILABLE` (never guessed around). */
export function decodeAccountState(b: Uint8Array): AccountState {
  const r = new ByteReader(b, corrupt);
  const magic = r.bytes(4, 'magic');
  if (!equalBytes(magic, STATE_MAGIC) || r.u8('version') !== STATE_VERSION) throw corrupt('unknown format');
  const status = STATUSES[r.u8('status')];
  if (status === undefined) throw corrupt('status');
  const epoch = r.u64('epoch');
  const guessLimit = r.u32Max(MAX_GUESS_LIMIT, 'guessLimit');
  const guessesRemaining = r.u32Max(guessLimit, 'guessesRemaining');
  const enrolledBy = r.bytes(ATTEMPT_ID_BYTES, 'enrolledBy');
  const oprfSalt = r.field(OPRF_SALT_BYTES, 'oprfSalt');
  const record = r.field(MAX_OPAQUE_FIELD_BYTES, 'record');
  const escrow = r.field(MAX_ESCROW_BYTES, 'escrow');
  const grantHash = r.field(32, 'grantHash');
  const grantExpiresAt = r.u64('grantExpiresAt');
  const np = r.u8('pending count');
  if (np > MAX_PENDING) throw corrupt('pending count');
  const pending: PendingLogin[] = [];
  for (let i = 0; i < np; i++) {
    const attemptId = r.bytes(ATTEMPT_ID_BYTES, 'attemptId');
    const intent = r.u8('intent');
    if (intent > 1) throw corrupt('intent');
    pending.push({
      attemptId,
      intent: intent === 1 ? 'change' : 'recover',
      ke1Hash: r.bytes(32, 'ke1Hash'),
      ke2: r.field(MAX_OPAQUE_FIELD_BYTES, 'ke2'),
      sealedExpected: r.field(SEALED_EXPECTED_MAX, 'sealedExpected'),
      createdAt: r.u64('createdAt'),
      guessesRemaining: r.u32Max(MAX_GUESS_LIMIT, 'guessesRemaining'),
    });
  }
  const nd = r.u8('done count');
  if (nd > MAX_DONE) throw corrupt('done count');
  const done: AccountState['done'] = [];
  for (let i = 0; i < nd; i++) {
    const attemptId = r.bytes(ATTEMPT_ID_BYTES, 'attemptId');
    const outcome = OUTCOMES[r.u8('outcome')];
    if (outcome === undefined) throw corrupt('outcome');
    done.push({ attemptId, outcome });
  }
  r.end();
  return { status, epoch, guessLimit, guessesRemaining, enrolledBy, oprfSalt, record, escrow, grantHash, grantExpiresAt, pending, done };
}

function tombstone(s: AccountState, status: 'locked-out' | 'removed' = 'locked-out'): void {
  // Lockout: the OPAQUE record and the escrow are gone for good (DESIGN.md "Escrow"). The epoch
  // moves on (and stays in the tombstone), so no registration ticket issued before can land.
  wipe(s.record, s.escrow);
  s.status = status;
  s.epoch += 1;
  s.guessesRemaining = 0;
  s.record = new Uint8Array(0);
  s.escrow = new Uint8Array(0);
  s.oprfSalt = new Uint8Array(0);
  s.grantHash = new Uint8Array(0);
  s.grantExpiresAt = 0;
  s.pending = [];
  if (status === 'removed') s.done = [];
}

/** The state of an account the vault has never seen (epoch 0), as a base for a removal tombstone. */
function emptyState(): AccountState {
  return {
    status: 'removed',
    epoch: 0,
    guessLimit: 0,
    guessesRemaining: 0,
    enrolledBy: new Uint8Array(ATTEMPT_ID_BYTES),
    oprfSalt: new Uint8Array(0),
    record: new Uint8Array(0),
    escrow: new Uint8Array(0),
    grantHash: new Uint8Array(0),
    grantExpiresAt: 0,
    pending: [],
    done: [],
  };
}

function remember(s: AccountState, attemptId: Uint8Array, outcome: Outcome): void {
  s.done.push({ attemptId, outcome });
  while (s.done.length > MAX_DONE) s.done.shift();
}

// ---------------------------------------------------------------------------------------------
// HTTP mapping.

const HTTP_STATUS: Partial<Record<BackupErrorCode, number>> = {
  PROTOCOL: 400,
  UNAUTHORIZED: 401,
  WRONG_CODE: 403,
  NOT_ENROLLED: 404,
  ALREADY_ENROLLED: 409,
  LOCKED_OUT: 410,
  REPLAYED: 409,
  VAULT_UNAVAILABLE: 503,
};

interface Answer {
  status: number;
  body: VaultResponse;
}

type ResponseBody = VaultResponse extends infer R ? (R extends { type: infer _T } ? Omit<R, keyof MessageHeader> : never) : never;

function answer(h: MessageHeader, body: ResponseBody, status = 200): Answer {
  return { status, body: { ...h, ...body } as VaultResponse };
}

function fail(h: MessageHeader, code: BackupErrorCode, extra: { guessesRemaining?: number; retryAfterMs?: number } = {}): Answer {
  return answer(h, { type: 'error', code, ...extra }, HTTP_STATUS[code] ?? 400);
}

function toResponse(a: Answer): Response {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' };
  if (a.body.type === 'error' && a.body.retryAfterMs !== undefined) {
    headers['retry-after'] = String(Math.ceil(a.body.retryAfterMs / 1000));
  }
  return new Response(encodeVaultResponse(a.body) as Uint8Array<ArrayBuffer>, { status: a.status, headers });
}

/**
 * The request body, at most `max` bytes; `undefined` (a `PROTOCOL` answer) when over. A
 * `content-length` that is not all digits, or larger than `max`, is refused before reading.
 */
async function readCapped(req: Request, max: number): Promise<Uint8Array | undefined> {
  const len = req.headers.get('content-length');
  if (len !== null && (!/^\d+$/.test(len) || Number(len) > max)) return undefined;
  return readStreamCapped(bodyStream(req), max);
}

// ---------------------------------------------------------------------------------------------

/**
 * The reference vault as a fetch-style handler. Serves `POST …/v1/vault` with the binary messages
 * of docs/PROTOCOL.md and a bearer token in `Authorization`.
 *
 * @example
 * ```ts
 * const { setup, publicKey } = await generateVaultSetup();
 * const handler = createVaultHandler({
 *   fleetId: 'fleet-1', setup, store: createMemoryVaultStore(),
 *   verifyToken: async (t) => sessions.get(t), // accountId or undefined
 * });
 * const server = await serveHandler(handler, { port: 0 });
 * ```
 */
export function createVaultHandler(options: VaultHandlerOptions): VaultHandler {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const fleetId = checkFleetId(options.fleetId, 'options.fleetId');
  abytes(options.setup, 'options.setup');
  const store = options.store;
  if (typeof store?.get !== 'function' || typeof store.compareAndSwap !== 'function') {
    throw new TypeError('options.store must be a VaultStore');
  }
  if (typeof options.verifyToken !== 'function') throw new TypeError('options.verifyToken must be a function');
  const verifyToken = options.verifyToken;
  const suite = options.suite ?? rfc9807Suite();
  const guessLimit = options.guessLimit ?? 10;
  if (!Number.isInteger(guessLimit) || guessLimit < 1 || guessLimit > MAX_GUESS_LIMIT) {
    throw new RangeError(`options.guessLimit must be an integer in 1..${MAX_GUESS_LIMIT}`);
  }
  const loginTtlMs = options.loginTtlMs ?? 120_000;
  const grantTtlMs = options.grantTtlMs ?? 300_000;
  const registrationTtlMs = options.registrationTtlMs ?? 300_000;
  for (const [name, v] of [['loginTtlMs', loginTtlMs], ['grantTtlMs', grantTtlMs], ['registrationTtlMs', registrationTtlMs]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`options.${name} must be a positive integer`);
  }
  const sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs < 0) throw new RangeError('options.sweepIntervalMs must be a non-negative integer');
  const now = options.now ?? Date.now;
  const random = options.random ?? secureRandom;
  const publicKey = suite.setupPublicKey(options.setup);
  const serverIdentity = opaqueBinding(fleetId, suite.id, 'server', publicKey).serverIdentity;
  const opaque: OpaqueServer = suite.server(options.setup, { serverIdentity });
  // Pending logins are sealed in the store: the store (etcd, a disk) never holds an OPAQUE
  // session key or expected MAC in the clear.
  const pendingKey = hkdf(sha256, options.setup, new Uint8Array(0), utf8(LABELS.vaultPendingLogin), 32);
  const ticketKey = hkdf(sha256, options.setup, new Uint8Array(0), utf8(LABELS.vaultRegistrationTicket), 32);

  const storeKey = (accountId: string): string => `e2ee-backup/v1/vault/${fleetId}/account/${encodeURIComponent(accountId)}`;
  const pendingAad = (accountId: string, attemptId: Uint8Array): Uint8Array =>
    concatBytes(utf8(`${LABELS.vaultPendingLogin}\0${fleetId}\0${accountId}\0`), attemptId);

  function sealExpected(accountId: string, attemptId: Uint8Array, expected: Uint8Array): Uint8Array {
    const nonce = abytes(random(24), 'random(24)', 24);
    return concatBytes(nonce, xchacha20poly1305(pendingKey, nonce, pendingAad(accountId, attemptId)).encrypt(expected));
  }

  const ticketAad = (accountId: string, attemptId: Uint8Array): Uint8Array =>
    concatBytes(utf8(`${LABELS.vaultRegistrationTicket}\0${fleetId}\0${accountId}\0`), attemptId);

  /**
   * A registration ticket: sealed to this vault, bound to the account and attempt (associated
   * data), and naming the mode, the account's enrollment epoch at issue, a deadline and the fresh
   * OPRF salt register-init evaluated under (docs/PROTOCOL.md §4.2). register-finish is accepted
   * only with its own attempt's ticket, in the same mode, before the deadline, at the same epoch;
   * the epoch moves on when it lands, so the ticket is single-use.
   */
  function sealTicket(accountId: string, attemptId: Uint8Array, t: Ticket): Uint8Array {
    const nonce = abytes(random(24), 'random(24)', 24);
    const plain = new ByteWriter().u8(ENROLL_MODES.indexOf(t.mode)).u64(t.epoch).u64(t.expiresAt).raw(t.oprfSalt).raw(t.finishKey).finish();
    try {
      return concatBytes(nonce, xchacha20poly1305(ticketKey, nonce, ticketAad(accountId, attemptId)).encrypt(plain));
    } finally {
      wipe(plain);
    }
  }

  function openTicket(accountId: string, attemptId: Uint8Array, ticket: Uint8Array): Ticket {
    let plain: Uint8Array;
    try {
      plain = xchacha20poly1305(ticketKey, ticket.subarray(0, 24), ticketAad(accountId, attemptId)).decrypt(ticket.subarray(24));
    } catch {
      throw new BackupError('PROTOCOL', 'registration ticket does not authenticate');
    }
    const bad = (): Error => new BackupError('PROTOCOL', 'registration ticket is malformed');
    const r = new ByteReader(plain, bad);
    const mode = ENROLL_MODES[r.u8('mode')];
    if (mode === undefined) throw bad();
    const t: Ticket = {
      mode,
      epoch: r.u64('epoch'),
      expiresAt: r.u64('expiresAt'),
      oprfSalt: r.bytes(OPRF_SALT_BYTES, 'oprfSalt'),
      finishKey: r.bytes(32, 'finishKey'),
    };
    r.end();
    wipe(plain);
    return t;
  }

  function openExpected(accountId: string, attemptId: Uint8Array, sealed: Uint8Array): Uint8Array {
    try {
      return xchacha20poly1305(pendingKey, sealed.subarray(0, 24), pendingAad(accountId, attemptId)).decrypt(sealed.subarray(24));
    } catch {
      throw corrupt('pending login does not authenticate');
    }
  }

  /** Expire logins that waited too long; at zero guesses with none in flight, erase. */
  function settle(s: AccountState, t: number): boolean {
    if (s.status !== 'enrolled') return false;
    let changed = false;
    const live: PendingLogin[] = [];
    for (const p of s.pending) {
      if (t - p.createdAt > loginTtlMs) {
        remember(s, p.attemptId, 'expired');
        changed = true;
      } else live.push(p);
    }
    s.pending = live;
    if (s.grantHash.length > 0 && t > s.grantExpiresAt) {
      s.grantHash = new Uint8Array(0);
      s.grantExpiresAt = 0;
      changed = true;
    }
    if (s.guessesRemaining === 0 && s.pending.length === 0) {
      tombstone(s);
      changed = true;
    }
    return changed;
  }

  interface Step {
    /** `undefined`: no write; `null`: delete; else the new state. */
    write?: AccountState | null;
    result: Answer;
  }

  /**
   * Read-modify-CAS loop. `step` is re-run from a fresh read on every version conflict, so each
   * committed change is computed from the state it replaces (no lost update, no free guess).
   */
  async function transact(accountId: string, step: (s: AccountState | undefined, t: number) => Promise<Step>): Promise<Answer> {
    const key = storeKey(accountId);
    for (let i = 0; i < MAX_CAS_ATTEMPTS; i++) {
      let cur: Versioned | undefined;
      try {
        cur = await store.get(key);
      } catch (e) {
        throw new BackupError('VAULT_UNAVAILABLE', 'the vault store cannot be read', { cause: e });
      }
      const state = cur === undefined ? undefined : decodeAccountState(cur.value);
      const { write, result } = await step(state, now());
      if (write === undefined) return result;
      let ok: boolean;
      try {
        ok = await store.compareAndSwap(key, cur?.version ?? null, write === null ? null : encodeAccountState(write));
      } catch (e) {
        // Durability unknown: never answer as if the guess were recorded.
        throw new BackupError('VAULT_UNAVAILABLE', 'the vault store cannot confirm a durable write', { cause: e });
      }
      if (ok) return result;
    }
    throw new BackupError('VAULT_UNAVAILABLE', 'too much contention on this account', { retryAfterMs: 1000 });
  }

  const settled = (s: AccountState, t: number): AccountState | undefined => (settle(s, t) ? s : undefined);

  // -------------------------------------------------------------------------------------------
  // Erasure queue (issue 13, finding 4). An account whose last guess is spent is put in a durable
  // queue BEFORE that guess's KE2 can leave, so any vault process sharing the store erases it once
  // the pending login expires, without waiting for the account's next call. One store key per
  // fleet: it changes only when a last guess is spent and when a sweep erases.
  const queueKey = `e2ee-backup/v1/vault/${fleetId}/erasure-queue`;
  const QUEUE_MAGIC = utf8('E2EQ\x01');
  const MAX_QUEUE = 4096;

  function decodeQueue(b: Uint8Array | undefined): string[] {
    if (b === undefined) return [];
    if (b.length < QUEUE_MAGIC.length || !equalBytes(b.subarray(0, QUEUE_MAGIC.length), QUEUE_MAGIC)) throw corrupt('erasure queue');
    const body = b.subarray(QUEUE_MAGIC.length);
    if (body.length === 0) return [];
    const ids = String.fromCharCode(...body).split('\n');
    if (ids.length > MAX_QUEUE || ids.some((id) => !/^[\x21-\x7e]{1,128}$/.test(id))) throw corrupt('erasure queue');
    return ids;
  }
  const encodeQueue = (ids: readonly string[]): Uint8Array => concatBytes(QUEUE_MAGIC, utf8(ids.join('\n')));

  /** Change the queue with one CAS (re-read on conflict); a store that cannot confirm rejects. */
  async function updateQueue(f: (ids: string[]) => string[] | undefined): Promise<void> {
    for (let i = 0; i < MAX_CAS_ATTEMPTS; i++) {
      let cur: Versioned | undefined;
      try {
        cur = await store.get(queueKey);
      } catch (e) {
        throw new BackupError('VAULT_UNAVAILABLE', 'the vault store cannot be read', { cause: e });
      }
      const next = f(decodeQueue(cur?.value));
      if (next === undefined) return;
      let ok: boolean;
      try {
        ok = await store.compareAndSwap(queueKey, cur?.version ?? null, next.length === 0 ? null : encodeQueue(next));
      } catch (e) {
        throw new BackupError('VAULT_UNAVAILABLE', 'the vault store cannot confirm a durable write', { cause: e });
      }
      if (ok) return;
    }
    throw new BackupError('VAULT_UNAVAILABLE', 'too much contention on the erasure queue', { retryAfterMs: 1000 });
  }

  const enqueue = (accountId: string): Promise<void> =>
    updateQueue((ids) => {
      if (ids.includes(accountId)) return undefined;
      // Full: refuse the last guess (VAULT_UNAVAILABLE) rather than hand out one we cannot erase.
      if (ids.length >= MAX_QUEUE) throw new BackupError('VAULT_UNAVAILABLE', 'erasure queue is full', { retryAfterMs: 1000 });
      return [...ids, accountId];
    });

  let sweeping: Promise<number> | undefined;
  async function sweepOnce(): Promise<number> {
    let ids: string[];
    try {
      ids = decodeQueue((await store.get(queueKey))?.value);
    } catch (e) {
      throw new BackupError('VAULT_UNAVAILABLE', 'the vault store cannot be read', { cause: e });
    }
    let erased = 0;
    const finished: string[] = [];
    // transact() wants an answer; a sweep sends none.
    const placeholderAnswer = fail(placeholder(), 'PROTOCOL');
    for (const accountId of ids) {
      let open = false;
      let lockedOut = false;
      try {
        await transact(accountId, async (s, t) => {
          open = false;
          lockedOut = false;
          if (s === undefined || s.status !== 'enrolled') return { result: placeholderAnswer };
          const changed = settled(s, t);
          lockedOut = (s.status as AccountState['status']) === 'locked-out';
          // Still waiting for a pending last guess: keep it queued.
          open = !lockedOut && s.guessesRemaining === 0;
          return { write: changed, result: placeholderAnswer };
        });
      } catch {
        // This account cannot be settled now (store unavailable, corrupt value): keep it queued,
        // and go on with the others.
        continue;
      }
      if (lockedOut) erased++;
      if (!open) finished.push(accountId);
    }
    if (finished.length > 0) await updateQueue((cur) => cur.filter((id) => !finished.includes(id)));
    return erased;
  }
  /** One sweep at a time per process; a caller during a sweep gets that sweep's result. */
  const sweep = (): Promise<number> => {
    sweeping ??= sweepOnce().finally(() => {
      sweeping = undefined;
    });
    return sweeping;
  };

  async function loginInit(m: Extract<VaultRequest, { type: 'login-init' }>): Promise<Answer> {
    let memo: { record: Uint8Array; ke2: Uint8Array; expected: Uint8Array } | undefined;
    let queued = false;
    // A retry must repeat the attempt exactly: the same KE1 for the same intent.
    const ke1Hash = sha256(concatBytes(Uint8Array.of(m.intent === 'change' ? 1 : 0), m.ke1));
    try {
      return await transact(m.accountId, async (s, t) => {
        if (s === undefined || s.status === 'removed') return { result: fail(m, 'NOT_ENROLLED') };
        const changed = settled(s, t);
        if (s.status === 'locked-out') return { write: changed, result: fail(m, 'LOCKED_OUT', { guessesRemaining: 0 }) };
        const p = s.pending.find((x) => equalBytes(x.attemptId, m.attemptId));
        if (p !== undefined) {
          // A retry of an attempt already answered: the same KE2, no second guess.
          if (!equalBytes(p.ke1Hash, ke1Hash)) return { write: changed, result: fail(m, 'PROTOCOL') };
          return {
            write: changed,
            result: answer(m, { type: 'login-response', guessesRemaining: p.guessesRemaining, serverPublicKey: publicKey, ke2: p.ke2 }),
          };
        }
        if (s.done.some((d) => equalBytes(d.attemptId, m.attemptId))) return { write: changed, result: fail(m, 'PROTOCOL') };
        if (s.guessesRemaining === 0) {
          // The last guesses are in flight in other logins; nothing is left for this one.
          return { write: changed, result: fail(m, 'LOCKED_OUT', { guessesRemaining: 0 }) };
        }
        // The last guess: queue the account for erasure first, durably, so that if this login is
        // never finished the record and escrow go within loginTtlMs + sweepIntervalMs.
        if (s.guessesRemaining === 1 && !queued) {
          await enqueue(m.accountId);
          queued = true;
        }
        if (memo === undefined || !equalBytes(memo.record, s.record)) {
          if (memo) wipe(memo.expected);
          // The intent is in the AKE context: KE2's MAC and the KE3 we will accept cover it.
          const binding = opaqueBinding(fleetId, suite.id, m.accountId, publicKey, s.oprfSalt, m.intent);
          const { ke2, expected } = await opaque.startLogin(m.ke1, s.record, binding);
          memo = { record: s.record, ke2, expected };
        }
        s.guessesRemaining -= 1;
        s.pending.push({
          attemptId: m.attemptId,
          intent: m.intent,
          ke1Hash,
          ke2: memo.ke2,
          sealedExpected: sealExpected(m.accountId, m.attemptId, memo.expected),
          createdAt: t,
          guessesRemaining: s.guessesRemaining,
        });
        while (s.pending.length > MAX_PENDING) remember(s, s.pending.shift()!.attemptId, 'expired');
        return {
          write: s,
          result: answer(m, { type: 'login-response', guessesRemaining: s.guessesRemaining, serverPublicKey: publicKey, ke2: memo.ke2 }),
        };
      });
    } finally {
      if (memo) wipe(memo.expected);
    }
  }

  async function loginFinish(m: Extract<VaultRequest, { type: 'login-finish' }>): Promise<Answer> {
    return transact(m.accountId, async (s, t) => {
      if (s === undefined || s.status === 'removed') return { result: fail(m, 'NOT_ENROLLED') };
      const changed = settled(s, t);
      if (s.status === 'locked-out') return { write: changed, result: fail(m, 'LOCKED_OUT', { guessesRemaining: 0 }) };
      const i = s.pending.findIndex((x) => equalBytes(x.attemptId, m.attemptId));
      // Unknown, finished or expired attempt: a replayed KE3 lands here and is refused.
      if (i < 0) return { write: changed, result: fail(m, 'PROTOCOL') };
      const p = s.pending[i]!;
      // The intent was fixed (and bound into the AKE context) at login-init: a login-finish that
      // says otherwise was changed on the way, and is refused without touching the attempt.
      if (m.intent !== 'abort' && m.intent !== p.intent) return { write: changed, result: fail(m, 'PROTOCOL') };
      let sessionKey: Uint8Array | undefined;
      if (m.intent !== 'abort') {
        const expected = openExpected(m.accountId, m.attemptId, p.sealedExpected);
        try {
          sessionKey = opaque.finishLogin(m.ke3, expected);
        } finally {
          wipe(expected);
        }
      }
      s.pending.splice(i, 1);
      if (sessionKey === undefined) {
        remember(s, p.attemptId, m.intent === 'abort' ? 'aborted' : 'wrong');
        // settle() may erase (a tombstone): read the status afresh, not as narrowed above.
        const erased = settle(s, t) && (s as AccountState).status === 'locked-out';
        return {
          write: s,
          result: erased
            ? fail(m, 'LOCKED_OUT', { guessesRemaining: 0 })
            : fail(m, 'WRONG_CODE', { guessesRemaining: s.guessesRemaining }),
        };
      }
      try {
        s.guessesRemaining = s.guessLimit;
        remember(s, p.attemptId, 'success');
        let grant: Uint8Array = new Uint8Array(0);
        if (m.intent === 'change') {
          grant = abytes(random(GRANT_BYTES), 'random(32)', GRANT_BYTES);
          s.grantHash = sha256(grant);
          s.grantExpiresAt = t + grantTtlMs;
        }
        const sealed = sealEscrowTransport(sessionKey, m, s.escrow, grant, random);
        wipe(grant);
        return { write: s, result: answer(m, { type: 'login-result', guessesRemaining: s.guessesRemaining, sealed }) };
      } finally {
        wipe(sessionKey);
      }
    });
  }

  async function registerInit(m: Extract<VaultRequest, { type: 'register-init' }>): Promise<Answer> {
    // Fail early (before the client spends its KSF) when the enrollment cannot succeed; the
    // authoritative check is the CAS in registerFinish.
    const t = now();
    const read = await readState(m.accountId);
    if (read !== undefined) settle(read, t);
    // The attempt that made the current (or erased) enrollment is spent: its register-init,
    // replayed, gets no new ticket.
    if (read !== undefined && equalBytes(read.enrolledBy, m.attemptId)) return fail(m, 'REPLAYED');
    const epoch = read?.epoch ?? 0;
    const cur = read?.status === 'removed' ? undefined : read;
    if (m.mode === 'new' && cur !== undefined) return fail(m, cur.status === 'locked-out' ? 'LOCKED_OUT' : 'ALREADY_ENROLLED');
    if (m.mode === 'replace' && (cur === undefined || cur.status === 'locked-out')) return fail(m, cur ? 'LOCKED_OUT' : 'NOT_ENROLLED');
    // A fresh random OPRF salt per registration: this evaluation is under a key no existing or
    // future record uses unless this very registration finishes, so register-init is never a free
    // OPRF oracle for guessing an enrolled code offline (each login still costs a guess).
    const salt = abytes(random(OPRF_SALT_BYTES), 'random(32)', OPRF_SALT_BYTES);
    // Authenticate the answer under the fleet key (docs/PROTOCOL.md §3.1): DH between the OPAQUE
    // private key and the client's ephemeral key (an invalid element is PROTOCOL) keys a MAC over
    // the response, and a second key, kept sealed in the ticket, authenticates register-finish.
    const dh = opaque.keyAgreement(m.ephemeralKey);
    let keys: RegistrationKeys | undefined;
    try {
      const binding = opaqueBinding(fleetId, suite.id, m.accountId, publicKey, salt);
      const response = await opaque.registrationResponse(m.request, binding);
      keys = registrationKeys(dh, m, response);
      const ticket = sealTicket(m.accountId, m.attemptId, {
        mode: m.mode,
        epoch,
        expiresAt: t + registrationTtlMs,
        oprfSalt: salt,
        finishKey: keys.finishKey,
      });
      const h: MessageHeader = { fleetId: m.fleetId, suite: m.suite, accountId: m.accountId, attemptId: m.attemptId };
      const unsigned = { ...h, type: 'register-response' as const, response, ticket };
      return answer(m, { type: 'register-response', response, ticket, mac: registrationMac(keys.responseKey, unsigned) });
    } finally {
      wipe(salt, dh, keys?.responseKey, keys?.finishKey);
    }
  }

  async function readState(accountId: string): Promise<AccountState | undefined> {
    let cur: Versioned | undefined;
    try {
      cur = await store.get(storeKey(accountId));
    } catch (e) {
      throw new BackupError('VAULT_UNAVAILABLE', 'the vault store cannot be read', { cause: e });
    }
    return cur === undefined ? undefined : decodeAccountState(cur.value);
  }

  async function registerFinish(m: Extract<VaultRequest, { type: 'register-finish' }>): Promise<Answer> {
    opaque.checkRecord(m.record);
    const ticket = openTicket(m.accountId, m.attemptId, m.ticket);
    // A ticket is for one mode and until its deadline (a recorded finish with its mode byte
    // changed, or held back, is refused before anything is read or written).
    if (ticket.mode !== m.mode || now() > ticket.expiresAt) return fail(m, 'REPLAYED');
    // The upload must come from the client that ran this exchange (docs/PROTOCOL.md §3.1).
    const authentic = verifyRegistrationMac(ticket.finishKey, m);
    wipe(ticket.finishKey);
    if (!authentic) return fail(m, 'PROTOCOL');
    return transact(m.accountId, async (read, t) => {
      const changed = read === undefined ? undefined : settled(read, t);
      if (t > ticket.expiresAt) return { write: changed, result: fail(m, 'REPLAYED') };
      const epoch = read?.epoch ?? 0;
      // A retry of the enrollment that landed with this very ticket, before anything else
      // happened to the account (no login since): the same answer, no change.
      if (
        read?.status === 'enrolled' &&
        read.epoch === ticket.epoch + 1 &&
        equalBytes(read.enrolledBy, m.attemptId) &&
        equalBytes(read.record, m.record) &&
        read.pending.length === 0 &&
        read.done.length === 0
      ) {
        return { write: changed, result: answer(m, { type: 'registered', guessLimit: read.guessLimit }) };
      }
      // Single use: the epoch moved on since the ticket was issued (an enrollment landed, a
      // lockout or a removal happened), so this is a replay or a late finish. Nothing changes.
      if (epoch !== ticket.epoch) return { write: changed, result: fail(m, 'REPLAYED') };
      const s = read?.status === 'removed' ? undefined : read;
      if (m.mode === 'new' && s !== undefined) {
        return { write: changed, result: fail(m, s.status === 'locked-out' ? 'LOCKED_OUT' : 'ALREADY_ENROLLED') };
      }
      if (m.mode === 'replace') {
        if (s === undefined) return { write: changed, result: fail(m, 'NOT_ENROLLED') };
        if (s.status === 'locked-out') return { write: changed, result: fail(m, 'LOCKED_OUT', { guessesRemaining: 0 }) };
        const ok = s.grantHash.length === 32 && t <= s.grantExpiresAt && equalBytes(sha256(m.grant), s.grantHash);
        if (!ok) return { write: changed, result: fail(m, 'UNAUTHORIZED') };
      }
      // 'reset' (or a first enrollment, or a granted replacement): a fresh record; any old
      // record, escrow, pending login and grant are destroyed in this one write.
      const next: AccountState = {
        status: 'enrolled',
        epoch: epoch + 1,
        guessLimit,
        guessesRemaining: guessLimit,
        enrolledBy: m.attemptId,
        oprfSalt: ticket.oprfSalt,
        record: m.record,
        escrow: m.escrow,
        grantHash: new Uint8Array(0),
        grantExpiresAt: 0,
        pending: [],
        done: [],
      };
      return { write: next, result: answer(m, { type: 'registered', guessLimit }) };
    });
  }

  async function status(m: Extract<VaultRequest, { type: 'status' }>): Promise<Answer> {
    return transact(m.accountId, async (s, t) => {
      if (s === undefined || s.status === 'removed') {
        return { result: answer(m, { type: 'status-result', state: 'not-enrolled', guessesRemaining: 0, guessLimit }) };
      }
      const changed = settled(s, t);
      return {
        write: changed,
        result: answer(m, {
          type: 'status-result',
          state: s.status,
          guessesRemaining: s.guessesRemaining,
          guessLimit: s.guessLimit,
        }),
      };
    });
  }

  /**
   * Remove: the record, the escrow, pending logins and grants go; a tombstone keeps the epoch
   * (one step on), so a registration started before the removal, or recorded, cannot land after it.
   */
  async function remove(m: Extract<VaultRequest, { type: 'remove' }>): Promise<Answer> {
    return transact(m.accountId, async (read) => {
      if (read?.status === 'removed') return { result: answer(m, { type: 'removed' }) };
      const s = read ?? emptyState();
      tombstone(s, 'removed');
      return { write: s, result: answer(m, { type: 'removed' }) };
    });
  }

  const placeholder = (): MessageHeader => ({ fleetId, suite: suite.id, accountId: '-', attemptId: new Uint8Array(ATTEMPT_ID_BYTES) });

  async function handle(req: Request): Promise<Answer> {
    if (req.method !== 'POST' || !new URL(req.url).pathname.endsWith('/v1/vault')) return fail(placeholder(), 'PROTOCOL');
    const body = await readCapped(req, MAX_MESSAGE_BYTES);
    if (body === undefined) return fail(placeholder(), 'PROTOCOL');
    let m: VaultRequest;
    try {
      m = parseVaultRequest(body);
    } catch (e) {
      if (isBackupError(e, 'PROTOCOL')) return fail(placeholder(), 'PROTOCOL');
      throw e;
    }
    const auth = req.headers.get('authorization') ?? '';
    const match = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(auth);
    let accountId: string | undefined;
    try {
      accountId = match ? await verifyToken(match[1]!) : undefined;
    } catch {
      // The token verifier (the app's auth backend) failed: not the caller's fault, retry later.
      return fail(m, 'VAULT_UNAVAILABLE', { retryAfterMs: 1000 });
    }
    // The token must be for exactly the account the message (and so the OPAQUE binding) names.
    if (accountId === undefined || accountId !== m.accountId) return fail(m, 'UNAUTHORIZED');
    if (m.fleetId !== fleetId || m.suite !== suite.id) return fail(m, 'PROTOCOL');
    try {
      switch (m.type) {
        case 'register-init':
          return await registerInit(m);
        case 'register-finish':
          return await registerFinish(m);
        case 'login-init':
          return await loginInit(m);
        case 'login-finish':
          return await loginFinish(m);
        case 'status':
          return await status(m);
        case 'remove':
          return await remove(m);
      }
    } catch (e) {
      if (isBackupError(e, 'PROTOCOL')) return fail(m, 'PROTOCOL');
      if (isBackupError(e, 'VAULT_UNAVAILABLE')) return fail(m, 'VAULT_UNAVAILABLE', { retryAfterMs: e.details.retryAfterMs ?? 1000 });
      throw e;
    }
  }

  const fetchHandler: FetchHandler = async (req: Request): Promise<Response> => {
    try {
      return toResponse(await handle(req));
    } catch (e) {
      // Anything unexpected: no detail leaves the vault, and nothing was committed after it.
      if (isBackupError(e, 'VAULT_UNAVAILABLE')) return toResponse(fail(placeholder(), 'VAULT_UNAVAILABLE', { retryAfterMs: 1000 }));
      return new Response(null, { status: 500 });
    }
  };
  // A failed sweep (store unavailable) is retried at the next tick; it never stops the handler.
  const timer = sweepIntervalMs > 0 ? setInterval(() => void sweep().catch(() => undefined), sweepIntervalMs) : undefined;
  (timer as { unref?: () => void } | undefined)?.unref?.();
  return Object.assign(fetchHandler, {
    sweep,
    close(): void {
      if (timer !== undefined) clearInterval(timer);
    },
  });
}
