/**
 * The vault client: enroll a keyring with a vault fleet under a recovery code, recover it on a new
 * device, change the code, remove the enrollment, read the status (docs/PROTOCOL.md).
 *
 * - The recovery code (as password bytes from `parseRecoveryCode` / `normalizePassword`) never
 *   leaves the device; OPAQUE (RFC 9807) proves it to the vault.
 * - The keyring is sealed on the device under `KEK = deriveEscrowKek(export_key, fleetId,
 *   accountId)` before it is sent; the vault never sees it in the clear.
 * - Registration and login are refused unless the vault's OPAQUE public key is a trusted key of
 *   the fleet (`FLEET_KEY_MISMATCH`; an unknown fleet: `FLEET_UNTRUSTED`), trusted for that use:
 *   a new record (enroll, reset, code change) needs the `enroll` role, a login the `recover`
 *   role (`TrustedFleet.roles`; pins allow both). A superseded fleet is recover-only.
 * - Each attempt carries a random attempt id, reused by network retries, so a retry never spends
 *   a second guess.
 * - `fetch`, the bearer token, randomness and sleeping are injected; nothing global is touched.
 *
 * @module
 */
import { assertOptionsObject, checkingOptions, invalidOption, resolveUrlOption } from '../util/options.js';
import { BackupError, isBackupError, throwIfAborted, type BackupErrorCode } from '../errors.js';
import type { FleetTrust, TrustedFleet } from './fleet-trust.js';
import { deriveEscrowKek, openKeyring, sealKeyring, wipeKeyring, type Keyring } from './keyring.js';
import { suiteForFleet } from './opaque/suites.js';
import type { OpaqueSuite } from './opaque/suite.js';
import {
  ATTEMPT_ID_BYTES,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  checkAccountId,
  checkFleetId,
  encodeVaultRequest,
  openEscrowTransport,
  opaqueBinding,
  parseVaultResponse,
  registrationKeys,
  registrationMac,
  verifyRegistrationMac,
  type EnrollmentState,
  type RegistrationKeys,
  type LoginIntent,
  type MessageHeader,
  type VaultRequest,
  type VaultResponse,
} from './protocol.js';
import { abytes, equalBytes, secureRandom, utf8, wipe, type RandomSource } from '../util/bytes.js';
import { readStreamCapped } from '../util/body.js';
import { defaultSleep } from '../transport/http.js';

/** A fetch-compatible function: `globalThis.fetch` or a fetch-style handler. */
export type VaultFetch = (request: Request) => Promise<Response>;

/** Options of {@link createVaultClient}. */
export interface VaultClientOptions {
  /** The fleet to talk to. */
  readonly fleetId: string;
  /** The account the app backend's tokens are issued for. */
  readonly accountId: string;
  /**
   * The vault's base URL; requests go to `${baseUrl}/v1/vault`. Give this or `endpoint`. Absolute,
   * or in a page relative to it (`'/vault'` is resolved against `location.href`); elsewhere a
   * relative URL is `INVALID_ARGUMENT`.
   */
  readonly baseUrl?: string;
  /** The vault's full endpoint URL. */
  readonly endpoint?: string;
  /** How HTTP requests are made (`globalThis.fetch`, or a handler in-process). */
  readonly fetch: VaultFetch;
  /** A short-lived bearer token for the vault, from the app backend; asked for before each request. */
  readonly getToken: () => Promise<string>;
  /** Which fleets and keys are trusted (`pinnedFleets(...)` or the trust store). */
  readonly trust: FleetTrust;
  /**
   * The OPAQUE suite, fixed. Default: the suite the fleet's trusted entry names (any RFC 9807
   * suite, or one of `suites`), or the RFC 9807 default suite for a fleet trust has no entry for
   * yet (docs/PROTOCOL.md §Suites).
   */
  readonly suite?: OpaqueSuite;
  /**
   * Suites besides RFC 9807's this client may run when a fleet's entry names them, e.g.
   * `[opaqueTsSuite()]` for fleets still on the superseded opaque-ts suite (its implementation is
   * then loaded only when such a fleet is used). Ignored when `suite` is given.
   */
  readonly suites?: readonly OpaqueSuite[];
  /** Randomness for attempt ids and nonces (default WebCrypto). */
  readonly random?: RandomSource;
  /** Per-request timeout in ms (default 30 000). */
  readonly timeoutMs?: number;
  /** Retries of one request after a network failure or `VAULT_UNAVAILABLE` (default 2). */
  readonly retries?: number;
  /** Wait between retries (default: a timer that rejects when `signal` aborts). */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Per-call options. */
export interface VaultCallOptions {
  /** Cancels the operation (`ABORTED`). */
  readonly signal?: AbortSignal;
}

/** What {@link VaultClient.status} reports. */
export interface VaultStatus {
  /** The fleet asked. */
  readonly fleetId: string;
  /** Whether the account is enrolled, locked out (escrow erased) or not enrolled. */
  readonly state: EnrollmentState;
  /** Guesses left before lockout (0 unless enrolled). */
  readonly guessesRemaining: number;
  /** Guesses allowed between two successful recoveries. */
  readonly guessLimit: number;
}

/**
 * The vault client for one fleet and one account (created by {@link createVaultClient}).
 *
 * @example
 * ```ts
 * const s = await vault.status();
 * if (s.state === 'enrolled') console.log(`${s.guessesRemaining} of ${s.guessLimit} guesses left`);
 * await vault.changeCode({ oldPassword: parseRecoveryCode(oldCode), newPassword: parseRecoveryCode(newCode) });
 * ```
 */
export interface VaultClient {
  /** The fleet this client talks to. */
  readonly fleetId: string;
  /** The account this client acts for. */
  readonly accountId: string;
  /**
   * Enroll: OPAQUE registration, then the keyring sealed under the escrow KEK is stored beside
   * the record. `reset: true` replaces any existing enrollment (destroying its escrow) and clears
   * a lockout; without it an existing enrollment gives `ALREADY_ENROLLED`.
   */
  enroll(input: { password: Uint8Array; keyring: Keyring; reset?: boolean } & VaultCallOptions): Promise<{
    /** Wrong guesses the vault allows before it erases the escrow (lockout). */
    guessLimit: number;
  }>;
  /**
   * Recover the keyring with the recovery code. A wrong code gives `WRONG_CODE` with
   * `guessesRemaining`; the last wrong one gives `LOCKED_OUT`. The caller wipes the keyring
   * (`wipeKeyring`) when done.
   */
  recover(input: { password: Uint8Array } & VaultCallOptions): Promise<Keyring>;
  /** Prove the old code, then replace the record and escrow under the new code (same keyring). */
  changeCode(input: { oldPassword: Uint8Array; newPassword: Uint8Array } & VaultCallOptions): Promise<void>;
  /** Delete the enrollment (record and escrow) at this fleet. Succeeds when there is none. */
  remove(input?: VaultCallOptions): Promise<void>;
  /** The enrollment state and guess counter. */
  status(input?: VaultCallOptions): Promise<VaultStatus>;
}

/** Placeholder until the fleet's suite is resolved (never used to run OPAQUE). */
const notResolved = (): never => {
  throw new Error('internal: OPAQUE suite not resolved');
};
const UNRESOLVED: OpaqueSuite = Object.freeze({
  id: 'unresolved',
  startRegistration: notResolved,
  startLogin: notResolved,
  generateServerSetup: notResolved,
  setupPublicKey: notResolved,
  server: notResolved,
  keyAgreement: notResolved,
});

/** The codes a vault may answer with (any other is `PROTOCOL`), and their messages. */
const MESSAGES: Partial<Record<BackupErrorCode, string>> = {
  WRONG_CODE: 'the recovery code is wrong',
  LOCKED_OUT: 'no guesses left: the vault erased the key escrow',
  NOT_ENROLLED: 'this account is not enrolled with the fleet',
  ALREADY_ENROLLED: 'this account is already enrolled with the fleet',
  UNAUTHORIZED: 'the vault refused the bearer token',
  PROTOCOL: 'the vault refused the request as malformed or out of order',
  REPLAYED: 'the vault refused a registration no longer valid (replayed, stale or expired); start again',
  VAULT_UNAVAILABLE: 'the vault is unavailable; try again later',
};

/** A use a fleet key can be trusted for (`TrustedFleet.roles`). */
type FleetUse = 'enroll' | 'recover';

/** Whether a trusted fleet entry allows `role`; no roles (a pin) allows both. */
function allows(f: TrustedFleet, role: FleetUse): boolean {
  return f.roles === undefined || f.roles.includes(role);
}

function sameHeader(a: MessageHeader, b: MessageHeader): boolean {
  return a.fleetId === b.fleetId && a.suite === b.suite && a.accountId === b.accountId && equalBytes(a.attemptId, b.attemptId);
}

/**
 * Create a vault client for one fleet and one account.
 *
 * @example
 * ```ts
 * const vault = createVaultClient({
 *   fleetId: 'fleet-eu-1', accountId: user.id, baseUrl: 'https://vault.example',
 *   fetch: (r) => fetch(r), getToken: () => api.vaultToken(), trust: pinnedFleets(config.fleets),
 * });
 * await vault.enroll({ password: parseRecoveryCode(code), keyring });
 * const keyring2 = await vault.recover({ password: parseRecoveryCode(typed) });
 * ```
 */
export function createVaultClient(options: VaultClientOptions): VaultClient {
  assertOptionsObject(options, 'createVaultClient');
  const { fleetId, accountId, endpoint, fetchFn, getToken, trust, random, timeoutMs, retries, sleep } = checkingOptions(() => {
    const fleetId = checkFleetId(options.fleetId, 'options.fleetId');
    const accountId = checkAccountId(options.accountId, 'options.accountId');
    if (typeof options.fetch !== 'function') throw invalidOption('fetch', 'must be a function, e.g. (request) => fetch(request)');
    if (typeof options.getToken !== 'function') throw invalidOption('getToken', "must resolve to a vault token for this account from the app backend");
    if (typeof options.trust?.trustedFleets !== 'function') throw invalidOption('trust', 'must be a FleetTrust: pinnedFleets([...]) or createTrustStore(...)');
    let endpoint: string;
    if (options.endpoint !== undefined) {
      endpoint = resolveUrlOption(options.endpoint, 'endpoint', 'https://vault.example/v1/vault').href;
    } else if (options.baseUrl !== undefined) {
      const base = resolveUrlOption(options.baseUrl, 'baseUrl', 'https://vault.example');
      endpoint = new URL('v1/vault', base.href.endsWith('/') ? base.href : `${base.href}/`).href;
    } else {
      throw invalidOption('baseUrl', "is missing: the vault's base URL (e.g. 'https://vault.example', '/vault' in a page) or options.endpoint");
    }
    const timeoutMs = options.timeoutMs ?? 30_000;
    const retries = options.retries ?? 2;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw invalidOption('timeoutMs', 'must be a positive integer (ms)');
    if (!Number.isInteger(retries) || retries < 0 || retries > 10) throw invalidOption('retries', 'must be an integer in 0..10');
    return {
      fleetId,
      accountId,
      endpoint,
      fetchFn: options.fetch,
      getToken: options.getToken,
      trust: options.trust,
      random: options.random ?? secureRandom,
      timeoutMs,
      retries,
      sleep: options.sleep ?? defaultSleep,
    };
  });
  // The suite: as given, else resolved from the fleet's trust entry before the first message.
  let suite: OpaqueSuite = options.suite ?? UNRESOLVED;
  const extraSuites = checkingOptions(() => {
    const list = options.suites ?? [];
    if (!Array.isArray(list) || list.some((x: Partial<OpaqueSuite> | null) => typeof x?.id !== 'string' || typeof x.startLogin !== 'function')) {
      throw invalidOption('suites', 'must be an array of OpaqueSuites, e.g. [opaqueTsSuite()]');
    }
    return [...(list as readonly OpaqueSuite[])];
  });
  const resolveSuite = async (): Promise<void> => {
    if (suite !== UNRESOLVED) return;
    const resolved = await suiteForFleet(trust, fleetId, extraSuites);
    if (suite === UNRESOLVED) suite = resolved;
  };
  // What the sealed keyring is for: its AAD (docs/KEYRING.md) names protocol, fleet, suite, account.
  const escrowAad = (): Uint8Array => utf8(JSON.stringify(['e2ee-backup/v1/escrow', PROTOCOL_VERSION, fleetId, suite.id, accountId]));

  const header = (attemptId: Uint8Array): MessageHeader => ({ fleetId, suite: suite.id, accountId, attemptId });
  const newAttempt = (): Uint8Array => Uint8Array.from(abytes(random(ATTEMPT_ID_BYTES), 'random(16)', ATTEMPT_ID_BYTES));

  /**
   * The fleet must publish our suite, and (when it has entries) one of them must allow `role`; a
   * fleet with no entry may still be proven by its key later. Checked before the vault is asked
   * anything, so a refused login spends no guess.
   */
  async function fleetEntries(role: FleetUse) {
    await resolveSuite();
    const mine = (await trust.trustedFleets()).filter((f) => f.fleetId === fleetId);
    if (mine.length > 0 && !mine.some((f) => f.suite === suite.id)) {
      throw new BackupError('FLEET_UNTRUSTED', 'the fleet does not publish this OPAQUE suite', { fleetId });
    }
    if (mine.length > 0 && !mine.some((f) => f.suite === suite.id && allows(f, role))) throw notTrustedFor(role);
    return mine;
  }

  function notTrustedFor(role: FleetUse): BackupError {
    return new BackupError('FLEET_UNTRUSTED', `the fleet is not trusted for ${role === 'enroll' ? 'enrollment' : 'recovery'}`, { fleetId });
  }

  /** Refuse any server key that is not a currently trusted key of this fleet for `role` (DESIGN.md). */
  async function checkServerKey(key: Uint8Array, role: FleetUse): Promise<void> {
    const mine = await fleetEntries(role);
    const hits = mine.filter((f) => f.suite === suite.id && equalBytes(f.publicKey, key));
    if (hits.length > 0) {
      if (hits.some((f) => allows(f, role))) return;
      throw notTrustedFor(role);
    }
    if (trust.resolveUnknown) {
      const r = await trust.resolveUnknown(fleetId, Uint8Array.from(key));
      if (r !== undefined && r.fleetId === fleetId && r.suite === suite.id && equalBytes(r.publicKey, key)) {
        if (allows(r, role)) return;
        throw notTrustedFor(role);
      }
    }
    if (mine.length === 0) throw new BackupError('FLEET_UNTRUSTED', 'the fleet is not trusted', { fleetId });
    throw new BackupError('FLEET_KEY_MISMATCH', 'the vault presented a key that is not a trusted key of the fleet', { fleetId });
  }

  function vaultError(code: string, status: number, extra: { guessesRemaining?: number; retryAfterMs?: number }): BackupError {
    const c = Object.hasOwn(MESSAGES, code) ? (code as BackupErrorCode) : 'PROTOCOL';
    return new BackupError(c, MESSAGES[c]!, {
      fleetId,
      status,
      ...(extra.guessesRemaining !== undefined ? { guessesRemaining: extra.guessesRemaining } : {}),
      ...(c === 'LOCKED_OUT' ? { guessesRemaining: 0 } : {}),
      ...(extra.retryAfterMs !== undefined ? { retryAfterMs: extra.retryAfterMs } : {}),
    });
  }

  /**
   * One request, retried (same bytes, same attempt id) after a network failure, a timeout or
   * `VAULT_UNAVAILABLE`: safe for every message because the vault answers a repeated attempt id
   * from its state instead of spending again.
   */
  async function call<T extends VaultResponse['type']>(
    req: VaultRequest,
    expect: T,
    signal: AbortSignal | undefined,
  ): Promise<{ msg: Extract<VaultResponse, { type: T }>; retried: boolean }> {
    if (suite === UNRESOLVED) throw new Error('internal: suite not resolved');
    const body = encodeVaultRequest(req);
    let last: BackupError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      throwIfAborted(signal);
      if (attempt > 0) {
        const wait = Math.min(last?.details.retryAfterMs ?? 0, 10_000) || 200 * 2 ** (attempt - 1);
        try {
          await sleep(wait, signal);
        } catch (e) {
          // The default sleep already rejects with ABORTED (its cause the signal's reason).
          throw isBackupError(e, 'ABORTED') ? e : new BackupError('ABORTED', 'operation was aborted', { cause: e });
        }
      }
      let token: string;
      try {
        token = await getToken();
      } catch (e) {
        throw new BackupError('UNAUTHORIZED', 'no vault token could be obtained', { fleetId, cause: e });
      }
      if (typeof token !== 'string' || !/^[\x21-\x7e]{1,4096}$/.test(token)) {
        throw new TypeError('getToken must resolve to a non-empty printable ASCII string');
      }
      // Our own controller and timer (not AbortSignal.timeout): a Request follows its signal
      // only weakly, and an unreferenced timeout signal may be collected before it fires.
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new BackupError('TIMEOUT', 'the vault did not answer in time')), timeoutMs);
      const onAbort = (): void => ac.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      let res: Response;
      let bytes: Uint8Array | undefined;
      try {
        res = await fetchFn(
          new Request(endpoint, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
            body: body as Uint8Array<ArrayBuffer>,
            signal: ac.signal,
          }),
        );
        bytes = await readStreamCapped(res.body, MAX_MESSAGE_BYTES);
      } catch (e) {
        throwIfAborted(signal);
        last = new BackupError('VAULT_UNAVAILABLE', 'the vault could not be reached', { fleetId, cause: e });
        continue;
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
      if (res.status >= 500 && res.status !== 503) {
        last = new BackupError('VAULT_UNAVAILABLE', 'the vault failed', { fleetId, status: res.status });
        continue;
      }
      if (bytes === undefined) throw new BackupError('PROTOCOL', 'the vault answer is over its limit', { fleetId, limit: MAX_MESSAGE_BYTES });
      let msg: VaultResponse;
      try {
        msg = parseVaultResponse(bytes);
      } catch (e) {
        if (res.status === 503) {
          last = new BackupError('VAULT_UNAVAILABLE', 'the vault is unavailable', { fleetId, status: 503 });
          continue;
        }
        throw e;
      }
      if (res.status === 503 && msg.type === 'error') {
        // Unavailable is retried even when the vault could not echo our header (it may have
        // failed before it parsed the request); nothing in it is trusted beyond the delay.
        last = vaultError('VAULT_UNAVAILABLE', 503, { ...(msg.retryAfterMs === undefined ? {} : { retryAfterMs: msg.retryAfterMs }) });
        continue;
      }
      // The answer must be for this request: same fleet, suite, account and attempt.
      if (!sameHeader(msg, req)) throw new BackupError('PROTOCOL', 'the vault answered another request', { fleetId });
      if (msg.type === 'error') {
        const err = vaultError(msg.code, res.status, msg);
        if (err.code === 'VAULT_UNAVAILABLE') {
          last = err;
          continue;
        }
        if (attempt > 0 && err.code === 'PROTOCOL' && req.type === 'login-finish') {
          // Our first KE3 was processed but its answer was lost; the vault refuses a replay, so
          // the escrow of this attempt is gone. A new recovery (one more guess, reset on success)
          // is the way on.
          throw new BackupError('VAULT_UNAVAILABLE', 'the vault answer was lost; try again', { fleetId });
        }
        throw err;
      }
      if (res.status !== 200 || msg.type !== expect) {
        throw new BackupError('PROTOCOL', 'unexpected vault answer', { fleetId, status: res.status });
      }
      return { msg: msg as Extract<VaultResponse, { type: T }>, retried: attempt > 0 };
    }
    throw last ?? new BackupError('VAULT_UNAVAILABLE', 'the vault is unavailable', { fleetId });
  }

  async function register(
    password: Uint8Array,
    keyring: Keyring,
    mode: 'new' | 'replace' | 'reset',
    grant: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<{ guessLimit: number }> {
    await fleetEntries('enroll');
    const attemptId = newAttempt();
    const reg = await suite.startRegistration(password);
    // An ephemeral key for the registration authentication (docs/PROTOCOL.md §3.1): only the holder
    // of the fleet's OPAQUE private key can MAC the answer under DH(e, fleet key).
    const ka = await suite.keyAgreement();
    const eph = ka.generateKeyPair();
    let keys: RegistrationKeys | undefined;
    try {
      const init = { ...header(attemptId), type: 'register-init' as const, mode, request: reg.request, ephemeralKey: eph.publicKey };
      const { msg: r1 } = await call(init, 'register-response', signal);
      const serverKey = reg.serverPublicKey(r1.response);
      await checkServerKey(serverKey, 'enroll');
      const dh = ka.dh(eph.secretKey, serverKey);
      wipe(eph.secretKey);
      try {
        keys = registrationKeys(dh, init, r1.response);
      } finally {
        wipe(dh);
      }
      // Before the KSF runs and before anything is uploaded: the OPRF evaluation (and the whole
      // answer) must come from the holder of the trusted key, not from whoever is on the path.
      if (!verifyRegistrationMac(keys.responseKey, r1)) {
        throw new BackupError('FLEET_KEY_MISMATCH', "the registration response is not from the trusted fleet key's holder", { fleetId });
      }
      throwIfAborted(signal);
      const { record, exportKey } = await reg.finish(r1.response, opaqueBinding(fleetId, suite.id, accountId, serverKey));
      let escrow: Uint8Array;
      const kek = deriveEscrowKek(exportKey, fleetId, accountId);
      try {
        escrow = sealKeyring(keyring, kek, escrowAad(), random);
      } finally {
        wipe(kek, exportKey);
      }
      const unsigned = { ...header(attemptId), type: 'register-finish' as const, mode, record, escrow, grant, ticket: r1.ticket };
      const mac = registrationMac(keys.finishKey, unsigned);
      const { msg } = await call({ ...unsigned, mac }, 'registered', signal);
      return { guessLimit: msg.guessLimit };
    } finally {
      wipe(eph.secretKey, keys?.responseKey, keys?.finishKey);
    }
  }

  async function login(
    password: Uint8Array,
    intent: Exclude<LoginIntent, 'abort'>,
    signal: AbortSignal | undefined,
  ): Promise<{ keyring: Keyring; grant: Uint8Array }> {
    await fleetEntries('recover');
    const attemptId = newAttempt();
    const ls = await suite.startLogin(password);
    const { msg: r1 } = await call({ ...header(attemptId), type: 'login-init', intent, ke1: ls.ke1 }, 'login-response', signal);
    // The announced key must be trusted; the OPAQUE binding then makes the login succeed only
    // if it is also the key sealed in the envelope at enrollment.
    await checkServerKey(r1.serverPublicKey, 'recover');
    throwIfAborted(signal);
    // The intent is in the AKE context: the vault's KE2 MAC and our KE3 cover it (issue 13, finding 5).
    const res = await ls.finish(r1.ke2, opaqueBinding(fleetId, suite.id, accountId, r1.serverPublicKey, undefined, intent));
    if (res === undefined) {
      // Wrong code: the guess is already spent. Tell the vault so it can close the attempt (and
      // erase at zero) now rather than at timeout; its answer carries the fresh counter.
      try {
        await call({ ...header(attemptId), type: 'login-finish', intent: 'abort', ke3: new Uint8Array(0) }, 'login-result', signal);
      } catch (e) {
        if (isBackupError(e, 'WRONG_CODE') || isBackupError(e, 'LOCKED_OUT')) throw e;
      }
      if (r1.guessesRemaining === 0) throw vaultError('LOCKED_OUT', 403, {});
      throw vaultError('WRONG_CODE', 403, { guessesRemaining: r1.guessesRemaining });
    }
    let opened: { escrow: Uint8Array; grant: Uint8Array };
    try {
      const { msg: r2 } = await call({ ...header(attemptId), type: 'login-finish', intent, ke3: res.ke3 }, 'login-result', signal);
      opened = openEscrowTransport(res.sessionKey, header(attemptId), r2.sealed);
    } catch (e) {
      wipe(res.exportKey);
      throw e;
    } finally {
      wipe(res.sessionKey);
    }
    const kek = deriveEscrowKek(res.exportKey, fleetId, accountId);
    try {
      return { keyring: openKeyring(opened.escrow, kek, escrowAad()), grant: opened.grant };
    } catch (e) {
      wipe(opened.grant);
      throw e;
    } finally {
      wipe(kek, res.exportKey, opened.escrow);
    }
  }

  return Object.freeze({
    fleetId,
    accountId,
    async enroll(input) {
      if (typeof input !== 'object' || input === null) throw new TypeError('input must be an object');
      abytes(input.password, 'password');
      return register(input.password, input.keyring, input.reset === true ? 'reset' : 'new', new Uint8Array(0), input.signal);
    },
    async recover(input) {
      if (typeof input !== 'object' || input === null) throw new TypeError('input must be an object');
      abytes(input.password, 'password');
      const { keyring, grant } = await login(input.password, 'recover', input.signal);
      wipe(grant);
      return keyring;
    },
    async changeCode(input) {
      if (typeof input !== 'object' || input === null) throw new TypeError('input must be an object');
      abytes(input.oldPassword, 'oldPassword');
      abytes(input.newPassword, 'newPassword');
      // The new record needs the enroll role: refuse before the login, not after it.
      await fleetEntries('enroll');
      const { keyring, grant } = await login(input.oldPassword, 'change', input.signal);
      try {
        if (grant.length === 0) throw new BackupError('PROTOCOL', 'the vault released no change grant', { fleetId });
        await register(input.newPassword, keyring, 'replace', grant, input.signal);
      } finally {
        wipe(grant);
        wipeKeyring(keyring);
      }
    },
    async remove(input = {}) {
      await resolveSuite();
      await call({ ...header(newAttempt()), type: 'remove' }, 'removed', input.signal);
    },
    async status(input = {}) {
      await resolveSuite();
      const { msg } = await call({ ...header(newAttempt()), type: 'status' }, 'status-result', input.signal);
      return { fleetId, state: msg.state, guessesRemaining: msg.guessesRemaining, guessLimit: msg.guessLimit };
    },
  } satisfies VaultClient);
}
