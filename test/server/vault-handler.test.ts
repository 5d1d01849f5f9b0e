// The reference vault driven with raw protocol messages: exact guess counting under concurrency
// and retries, replayed KE3, expiry, grants, malformed input at every step, the file store across
// a restart, and what the persisted state does NOT contain.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { pinnedFleets } from '../../lib/recovery/fleet-trust.js';
import { createKeyring, encodeKeyring } from '../../lib/recovery/keyring.js';
import { INSECURE_IDENTITY_KSF, OpaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import { Rfc9807Suite } from '../../lib/recovery/opaque/rfc9807.js';
import { INSECURE_IDENTITY_KSF_9807 } from '../../lib/recovery/opaque/rfc9807-ksf.js';
import {
  encodeVaultMessage,
  opaqueBinding,
  openEscrowTransport,
  parseVaultMessage,
  type VaultRequest,
  type VaultResponse,
} from '../../lib/recovery/protocol.js';
import { createVaultClient, type VaultFetch } from '../../lib/recovery/vault-client.js';
import { createFileVaultStore } from '../../lib/server/stores/file.js';
import { createMemoryVaultStore } from '../../lib/server/stores/memory.js';
import {
  createVaultHandler,
  decodeAccountState,
  encodeAccountState,
  generateVaultSetup,
  type VaultHandlerOptions,
} from '../../lib/server/vault.js';
import { toBase64, toHex, utf8 } from '../../lib/util/bytes.js';
import { registrationAuth } from '../support/vault-registration.js';

const suite = new OpaqueTsSuite(INSECURE_IDENTITY_KSF);
const FLEET = 'fleet-h';
const ACCOUNT = 'acct-1';
const { setup, publicKey } = await generateVaultSetup(suite);
const verifyToken = async (t: string) => (t === 'tok' ? ACCOUNT : undefined);
const binding = opaqueBinding(FLEET, suite.id, ACCOUNT, publicKey);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function makeVault(opts: Partial<VaultHandlerOptions> = {}) {
  return createVaultHandler({ fleetId: FLEET, setup, store: opts.store ?? createMemoryVaultStore(), verifyToken, suite, guessLimit: 5, ...opts });
}

let attemptCounter = 0;
function attempt(): Uint8Array {
  const a = new Uint8Array(16);
  a[15] = ++attemptCounter;
  a[14] = attemptCounter >> 8;
  return a;
}

async function send(handler: VaultFetch, req: VaultRequest | Uint8Array, token = 'tok'): Promise<{ status: number; msg: VaultResponse }> {
  const body = req instanceof Uint8Array ? req : encodeVaultMessage(req);
  const res = await handler(
    new Request('http://vault.test/v1/vault', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: body as Uint8Array<ArrayBuffer> }),
  );
  return { status: res.status, msg: parseVaultMessage(new Uint8Array(await res.arrayBuffer()), 'response') };
}

const hdr = (attemptId: Uint8Array) => ({ fleetId: FLEET, suite: suite.id, accountId: ACCOUNT, attemptId });

/** Enroll through raw messages; returns the escrow bytes stored. */
async function enrollRaw(handler: VaultFetch, password: Uint8Array, escrow = new Uint8Array(64).fill(7)) {
  const a = attempt();
  const reg = await suite.startRegistration(password);
  const auth = await registrationAuth(suite);
  const init = { ...hdr(a), type: 'register-init' as const, mode: 'new' as const, request: reg.request, ephemeralKey: auth.ephemeralKey };
  const r1 = await send(handler, init);
  if (r1.msg.type !== 'register-response') throw new Error(`unexpected ${r1.msg.type}`);
  auth.accept(init, r1.msg, publicKey);
  const { record } = await reg.finish(r1.msg.response, binding);
  const fin: VaultRequest = auth.sign({ ...hdr(a), type: 'register-finish', mode: 'new', record, escrow, grant: new Uint8Array(0), ticket: r1.msg.ticket });
  const r2 = await send(handler, fin);
  expect(r2.msg.type).toBe('registered');
  return { fin, escrow };
}

async function status(handler: VaultFetch) {
  const r = await send(handler, { ...hdr(attempt()), type: 'status' });
  if (r.msg.type !== 'status-result') throw new Error('no status');
  return r.msg;
}

function errorCode(m: VaultResponse): string {
  return m.type === 'error' ? m.code : m.type;
}

describe('reference vault: the guess counter', () => {
  it('concurrent login-inits spend one guess each, every one durably before its KE2; none is free', async () => {
    const handler = makeVault();
    await enrollRaw(handler, utf8('pw'));
    const starts = await Promise.all([1, 2, 3, 4, 5, 6].map(() => suite.startLogin(utf8('guess'))));
    const answers = await Promise.all(starts.map((s) => send(handler, { ...hdr(attempt()), type: 'login-init', intent: 'recover', ke1: s.ke1 })));
    const remaining = answers.filter((a) => a.msg.type === 'login-response').map((a) => (a.msg as { guessesRemaining: number }).guessesRemaining);
    expect(remaining.sort()).toEqual([0, 1, 2, 3, 4]);
    const refused = answers.filter((a) => a.msg.type === 'error');
    expect(refused.map((a) => [a.status, errorCode(a.msg)])).toEqual([[410, 'LOCKED_OUT']]);
    // The last guesses are in flight: not erased yet; closing them (abort) erases.
    expect((await status(handler)).state).toBe('enrolled');
    const inFlight = answers.filter((a) => a.msg.type === 'login-response');
    for (const a of inFlight) {
      await send(handler, { ...hdr(a.msg.attemptId), type: 'login-finish', intent: 'abort', ke3: new Uint8Array(0) });
    }
    expect(await status(handler)).toMatchObject({ state: 'locked-out', guessesRemaining: 0 });
  });

  it('two vault instances over one file-store directory (two store instances, lock files) count exactly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vault-two-'));
    dirs.push(dir);
    const h1 = makeVault({ store: createFileVaultStore({ dir }) });
    const h2 = makeVault({ store: createFileVaultStore({ dir }) });
    await enrollRaw(h1, utf8('pw'));
    const starts = await Promise.all([1, 2, 3, 4].map(() => suite.startLogin(utf8('guess'))));
    const answers = await Promise.all(starts.map((s, i) => send(i % 2 ? h1 : h2, { ...hdr(attempt()), type: 'login-init', intent: 'recover', ke1: s.ke1 })));
    const remaining = answers.map((a) => (a.msg.type === 'login-response' ? a.msg.guessesRemaining : -1));
    expect(remaining.sort()).toEqual([1, 2, 3, 4]);
    expect((await status(h2)).guessesRemaining).toBe(1);
  });

  it('a repeated login-init (same attempt id, same KE1) gets the same KE2 and spends nothing more', async () => {
    const handler = makeVault();
    await enrollRaw(handler, utf8('pw'));
    const s = await suite.startLogin(utf8('pw'));
    const a = attempt();
    const r1 = await send(handler, { ...hdr(a), type: 'login-init', intent: 'recover', ke1: s.ke1 });
    const r2 = await send(handler, { ...hdr(a), type: 'login-init', intent: 'recover', ke1: s.ke1 });
    expect(r1.msg.type).toBe('login-response');
    expect(toHex(encodeVaultMessage(r2.msg))).toBe(toHex(encodeVaultMessage(r1.msg)));
    expect((await status(handler)).guessesRemaining).toBe(4);
    // Same attempt id with another KE1: refused, nothing spent.
    const other = await suite.startLogin(utf8('pw'));
    expect(errorCode((await send(handler, { ...hdr(a), type: 'login-init', intent: 'recover', ke1: other.ke1 })).msg)).toBe('PROTOCOL');
    expect((await status(handler)).guessesRemaining).toBe(4);
  });

  it('a verified KE3 resets the counter and releases the escrow once; a replayed KE3 is refused', async () => {
    const handler = makeVault();
    const { escrow } = await enrollRaw(handler, utf8('pw'));
    const s = await suite.startLogin(utf8('pw'));
    const a = attempt();
    const r1 = await send(handler, { ...hdr(a), type: 'login-init', intent: 'recover', ke1: s.ke1 });
    if (r1.msg.type !== 'login-response') throw new Error('no KE2');
    const fin = await s.finish(r1.msg.ke2, binding);
    expect(fin).toBeDefined();
    const finish: VaultRequest = { ...hdr(a), type: 'login-finish', intent: 'recover', ke3: fin!.ke3 };
    const r2 = await send(handler, finish);
    if (r2.msg.type !== 'login-result') throw new Error('no result');
    expect(r2.msg.guessesRemaining).toBe(5);
    expect(openEscrowTransport(fin!.sessionKey, hdr(a), r2.msg.sealed).escrow).toEqual(escrow);
    const replay = await send(handler, finish);
    expect([replay.status, errorCode(replay.msg)]).toEqual([400, 'PROTOCOL']);
    // The same KE3 presented for another attempt fails its MAC: a wrong guess, no escrow.
    const s2 = await suite.startLogin(utf8('pw'));
    const b = attempt();
    await send(handler, { ...hdr(b), type: 'login-init', intent: 'recover', ke1: s2.ke1 });
    const cross = await send(handler, { ...hdr(b), type: 'login-finish', intent: 'recover', ke3: fin!.ke3 });
    expect([cross.status, errorCode(cross.msg), (cross.msg as { guessesRemaining?: number }).guessesRemaining]).toEqual([403, 'WRONG_CODE', 4]);
  });

  it('a login that waits past its TTL is closed; at zero guesses that erases', async () => {
    let t = 1_000_000;
    const handler = makeVault({ now: () => t, guessLimit: 1, loginTtlMs: 1000 });
    await enrollRaw(handler, utf8('pw'));
    const s = await suite.startLogin(utf8('pw'));
    const a = attempt();
    const r1 = await send(handler, { ...hdr(a), type: 'login-init', intent: 'recover', ke1: s.ke1 });
    if (r1.msg.type !== 'login-response') throw new Error('no KE2');
    const fin = await s.finish(r1.msg.ke2, binding);
    t += 1001;
    const late = await send(handler, { ...hdr(a), type: 'login-finish', intent: 'recover', ke3: fin!.ke3 });
    expect(errorCode(late.msg)).toBe('LOCKED_OUT');
    expect(await status(handler)).toMatchObject({ state: 'locked-out' });
  });

  it('replacing a record needs a fresh grant from a login that proved the old code', async () => {
    const handler = makeVault();
    const { fin } = await enrollRaw(handler, utf8('pw'));
    if (fin.type !== 'register-finish') throw new Error();
    const reg = await suite.startRegistration(utf8('new'));
    const b = attempt();
    const auth = await registrationAuth(suite);
    const init = { ...hdr(b), type: 'register-init' as const, mode: 'replace' as const, request: reg.request, ephemeralKey: auth.ephemeralKey };
    const r1 = await send(handler, init);
    if (r1.msg.type !== 'register-response') throw new Error('no response');
    auth.accept(init, r1.msg, publicKey);
    const forged = auth.sign({ ...fin, ...hdr(b), mode: 'replace' as const, grant: new Uint8Array(32).fill(1), ticket: r1.msg.ticket });
    expect(errorCode((await send(handler, forged)).msg)).toBe('UNAUTHORIZED');
    // A ticket is bound to its attempt: replayed into another one it does not authenticate.
    expect(errorCode((await send(handler, { ...forged, ...hdr(attempt()) })).msg)).toBe('PROTOCOL');
    // The upload is bound to the exchange: the same finish with another grant fails its MAC.
    expect(errorCode((await send(handler, { ...forged, grant: new Uint8Array(32).fill(2) })).msg)).toBe('PROTOCOL');
    const fresh = { ...hdr(attempt()), type: 'register-init' as const, mode: 'new' as const, request: reg.request, ephemeralKey: auth.ephemeralKey };
    expect(errorCode((await send(handler, fresh)).msg)).toBe('ALREADY_ENROLLED');
    // A retry of the enrollment that already landed is answered, not refused.
    expect(errorCode((await send(handler, fin)).msg)).toBe('registered');
  });
});

describe('reference vault: a change grant is single-use', () => {
  /** A raw registration in `mode`; resolves to the vault's answer code. */
  async function registerRaw(handler: VaultFetch, mode: 'new' | 'replace' | 'reset', password: Uint8Array, grant: Uint8Array = new Uint8Array(0)) {
    const a = attempt();
    const reg = await suite.startRegistration(password);
    const auth = await registrationAuth(suite);
    const init = { ...hdr(a), type: 'register-init' as const, mode, request: reg.request, ephemeralKey: auth.ephemeralKey };
    const r1 = await send(handler, init);
    if (r1.msg.type !== 'register-response') return errorCode(r1.msg);
    auth.accept(init, r1.msg, publicKey);
    const { record } = await reg.finish(r1.msg.response, binding);
    const fin = auth.sign({ ...hdr(a), type: 'register-finish', mode, record, escrow: new Uint8Array(64).fill(5), grant, ticket: r1.msg.ticket });
    return errorCode((await send(handler, fin)).msg);
  }

  /** A login with intent `change` and the right code: the grant the vault released. */
  async function changeGrant(handler: VaultFetch, password: Uint8Array): Promise<Uint8Array> {
    const a = attempt();
    const l = await suite.startLogin(password);
    const r1 = await send(handler, { ...hdr(a), type: 'login-init', intent: 'change', ke1: l.ke1 });
    if (r1.msg.type !== 'login-response') throw new Error(errorCode(r1.msg));
    const fin = await l.finish(r1.msg.ke2, opaqueBinding(FLEET, suite.id, ACCOUNT, publicKey, undefined, 'change'));
    const r2 = await send(handler, { ...hdr(a), type: 'login-finish', intent: 'change', ke3: fin!.ke3 });
    if (r2.msg.type !== 'login-result') throw new Error(errorCode(r2.msg));
    const { grant } = openEscrowTransport(fin!.sessionKey, hdr(a), r2.msg.sealed);
    expect(grant.length).toBe(32);
    return grant;
  }

  it('used once it is gone; a reset or a removal kills an unused one; it expires', async () => {
    let t = 9_000_000;
    const handler = makeVault({ now: () => t });
    await enrollRaw(handler, utf8('pw'));
    const g1 = await changeGrant(handler, utf8('pw'));
    expect(await registerRaw(handler, 'replace', utf8('pw2'), g1)).toBe('registered');
    // The same grant again, with a fresh, correctly authenticated registration: refused.
    expect(await registerRaw(handler, 'replace', utf8('pw3'), g1)).toBe('UNAUTHORIZED');
    // A grant, then a reset by whoever holds a token: the grant died with the old enrollment.
    const g2 = await changeGrant(handler, utf8('pw2'));
    expect(await registerRaw(handler, 'reset', utf8('pw4'))).toBe('registered');
    expect(await registerRaw(handler, 'replace', utf8('pw5'), g2)).toBe('UNAUTHORIZED');
    // A grant, then remove and a new enrollment: dead too.
    const g3 = await changeGrant(handler, utf8('pw4'));
    await send(handler, { ...hdr(attempt()), type: 'remove' });
    expect(await registerRaw(handler, 'new', utf8('pw6'))).toBe('registered');
    expect(await registerRaw(handler, 'replace', utf8('pw7'), g3)).toBe('UNAUTHORIZED');
    // Past its deadline (grantTtlMs, 5 min).
    const g4 = await changeGrant(handler, utf8('pw6'));
    t += 5 * 60_000 + 1;
    expect(await registerRaw(handler, 'replace', utf8('pw8'), g4)).toBe('UNAUTHORIZED');
    expect(await status(handler)).toMatchObject({ state: 'enrolled', guessesRemaining: 5 });
  });
});

describe('reference vault: registration is not an OPRF oracle', () => {
  it('the same request evaluated twice gives unrelated answers (a fresh OPRF key per registration)', async () => {
    const handler = makeVault();
    await enrollRaw(handler, utf8('pw'));
    const reg = await suite.startRegistration(utf8('guess'));
    const answers = [];
    for (let i = 0; i < 2; i++) {
      const ephemeralKey = (await registrationAuth(suite)).ephemeralKey;
      const r = await send(handler, { ...hdr(attempt()), type: 'register-init', mode: 'reset', request: reg.request, ephemeralKey });
      if (r.msg.type !== 'register-response') throw new Error('no response');
      answers.push(toHex(r.msg.response.subarray(0, 33))); // the OPRF evaluation
    }
    expect(answers[0]).not.toBe(answers[1]);
  });
});

describe('reference vault: stored state parser', () => {
  it('round-trips, and corrupt bytes only ever fail as VAULT_UNAVAILABLE', async () => {
    const store = createMemoryVaultStore();
    const handler = makeVault({ store });
    await enrollRaw(handler, utf8('pw'));
    const s = await suite.startLogin(utf8('x'));
    await send(handler, { ...hdr(attempt()), type: 'login-init', intent: 'recover', ke1: s.ke1 });
    const value = [...store.dump().values()][0]!;
    expect(toHex(encodeAccountState(decodeAccountState(value)))).toBe(toHex(value));
    fc.assert(
      fc.property(fc.nat(value.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(value.length), (i, x, cut) => {
        const b = Uint8Array.from(value);
        b[i]! ^= x;
        for (const bytes of [b, value.subarray(0, cut)]) {
          try {
            decodeAccountState(bytes);
          } catch (e) {
            expect(isBackupError(e, 'VAULT_UNAVAILABLE')).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('reference vault: malformed input', () => {
  it('every truncation of every request is PROTOCOL and spends nothing', async () => {
    const handler = makeVault();
    const { fin } = await enrollRaw(handler, utf8('pw'));
    const s = await suite.startLogin(utf8('pw'));
    const reg = await suite.startRegistration(utf8('pw2'));
    const { ephemeralKey } = await registrationAuth(suite);
    const requests: VaultRequest[] = [
      { ...hdr(attempt()), type: 'register-init', mode: 'reset', request: reg.request, ephemeralKey },
      fin,
      { ...hdr(attempt()), type: 'login-init', intent: 'recover', ke1: s.ke1 },
      { ...hdr(attempt()), type: 'login-finish', intent: 'recover', ke3: new Uint8Array(32) },
      { ...hdr(attempt()), type: 'status' },
      { ...hdr(attempt()), type: 'remove' },
    ];
    for (const req of requests) {
      const bytes = encodeVaultMessage(req);
      for (let n = 0; n < bytes.length; n++) {
        const r = await send(handler, bytes.subarray(0, n));
        expect([r.status, errorCode(r.msg)]).toEqual([400, 'PROTOCOL']);
      }
    }
    expect(await status(handler)).toMatchObject({ state: 'enrolled', guessesRemaining: 5 });
  });

  it('an over-long body, a wrong method or path, a wrong fleet or suite are refused', async () => {
    const handler = makeVault();
    const big = await handler(new Request('http://v/v1/vault', { method: 'POST', headers: { authorization: 'Bearer tok' }, body: new Uint8Array(200_000) }));
    expect(big.status).toBe(400);
    expect((await handler(new Request('http://v/v1/vault', { method: 'GET' }))).status).toBe(400);
    const st = { ...hdr(attempt()), type: 'status' } as const;
    expect(errorCode((await send(handler, { ...st, fleetId: 'other' })).msg)).toBe('PROTOCOL');
    expect(errorCode((await send(handler, { ...st, suite: 'opaque-ts/P256-SHA256-scrypt/v1' })).msg)).toBe('PROTOCOL');
    expect(errorCode((await send(handler, st, 'bad')).msg)).toBe('UNAUTHORIZED');
    const authDown = makeVault({
      verifyToken: async () => {
        throw new Error('auth backend down');
      },
    });
    const down = await send(authDown, st);
    expect([down.status, errorCode(down.msg)]).toEqual([503, 'VAULT_UNAVAILABLE']);
  });

  it('property: a mutated login-init never crashes the vault and spends at most one guess', async () => {
    const handler = makeVault({ guessLimit: 100 });
    await enrollRaw(handler, utf8('pw'));
    const s = await suite.startLogin(utf8('pw'));
    const good = encodeVaultMessage({ ...hdr(attempt()), type: 'login-init', intent: 'recover', ke1: s.ke1 });
    let spent = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), async (i, x) => {
        const bad = Uint8Array.from(good);
        bad[i]! ^= x;
        const r = await send(handler, bad);
        // 403: the type byte XOR 7 turns this login-init into a well-formed login-finish (intent, then
        // a field), which settles an earlier run's pending login of the same attempt as WRONG_CODE
        // (its guess was spent, and counted, at that login-init). Counterexample [5, 7], seen once.
        expect([200, 400, 401, 403].includes(r.status)).toBe(true);
        if (r.status === 200) spent++;
        expect((await status(handler)).guessesRemaining).toBe(100 - spent);
      }),
      { numRuns: 15 },
    );
  });

  it('the client turns a malformed or truncated answer at every step into a typed error', async () => {
    const handler = makeVault();
    const trust = pinnedFleets([{ fleetId: FLEET, suite: suite.id, publicKey }]);
    const keyring = createKeyring();
    for (const step of [0, 1]) {
      for (const cut of ['truncate', 'flip-header'] as const) {
        let n = 0;
        const broken: VaultFetch = async (req) => {
          const res = await handler(req);
          if (n++ !== step) return res;
          const b = new Uint8Array(await res.arrayBuffer());
          if (cut === 'truncate') return new Response(b.subarray(0, b.length - 1), { status: res.status });
          b[10] ^= 1; // inside the fleet id / suite / account names
          return new Response(b, { status: res.status });
        };
        const c = createVaultClient({ fleetId: FLEET, accountId: ACCOUNT, baseUrl: 'http://v', fetch: broken, getToken: async () => 'tok', trust, suite, retries: 0 });
        for (const op of [() => c.enroll({ password: utf8('pw'), keyring, reset: true }), () => c.recover({ password: utf8('pw') })]) {
          n = 0;
          const e = await op().then(
            () => undefined,
            (err: unknown) => err,
          );
          expect(isBackupError(e, 'PROTOCOL')).toBe(true);
        }
      }
    }
  });
});

describe('reference vault: persistence', () => {
  it('the file store keeps counters across a restart, and holds neither the backup key nor the code', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vault-file-'));
    dirs.push(dir);
    const trust = pinnedFleets([{ fleetId: FLEET, suite: suite.id, publicKey }]);
    const code = 'K7QM-3XWD-9TNR-PLEASE-NOT-IN-STATE';
    const password = utf8(`secret:${code}`);
    const keyring = createKeyring();
    const mk = () => {
      const handler = makeVault({ store: createFileVaultStore({ dir }) });
      return createVaultClient({ fleetId: FLEET, accountId: ACCOUNT, baseUrl: 'http://v', fetch: handler, getToken: async () => 'tok', trust, suite });
    };
    await mk().enroll({ password, keyring });
    await mk()
      .recover({ password: utf8('secret:wrong') })
      .catch(() => undefined);
    // A new handler and a new store instance over the same directory: the spent guess stays spent.
    expect((await mk().status()).guessesRemaining).toBe(4);
    // Every file under the store's directory (one directory per key).
    const files = (await readdir(dir, { recursive: true })).filter((f) => statSync(join(dir, f)).isFile());
    expect(files.filter((f) => f.endsWith('.tmp') || f.endsWith('.lock'))).toEqual([]);
    const bytes = Buffer.concat(await Promise.all(files.map((f) => readFile(join(dir, f)))));
    const needles = [keyring.current.key, encodeKeyring(keyring), password, utf8(code)];
    for (const n of needles) {
      for (const form of [n, utf8(toHex(n)), utf8(toBase64(n))]) expect(bytes.indexOf(Buffer.from(form))).toBe(-1);
    }
    const keyring2 = await mk().recover({ password });
    expect(toHex(keyring2.current.key)).toBe(toHex(keyring.current.key));
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 13, finding 1: a recorded enrollment, replayed, must never undo a lockout (or a removal).
// The attacker holds a bearer token for the account and the bytes of one earlier registration
// (request logs, a TLS-terminating proxy). Run with both opaque-ts suites (the test-only identity
// KSF and the real scrypt one) and the RFC 9807 ristretto255 suite.

const scryptSuite = new OpaqueTsSuite();
const rfcSuite = new Rfc9807Suite('ristretto255-SHA512', INSECURE_IDENTITY_KSF_9807);
for (const s of [suite, scryptSuite, rfcSuite]) {
  describe(`reference vault: a replayed registration changes nothing (${s.id})`, async () => {
    const su = await generateVaultSetup(s);
    const bind = opaqueBinding(FLEET, s.id, ACCOUNT, su.publicKey);
    const h = (attemptId: Uint8Array) => ({ fleetId: FLEET, suite: s.id, accountId: ACCOUNT, attemptId });
    const mk = (opts: Partial<VaultHandlerOptions> = {}) => {
      const store = createMemoryVaultStore();
      return { store, handler: makeVault({ suite: s, setup: su.setup, store, ...opts }) };
    };

    /** One registration through raw messages; returns the recorded init and finish bytes. */
    async function register(handler: VaultFetch, mode: 'new' | 'reset', password: Uint8Array, attemptId = attempt()) {
      const reg = await s.startRegistration(password);
      const auth = await registrationAuth(s);
      const init = { ...h(attemptId), type: 'register-init' as const, mode, request: reg.request, ephemeralKey: auth.ephemeralKey };
      const r1 = await send(handler, init);
      if (r1.msg.type !== 'register-response') throw new Error(`unexpected ${errorCode(r1.msg)}`);
      auth.accept(init, r1.msg, su.publicKey);
      const { record } = await reg.finish(r1.msg.response, bind);
      const fin = auth.sign({ ...h(attemptId), type: 'register-finish', mode, record, escrow: new Uint8Array(64).fill(9), grant: new Uint8Array(0), ticket: r1.msg.ticket });
      return { init: encodeVaultMessage(init), fin: encodeVaultMessage(fin), send: () => send(handler, fin) };
    }

    /** The recorded register-finish with its mode changed (a grant added for `replace`, as the parser demands). */
    function withMode(fin: Uint8Array, mode: 'new' | 'replace' | 'reset'): Uint8Array {
      const m = parseVaultMessage(fin, 'request');
      if (m.type !== 'register-finish') throw new Error('not a register-finish');
      return encodeVaultMessage({ ...m, mode, grant: mode === 'replace' ? new Uint8Array(32).fill(3) : new Uint8Array(0) });
    }

    async function lockout(handler: VaultFetch, n: number) {
      for (let i = 0; i < n; i++) {
        const l = await s.startLogin(utf8(`guess-${i}`));
        const a = attempt();
        const r = await send(handler, { ...h(a), type: 'login-init', intent: 'recover', ke1: l.ke1 });
        expect(r.msg.type).toBe('login-response');
        await send(handler, { ...h(a), type: 'login-finish', intent: 'abort', ke3: new Uint8Array(0) });
      }
    }

    const stat = async (handler: VaultFetch) => {
      const r = await send(handler, { ...h(attempt()), type: 'status' });
      if (r.msg.type !== 'status-result') throw new Error('no status');
      return r.msg;
    };
    const snapshot = (store: ReturnType<typeof createMemoryVaultStore>) => [...store.dump().entries()].map(([k, v]) => `${k}=${toHex(v)}`).join();

    it('guess to lockout, replay the recorded register-init / register-finish in every mode, then remove and replay again: all refused, nothing changes', async () => {
      const { store, handler } = mk();
      const rec = await register(handler, 'new', utf8('1234'));
      expect(errorCode((await rec.send()).msg)).toBe('registered');
      await lockout(handler, 5);
      expect(await stat(handler)).toMatchObject({ state: 'locked-out', guessesRemaining: 0 });
      for (const phase of ['locked-out', 'removed'] as const) {
        if (phase === 'removed') expect(errorCode((await send(handler, { ...h(attempt()), type: 'remove' })).msg)).toBe('removed');
        const before = snapshot(store);
        for (const mode of ['reset', 'replace', 'new'] as const) {
          const r = await send(handler, withMode(rec.fin, mode));
          expect([phase, mode, r.status, errorCode(r.msg)]).toEqual([phase, mode, 409, 'REPLAYED']);
          expect(snapshot(store)).toBe(before);
        }
        // The recorded register-init is refused too: its attempt already enrolled.
        const ri = await send(handler, rec.init);
        expect([phase, errorCode(ri.msg)]).toEqual([phase, 'REPLAYED']);
        expect(snapshot(store)).toBe(before);
        expect(await stat(handler)).toMatchObject({ state: phase === 'removed' ? 'not-enrolled' : 'locked-out', guessesRemaining: 0 });
      }
      // A login still finds no record: no guess came back.
      const l = await s.startLogin(utf8('1234'));
      expect(errorCode((await send(handler, { ...h(attempt()), type: 'login-init', intent: 'recover', ke1: l.ke1 })).msg)).toBe('NOT_ENROLLED');
    });

    it('a ticket dies with any later enrollment, lockout or removal, and at its deadline', async () => {
      let t = 5_000_000;
      const { handler } = mk({ now: () => t, guessLimit: 2 });
      const first = await register(handler, 'new', utf8('one'));
      expect(errorCode((await first.send()).msg)).toBe('registered');
      // A lost answer retried before anything else happened: the same answer, no change.
      expect(errorCode((await first.send()).msg)).toBe('registered');
      // Two registrations started at one epoch: the first to land wins, the other is stale.
      const a = await register(handler, 'reset', utf8('two'));
      const b = await register(handler, 'reset', utf8('three'));
      expect(errorCode((await a.send()).msg)).toBe('registered');
      expect(errorCode((await b.send()).msg)).toBe('REPLAYED');
      expect(errorCode((await first.send()).msg)).toBe('REPLAYED');
      // After a login, even the latest enrollment's own finish is no longer a harmless retry.
      await lockout(handler, 1);
      expect(errorCode((await a.send()).msg)).toBe('REPLAYED');
      expect(await stat(handler)).toMatchObject({ guessesRemaining: 1 });
      // Started, then locked out: the finish is refused.
      const c = await register(handler, 'reset', utf8('four'));
      await lockout(handler, 1);
      expect(errorCode((await c.send()).msg)).toBe('REPLAYED');
      expect(await stat(handler)).toMatchObject({ state: 'locked-out' });
      // Started, then removed: refused.
      const d = await register(handler, 'reset', utf8('five'));
      await send(handler, { ...h(attempt()), type: 'remove' });
      expect(errorCode((await d.send()).msg)).toBe('REPLAYED');
      expect(await stat(handler)).toMatchObject({ state: 'not-enrolled' });
      // Past its deadline: refused; in time: accepted.
      const e = await register(handler, 'new', utf8('six'));
      t += 10 * 60_000;
      expect(errorCode((await e.send()).msg)).toBe('REPLAYED');
      const f = await register(handler, 'new', utf8('seven'));
      expect(errorCode((await f.send()).msg)).toBe('registered');
    });
  });
}
