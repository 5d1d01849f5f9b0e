/**
 * The reference vault's {@link VaultStore} on etcd: Raft majority consensus, so a guess counter
 * survives the loss of any minority of members and cannot be rolled back by one of them.
 *
 * Every `compareAndSwap` is ONE etcd transaction (etcd API v3 `Txn`): compare the key's
 * `mod_revision` with the version the vault read (`create_revision == 0` for "absent"), then put
 * or delete. Every `get` is a linearizable range read (`serializable: false`, etcd's ReadIndex
 * path), so a vault process never acts on a counter another process already moved. With no quorum
 * neither can complete: each call retries other members until its deadline, then rejects with
 * `VAULT_UNAVAILABLE`, and the vault answers that instead of an unrecorded guess.
 *
 * The one subtle case is a write whose answer is lost (a member dies, a deadline passes) after
 * etcd may already have committed it. Reporting that as a version conflict would make the vault
 * re-read and spend a second guess for one attempt; reporting success could be a lie. So every
 * value is stored in a small envelope carrying a random 16-byte write token (docs/OPERATIONS.md,
 * "Stored format"), and a retried transaction reads the key back in its `else` branch: our token
 * means our earlier attempt committed (`true`); a conflict with no earlier ambiguous attempt is a
 * real conflict (`false`); anything else is an unknown outcome and rejects. A rejected write may
 * still have committed, exactly as the {@link VaultStore} contract allows: the vault's
 * per-attempt idempotency key makes the client's retry safe either way.
 *
 * etcd keeps every overwritten or deleted value in its history until the history is compacted,
 * so an erased escrow would stay readable at an old revision. The store compacts the cluster's
 * history up to the current revision every `compactEveryMs` (default 60 s): an erased value is
 * unreadable through the etcd API at most that long after it was replaced (docs/OPERATIONS.md
 * §Erasure, which also covers what etcd's disk still holds).
 *
 * @module
 */
// Types only at load time: etcd3 (gRPC) is loaded on first use, so `e2ee-backup/server` stays
// importable by vaults that never use etcd and do not install it.
import type { Etcd3, IKeyValue, IOptions, IRequestOp, ITxnResponse } from 'etcd3';
import { BackupError } from '../../errors.js';
import { abytes, equalBytes, isBytes, secureRandom, utf8, type RandomSource } from '../../util/bytes.js';
import type { VaultStore, Versioned } from '../vault-store.js';

/**
 * Largest value the store accepts, in bytes (etcd's default request limit is 1.5 MiB).
 *
 * @example
 * ```ts
 * if (record.length > ETCD_MAX_VALUE_BYTES) throw new RangeError('record too large for etcd');
 * ```
 */
export const ETCD_MAX_VALUE_BYTES = 1 << 20;
/**
 * Largest key (namespace excluded), in UTF-8 bytes.
 *
 * @example
 * ```ts
 * const fits = new TextEncoder().encode(key).length <= ETCD_MAX_KEY_BYTES;
 * ```
 */
export const ETCD_MAX_KEY_BYTES = 1024;
/** Longest namespace prefix, in UTF-8 bytes. */
const MAX_NAMESPACE_BYTES = 256;

/** Envelope: format byte ‖ 16-byte write token ‖ value. */
const ENVELOPE_FORMAT = 0x01;
const TOKEN_BYTES = 16;
const HEADER_BYTES = 1 + TOKEN_BYTES;

/** etcd revisions are positive int64s, sent as decimal strings (etcd3 loads longs as strings). */
const REVISION = /^[1-9][0-9]{0,18}$/;

/**
 * Client settings passed through to `etcd3` (TLS, user/password auth, gRPC channel options).
 *
 * @example
 * ```ts
 * const client: EtcdClientOptions = {
 *   credentials: { rootCertificate: readFileSync('ca.pem') },
 *   auth: { username: 'vault', password: process.env.ETCD_PASSWORD! },
 * };
 * ```
 */
export interface EtcdClientOptions {
  /** TLS: the CA, and for client-certificate auth the key and chain (PEM, as `etcd3` takes them). */
  readonly credentials?: {
    /** The CA certificate that signed the etcd servers' certificates (PEM). */
    readonly rootCertificate: Buffer;
    /** This client's private key, for client-certificate auth (PEM). */
    readonly privateKey?: Buffer;
    /** This client's certificate chain, for client-certificate auth (PEM). */
    readonly certChain?: Buffer;
  };
  /** etcd user/password authentication. */
  readonly auth?: {
    /** The etcd user name. */
    readonly username: string;
    /** The etcd user's password (a secret: keep it out of logs). */
    readonly password: string;
  };
  /** gRPC channel options, e.g. `{ 'grpc.ssl_target_name_override': 'etcd' }`. */
  readonly grpcOptions?: Readonly<Record<string, string | number>>;
  /** How long to wait while connecting, ms (etcd3's default 30 000). */
  readonly dialTimeout?: number;
}
// Declared here rather than picked from etcd3's IOptions so that the published types name no
// type of etcd3, an optional peer: an app that type-checks its dependencies (skipLibCheck: false)
// without etcd3 installed still compiles. The assignment below keeps the two in step.
const toEtcdOptions = (o: EtcdClientOptions): Pick<IOptions, 'credentials' | 'auth' | 'grpcOptions' | 'dialTimeout'> => ({
  ...o,
  ...(o.credentials === undefined ? {} : { credentials: { ...o.credentials } }),
  ...(o.auth === undefined ? {} : { auth: { ...o.auth } }),
  ...(o.grpcOptions === undefined ? {} : { grpcOptions: { ...o.grpcOptions } }),
});

/**
 * Options for {@link createEtcdVaultStore}.
 *
 * @example
 * ```ts
 * const options: EtcdVaultStoreOptions = { hosts: ['https://etcd-1:2379', 'https://etcd-2:2379', 'https://etcd-3:2379'], namespace: 'vault-eu1/' };
 * ```
 */
export interface EtcdVaultStoreOptions {
  /**
   * Client URLs of the members, e.g. `['http://10.0.0.1:2379', 'http://10.0.0.2:2379']`. List
   * every member: a call whose member is down is retried on another one.
   */
  readonly hosts: string | readonly string[];
  /**
   * Prefix put in front of every key (default: none; the vault's own keys already start with
   * `e2ee-backup/v1/vault/<fleetId>/`). Use it to give each deployment its own etcd RBAC prefix
   * or to run several test vaults on one cluster.
   */
  readonly namespace?: string;
  /**
   * Upper bound for one `get` or `compareAndSwap`, retries included, in ms (default 5000). When
   * it passes without a quorum answer the call rejects with `VAULT_UNAVAILABLE`.
   */
  readonly timeoutMs?: number;
  /** Upper bound for one RPC inside a call, in ms (default `min(2000, timeoutMs)`). */
  readonly attemptTimeoutMs?: number;
  /** Source of the per-write tokens (default: WebCrypto `getRandomValues`). */
  readonly random?: RandomSource;
  /** TLS and authentication for the etcd connection. Fault handling is the store's own. */
  readonly client?: EtcdClientOptions;
  /**
   * Compact the cluster's history to the current revision this often, in ms (default 60 000; 0:
   * never, leave it to etcd's `--auto-compaction-*` or call {@link EtcdVaultStore.compact}).
   * Compaction is cluster-wide: on a cluster shared with other applications that watch history,
   * set 0 and configure etcd's own compaction (docs/OPERATIONS.md §Erasure).
   */
  readonly compactEveryMs?: number;
}

/**
 * A {@link VaultStore} on etcd; `close()` releases the gRPC connections.
 *
 * @example
 * ```ts
 * const store: EtcdVaultStore = createEtcdVaultStore({ hosts: 'http://127.0.0.1:2379' });
 * process.once('SIGTERM', () => void store.close());
 * ```
 */
export interface EtcdVaultStore extends VaultStore {
  close(): Promise<void>;
  /**
   * Compact the cluster's history up to the current revision (and wait until the members have
   * applied it to their databases), so no overwritten or deleted value stays readable at an older
   * revision. Resolves with the revision compacted at. The timer of `compactEveryMs` calls this.
   */
  compact(): Promise<string>;
}

/**
 * Create a {@link VaultStore} backed by an etcd v3 cluster (tested against etcd 3.4).
 *
 * @example
 * ```ts
 * import { createEtcdVaultStore } from 'e2ee-backup/server';
 *
 * const store = createEtcdVaultStore({
 *   hosts: ['http://127.0.0.1:2379', 'http://127.0.0.1:22379', 'http://127.0.0.1:32379'],
 *   namespace: 'chat-app/vault-eu1/',
 *   timeoutMs: 5000,
 * });
 * const before = await store.get('account/alice');
 * const written = await store.compareAndSwap('account/alice', before?.version ?? null, record);
 * await store.close();
 * ```
 */
export function createEtcdVaultStore(options: EtcdVaultStoreOptions): EtcdVaultStore {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const hosts = typeof options.hosts === 'string' ? [options.hosts] : options.hosts;
  if (!Array.isArray(hosts) || hosts.length === 0) {
    throw new TypeError('options.hosts must be a URL or a non-empty array of URLs');
  }
  for (const h of hosts) {
    if (typeof h !== 'string' || !/^https?:\/\/[^/\s]+\/?$/.test(h)) {
      throw new TypeError('options.hosts must be http(s)://host:port URLs');
    }
  }
  const namespace = options.namespace ?? '';
  if (typeof namespace !== 'string') throw new TypeError('options.namespace must be a string');
  const prefix = Buffer.from(utf8(namespace));
  if (prefix.length > MAX_NAMESPACE_BYTES) {
    throw new RangeError(`options.namespace must be at most ${MAX_NAMESPACE_BYTES} bytes`);
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  checkMs(timeoutMs, 'options.timeoutMs');
  const attemptTimeoutMs = options.attemptTimeoutMs ?? Math.min(2000, timeoutMs);
  checkMs(attemptTimeoutMs, 'options.attemptTimeoutMs');
  const random = options.random ?? secureRandom;
  if (typeof random !== 'function') throw new TypeError('options.random must be a function');
  const compactEveryMs = options.compactEveryMs ?? 60_000;
  if (compactEveryMs !== 0) checkMs(compactEveryMs, 'options.compactEveryMs');

  const clientOptions: IOptions = {
    ...(options.client === undefined ? {} : toEtcdOptions(options.client)),
    hosts: [...hosts],
    faultHandling: {
      // No blind retries inside etcd3: a retried Txn whose first try committed must be told apart
      // from a real conflict, which only this module can do (see the module comment).
      global: runOnce,
      // etcd3's default breaker shuts a member out for 5 s after 3 failures, which after a lost
      // quorum shuts out every member for 5 s once the quorum is back. A short per-member
      // cool-down skips a dead member without that stall.
      host: () => coolDownGate(MEMBER_COOL_DOWN_MS),
    },
  };
  let closed = false;
  let connecting: Promise<Connected> | undefined;
  let connected: Connected | undefined;
  let compactTimer: ReturnType<typeof setInterval> | undefined;

  function connect(): Promise<Connected> {
    connecting ??= import('etcd3').then(
      (mod) => {
        const client = new mod.Etcd3(clientOptions);
        connected = { client, isPermanent: permanentErrors(mod) };
        // close() may have run while the module was loading.
        if (closed) client.close();
        else if (compactEveryMs > 0) {
          // A failed compaction (no quorum) is retried at the next tick; the next one covers it.
          compactTimer = setInterval(() => void compact().catch(() => undefined), compactEveryMs);
          (compactTimer as { unref?: () => void }).unref?.();
        }
        return connected;
      },
      (e: unknown) => {
        connecting = undefined;
        throw new BackupError('VAULT_UNAVAILABLE', 'etcd store: the etcd3 package cannot be loaded (npm install etcd3)', { cause: e });
      },
    );
    return connecting;
  }

  function fullKey(key: unknown): Buffer {
    if (typeof key !== 'string') throw new TypeError('key must be a string');
    const k = utf8(key);
    if (k.length === 0) throw new RangeError('key must not be empty');
    if (k.length > ETCD_MAX_KEY_BYTES) throw new RangeError(`key must be at most ${ETCD_MAX_KEY_BYTES} bytes`);
    return Buffer.concat([prefix, k]);
  }

  function assertOpen(): void {
    if (closed) throw new BackupError('VAULT_UNAVAILABLE', 'etcd store is closed');
  }

  /**
   * Run `attempt` until it settles or the call's deadline passes. Errors that no retry can fix
   * (bad credentials, a closed client) stop at once.
   */
  async function withRetries<T>(
    what: string,
    attempt: (client: Etcd3, deadline: number) => Promise<T>,
    onError?: () => void,
  ): Promise<T> {
    const end = Date.now() + timeoutMs;
    const { client, isPermanent } = await connect();
    let lastError: unknown;
    for (let i = 0; ; i++) {
      assertOpen();
      const now = Date.now();
      if (now >= end) break;
      try {
        return await attempt(client, Math.min(end, now + attemptTimeoutMs));
      } catch (e) {
        if (e instanceof BackupError) throw e;
        onError?.();
        lastError = e;
        if (isPermanent(e)) break;
      }
      // Back off 25, 50, 100 ... 400 ms: a leader election on a healthy cluster takes about one
      // election timeout, so a few retries ride it out without hammering the survivors.
      const pause = Math.min(400, 25 << Math.min(i, 4));
      if (Date.now() + pause >= end) break;
      await new Promise<void>((r) => setTimeout(r, pause));
    }
    throw new BackupError('VAULT_UNAVAILABLE', `etcd store: ${what} got no quorum answer within ${timeoutMs} ms`, {
      cause: lastError,
      retryAfterMs: 1000,
    });
  }

  /** The key read to learn the current revision: the vault's own prefix (RBAC grants it). */
  const revisionProbeKey = Buffer.concat([prefix, Buffer.from('e2ee-backup/v1/vault/')]);

  async function compact(): Promise<string> {
    assertOpen();
    const head = await withRetries('read', (client, deadline) =>
      client.kv.range({ key: revisionProbeKey, serializable: false, limit: 1, keys_only: true }, { deadline }),
    );
    const rev = revision(head.header.revision);
    // physical: wait until the members have removed the compacted revisions from their databases.
    await withRetries('compact', (client, deadline) =>
      client.kv.compact({ revision: rev, physical: true }, { deadline }).catch((e: unknown) => {
        // Another vault process compacted as far or further: that is the goal met.
        if (/required revision has been compacted/.test(String(e))) return undefined;
        throw e;
      }),
    );
    return rev;
  }

  return {
    compact,

    async get(key: string): Promise<Versioned | undefined> {
      const k = fullKey(key);
      assertOpen();
      const res = await withRetries('read', (client, deadline) =>
        // serializable: false is etcd's default, spelled out: a linearizable read goes through the
        // leader's ReadIndex and therefore needs a quorum (etcd API guarantees, "Linearizability").
        client.kv.range({ key: k, serializable: false, limit: 2 }, { deadline }),
      );
      if (res.kvs.length > 1) throw malformed('read returned more than one key');
      const kv = res.kvs[0];
      if (!kv) return undefined;
      return { value: openEnvelope(kv).value, version: revision(kv.mod_revision) };
    },

    async compareAndSwap(key: string, expected: string | null, value: Uint8Array | null): Promise<boolean> {
      const k = fullKey(key);
      if (expected !== null && (typeof expected !== 'string' || !REVISION.test(expected))) {
        throw new TypeError('expected must be null or a version returned by get()');
      }
      if (value !== null) {
        abytes(value, 'value');
        if (value.length > ETCD_MAX_VALUE_BYTES) {
          throw new RangeError(`value must be at most ${ETCD_MAX_VALUE_BYTES} bytes`);
        }
      }
      assertOpen();
      const token = value === null ? undefined : abytes(random(TOKEN_BYTES), 'random output', TOKEN_BYTES);
      const compare =
        expected === null
          ? { key: k, target: 'Create' as const, result: 'Equal' as const, create_revision: 0 }
          : { key: k, target: 'Mod' as const, result: 'Equal' as const, mod_revision: expected };
      const then: IRequestOp =
        value === null
          ? { request_delete_range: { key: k } }
          : { request_put: { key: k, value: sealEnvelope(token!, value) } };
      // On a failed compare, read the key back in the same transaction (same revision).
      const otherwise: IRequestOp = { request_range: { key: k, limit: 2 } };

      // Set once an attempt may have reached etcd without us seeing its answer.
      let ambiguous = false;
      const res: ITxnResponse = await withRetries(
        'write',
        (client, deadline) => client.kv.txn({ compare: [compare], success: [then], failure: [otherwise] }, { deadline }),
        () => {
          ambiguous = true;
        },
      );
      if (res.succeeded) return true;
      const kvs = res.responses[0]?.response_range?.kvs;
      if (!kvs || kvs.length > 1) throw malformed('conflicting transaction returned no single key');
      const current = kvs[0];
      if (token && current && equalBytes(openEnvelope(current).token, token)) return true;
      if (!ambiguous) return false;
      // An earlier attempt may have committed and been overwritten since, or (for a delete) may
      // have removed the key: we cannot tell, so neither `true` nor `false` would be honest.
      throw new BackupError('VAULT_UNAVAILABLE', 'etcd store: outcome of an interrupted write is unknown', {
        retryAfterMs: 1000,
      });
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (compactTimer !== undefined) clearInterval(compactTimer);
      connected?.client.close();
    },
  };
}

function checkMs(v: unknown, name: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${name} must be an integer`);
  if (v < 1 || v > 600_000) throw new RangeError(`${name} must be between 1 and 600000 ms`);
}

interface Connected {
  readonly client: Etcd3;
  /** Errors no retry can fix: bad credentials, a rejected request, a closed client. */
  readonly isPermanent: (e: unknown) => boolean;
}

function permanentErrors(mod: typeof import('etcd3')): (e: unknown) => boolean {
  const kinds = [
    mod.ClientClosedError,
    mod.GRPCInvalidArgumentError,
    mod.GRPCUnauthenticatedError,
    mod.EtcdAuthenticationFailedError,
    mod.EtcdPermissionDeniedError,
  ];
  return (e) => kinds.some((k) => e instanceof k);
}

/** How long a member that just failed a call is skipped while another member can be tried. */
const MEMBER_COOL_DOWN_MS = 1000;

/** Thrown (never to callers: etcd3 moves on to the next member) while a member cools down. */
class MemberCoolingDown extends Error {}

/**
 * Per-member policy: run the call; after a failure, refuse calls to this member for `ms` so that
 * etcd3 tries the next member instead. When every member is cooling down the call fails and the
 * store's own retry loop backs off.
 */
function coolDownGate(ms: number): NonNullable<NonNullable<IOptions['faultHandling']>['global']> {
  let until = 0;
  const gate = {
    async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
      if (Date.now() < until) throw new MemberCoolingDown('member is cooling down after a failure');
      try {
        const out = await fn({ signal: signal ?? new AbortController().signal });
        until = 0;
        return out;
      } catch (e) {
        until = Date.now() + ms;
        throw e;
      }
    },
  };
  return gate as unknown as NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
}

/** A global fault-handling policy that runs the call exactly once (etcd3's policy shape). */
const runOnce = {
  execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    return Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal }));
  },
} as unknown as NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

function malformed(what: string): BackupError {
  return new BackupError('VAULT_UNAVAILABLE', `etcd store: ${what}`);
}

function revision(r: unknown): string {
  if (typeof r !== 'string' || !REVISION.test(r)) throw malformed('bad revision');
  return r;
}

function sealEnvelope(token: Uint8Array, value: Uint8Array): Buffer {
  const out = Buffer.alloc(HEADER_BYTES + value.length);
  out[0] = ENVELOPE_FORMAT;
  out.set(token, 1);
  out.set(value, HEADER_BYTES);
  return out;
}

/** Parse a stored envelope; every length is capped before use. */
function openEnvelope(kv: IKeyValue): { token: Uint8Array; value: Uint8Array } {
  const raw: unknown = kv.value;
  if (!isBytes(raw)) throw malformed('stored value is not bytes');
  if (raw.length < HEADER_BYTES || raw.length > HEADER_BYTES + ETCD_MAX_VALUE_BYTES) {
    throw malformed('stored value has an impossible length');
  }
  if (raw[0] !== ENVELOPE_FORMAT) throw malformed('stored value is not in this store\u2019s format');
  // Copies: callers get plain, unshared Uint8Arrays, not views into gRPC's buffers.
  return {
    token: new Uint8Array(raw.subarray(1, HEADER_BYTES)),
    value: new Uint8Array(raw.subarray(HEADER_BYTES)),
  };
}
