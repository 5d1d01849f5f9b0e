// The vault client against the reference vault, in-process: the full flows, the guess counter,
// lockout, idempotent retries, concurrency, fleet-key checks and auth. The OPAQUE suite is the
// opaque-ts suite with the identity KSF (test-only; its suite id says INSECURE) so the P-256 work
// stays; one flow with the real scrypt suite runs over HTTP in test/server/vault-http.test.ts.
import { describe, expect, it } from 'vitest';
import { isBackupError, type BackupErrorCode } from '../../lib/errors.js';
import { pinnedFleets, type FleetTrust } from '../../lib/recovery/fleet-trust.js';
import { createKeyring, type Keyring } from '../../lib/recovery/keyring.js';
import { INSECURE_IDENTITY_KSF, OpaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import { createVaultClient, type VaultFetch } from '../../lib/recovery/vault-client.js';
import { createVaultHandler, generateVaultSetup, type VaultHandlerOptions } from '../../lib/server/vault.js';
import { createMemoryVaultStore, type MemoryVaultStore } from '../../lib/server/stores/memory.js';
import type { VaultStore } from '../../lib/server/vault-store.js';
import { equalBytes, utf8 } from '../../lib/util/bytes.js';

const suite = new OpaqueTsSuite(INSECURE_IDENTITY_KSF);
const FLEET = 'fleet-test-1';
const setupA = await generateVaultSetup(suite);
const setupB = await generateVaultSetup(suite);
const tokens = new Map([
  ['tok-alice', 'alice'],
  ['tok-bob', 'bob'],
]);
const verifyToken = async (t: string) => tokens.get(t);
const pw = (s: string) => utf8(`test-secret:${s}`);

function vault<S extends VaultStore = MemoryVaultStore>(opts: Partial<Omit<VaultHandlerOptions, 'store'>> & { store?: S } = {}) {
  const store = opts.store ?? (createMemoryVaultStore() as VaultStore as S);
  const handler = createVaultHandler({ fleetId: FLEET, setup: setupA.setup, verifyToken, suite, guessLimit: 5, ...opts, store });
  return { handler, store };
}

function client(fetch: VaultFetch, o: { account?: string; token?: string; trust?: FleetTrust; retries?: number } = {}) {
  return createVaultClient({
    fleetId: FLEET,
    accountId: o.account ?? 'alice',
    baseUrl: 'http://vault.test',
    fetch,
    getToken: async () => o.token ?? 'tok-alice',
    trust: o.trust ?? pinnedFleets([{ fleetId: FLEET, suite: suite.id, publicKey: setupA.publicKey }]),
    suite,
    retries: o.retries ?? 2,
    sleep: async () => undefined,
  });
}

async function code(p: Promise<unknown>): Promise<{ code: BackupErrorCode; guessesRemaining?: number }> {
  try {
    await p;
  } catch (e) {
    if (isBackupError(e)) return { code: e.code, ...(e.guessesRemaining === undefined ? {} : { guessesRemaining: e.guessesRemaining }) };
    throw e;
  }
  throw new Error('expected a BackupError');
}

function sameKeyring(a: Keyring, b: Keyring): boolean {
  return (
    a.generations.length === b.generations.length &&
    a.generations.every((g, i) => equalBytes(g.key, b.generations[i]!.key) && equalBytes(g.keyId, b.generations[i]!.keyId))
  );
}

describe('vault flows (in-process)', () => {
  it('enroll → recover → change code → recover with the new code; the old code is now wrong', async () => {
    const { handler } = vault();
    const c = client(handler);
    const keyring = createKeyring();
    expect(await c.enroll({ password: pw('one'), keyring })).toEqual({ guessLimit: 5 });
    expect(await c.status()).toMatchObject({ state: 'enrolled', guessesRemaining: 5, guessLimit: 5 });
    const r1 = await c.recover({ password: pw('one') });
    expect(sameKeyring(r1, keyring)).toBe(true);
    await c.changeCode({ oldPassword: pw('one'), newPassword: pw('two') });
    const r2 = await c.recover({ password: pw('two') });
    expect(sameKeyring(r2, keyring)).toBe(true);
    expect(await code(c.recover({ password: pw('one') }))).toEqual({ code: 'WRONG_CODE', guessesRemaining: 4 });
    // A second enrollment without the old code is refused.
    expect((await code(c.enroll({ password: pw('three'), keyring }))).code).toBe('ALREADY_ENROLLED');
  });

  it('wrong codes count down, a right code resets, the last wrong code locks out and erases', async () => {
    const { handler, store } = vault({ guessLimit: 3 });
    const c = client(handler);
    const keyring = createKeyring();
    await c.enroll({ password: pw('right'), keyring });
    expect(await code(c.recover({ password: pw('w1') }))).toEqual({ code: 'WRONG_CODE', guessesRemaining: 2 });
    await c.recover({ password: pw('right') });
    expect((await c.status()).guessesRemaining).toBe(3);
    expect(await code(c.recover({ password: pw('x2') }))).toEqual({ code: 'WRONG_CODE', guessesRemaining: 2 });
    expect(await code(c.recover({ password: pw('x1') }))).toEqual({ code: 'WRONG_CODE', guessesRemaining: 1 });
    expect(await code(c.recover({ password: pw('x0') }))).toEqual({ code: 'LOCKED_OUT', guessesRemaining: 0 });
    // Erased: the right code no longer helps, status says so, and the stored state holds no record.
    expect(await code(c.recover({ password: pw('right') }))).toEqual({ code: 'LOCKED_OUT', guessesRemaining: 0 });
    expect(await c.status()).toMatchObject({ state: 'locked-out', guessesRemaining: 0 });
    // The account's value (the fleet's erasure queue, account ids only, empties at the next sweep).
    const dump = new Map([...store.dump()].filter(([k]) => k.includes('/account/')));
    expect(dump.size).toBe(1);
    expect([...dump.values()][0]!.length).toBeLessThan(200); // a tombstone: no record, no escrow
    // Only an explicit reset enrolls again.
    expect((await code(c.enroll({ password: pw('new'), keyring }))).code).toBe('LOCKED_OUT');
    await c.enroll({ password: pw('new'), keyring, reset: true });
    expect(sameKeyring(await c.recover({ password: pw('new') }), keyring)).toBe(true);
  });

  it('not enrolled, remove, and status before and after', async () => {
    const { handler } = vault();
    const c = client(handler);
    expect(await c.status()).toMatchObject({ state: 'not-enrolled' });
    expect(await code(c.recover({ password: pw('a') }))).toEqual({ code: 'NOT_ENROLLED' });
    await c.enroll({ password: pw('a'), keyring: createKeyring() });
    await c.remove();
    await c.remove(); // idempotent
    expect(await c.status()).toMatchObject({ state: 'not-enrolled' });
    expect((await code(c.recover({ password: pw('a') }))).code).toBe('NOT_ENROLLED');
  });

  it('concurrent logins each spend exactly one guess, across two vault processes sharing a store', async () => {
    const store = createMemoryVaultStore();
    const v1 = vault({ store });
    const v2 = vault({ store });
    await client(v1.handler).enroll({ password: pw('right'), keyring: createKeyring() });
    const results = await Promise.all(
      [0, 1, 2, 3].map((i) => code(client(i % 2 ? v1.handler : v2.handler).recover({ password: pw(`wrong${i}`) }))),
    );
    // Four attempts, four guesses: no interleaving gave a free one (the raw KE2 counters are
    // checked one by one in test/server/vault-handler.test.ts).
    expect(results.every((r) => r.code === 'WRONG_CODE')).toBe(true);
    expect((await client(v1.handler).status()).guessesRemaining).toBe(1);
  });

  it('a retried request (lost answer) never spends a second guess', async () => {
    const { handler } = vault();
    await client(handler).enroll({ password: pw('right'), keyring: createKeyring() });
    let dropped = 0;
    // Every login-init reaches the vault, but the first answer is lost on the way back.
    const lossy: VaultFetch = async (req) => {
      const body = new Uint8Array(await req.clone().arrayBuffer());
      const res = await handler(req);
      if (body[5] === 0x03 && dropped++ === 0) throw new TypeError('network error');
      return res;
    };
    expect(await code(client(lossy).recover({ password: pw('wrong') }))).toEqual({ code: 'WRONG_CODE', guessesRemaining: 4 });
    expect(dropped).toBe(2);
    expect((await client(handler).status()).guessesRemaining).toBe(4);
  });

  it('refuses a vault whose key is not a trusted key of the fleet, and an untrusted fleet', async () => {
    const impostor = vault({ setup: setupB.setup });
    const keyring = createKeyring();
    expect((await code(client(impostor.handler).enroll({ password: pw('a'), keyring }))).code).toBe('FLEET_KEY_MISMATCH');
    expect(impostor.store.dump().size).toBe(0); // the client never sent a record
    // The key is what is not trusted (FLEET_UNTRUSTED is the fleet): the message must say so.
    const mismatch = await client(impostor.handler).enroll({ password: pw('a'), keyring }).catch((e: unknown) => e);
    expect((mismatch as Error).message).toMatch(/key that is not a trusted key of the fleet/);
    // Unknown fleet: resolveUnknown is asked, then FLEET_UNTRUSTED.
    const asked: Uint8Array[] = [];
    const unknown: FleetTrust = {
      trustedFleets: async () => [],
      resolveUnknown: async (_f, key) => {
        asked.push(key);
        return undefined;
      },
    };
    expect((await code(client(impostor.handler, { trust: unknown }).enroll({ password: pw('a'), keyring }))).code).toBe('FLEET_UNTRUSTED');
    expect(asked.length).toBe(1);
    expect(equalBytes(asked[0]!, setupB.publicKey)).toBe(true);
    // A bundle that proves the key (resolveUnknown answers) lets the client proceed.
    const proven: FleetTrust = {
      trustedFleets: async () => [],
      resolveUnknown: async (fleetId, publicKey) => ({ fleetId, suite: suite.id, publicKey }),
    };
    await client(impostor.handler, { trust: proven }).enroll({ password: pw('a'), keyring });
    // The fleet rotated away from key B: recovery from B is refused before KE3 (no escrow released).
    const rotated = pinnedFleets([{ fleetId: FLEET, suite: suite.id, publicKey: setupA.publicKey }]);
    expect((await code(client(impostor.handler, { trust: rotated }).recover({ password: pw('a') }))).code).toBe('FLEET_KEY_MISMATCH');
    // A fleet that does not publish this suite is untrusted.
    const otherSuite = pinnedFleets([{ fleetId: FLEET, suite: 'opaque-ke/ristretto255/v1', publicKey: setupA.publicKey }]);
    expect((await code(client(impostor.handler, { trust: otherSuite }).recover({ password: pw('a') }))).code).toBe('FLEET_UNTRUSTED');
  });

  it('fleet roles: no enrollment at a recover-only fleet, no login at an enroll-only one; the vault is not asked', async () => {
    const { handler, store } = vault();
    let calls = 0;
    const counting: VaultFetch = (r) => {
      calls++;
      return handler(r);
    };
    const keyring = createKeyring();
    const pin = (roles?: ('enroll' | 'recover')[]) =>
      pinnedFleets([{ fleetId: FLEET, suite: suite.id, publicKey: setupA.publicKey, ...(roles === undefined ? {} : { roles }) }]);
    // A superseded fleet (recover-only): enroll and reset are refused before any request.
    for (const reset of [false, true]) {
      const err = await client(counting, { trust: pin(['recover']) }).enroll({ password: pw('r'), keyring, reset }).catch((e: unknown) => e);
      expect(isBackupError(err, 'FLEET_UNTRUSTED')).toBe(true);
      expect((err as Error).message).toMatch(/enrollment/);
    }
    expect(calls).toBe(0);
    expect(store.dump().size).toBe(0);
    // Enrolled while it allowed both; demoted to recover-only: recovery still works, a code change
    // (a new record) does not, and it spends no guess.
    await client(counting, { trust: pin(['enroll', 'recover']) }).enroll({ password: pw('r'), keyring });
    const demoted = client(counting, { trust: pin(['recover']) });
    expect(sameKeyring(await demoted.recover({ password: pw('r') }), keyring)).toBe(true);
    const beforeChange = calls;
    expect((await code(demoted.changeCode({ oldPassword: pw('r'), newPassword: pw('s') }))).code).toBe('FLEET_UNTRUSTED');
    expect(calls).toBe(beforeChange);
    expect(await demoted.status()).toMatchObject({ state: 'enrolled', guessesRemaining: 5 });
    // An enroll-only key: login is refused before KE1, so no guess is spent.
    const before = calls;
    expect((await code(client(counting, { trust: pin(['enroll']) }).recover({ password: pw('r') }))).code).toBe('FLEET_UNTRUSTED');
    expect(calls).toBe(before);
    // A key proven by resolveUnknown carries its roles too: a recover-only answer refuses enrollment
    // after register-init, before any record is sent.
    const provenRecoverOnly: FleetTrust = {
      trustedFleets: async () => [],
      resolveUnknown: async (fleetId, publicKey) => ({ fleetId, suite: suite.id, publicKey, roles: ['recover'] }),
    };
    const fresh = vault();
    expect((await code(client(fresh.handler, { trust: provenRecoverOnly }).enroll({ password: pw('r'), keyring }))).code).toBe('FLEET_UNTRUSTED');
    expect(fresh.store.dump().size).toBe(0);
  });

  it('a vault answering with another key pair cannot complete a login for a record made elsewhere', async () => {
    const store = createMemoryVaultStore();
    const a = vault({ store });
    await client(a.handler).enroll({ password: pw('right'), keyring: createKeyring() });
    // Vault B holds A's state (stolen store) but not A's key: both keys trusted, login fails.
    const b = vault({ store, setup: setupB.setup });
    const both = pinnedFleets([
      { fleetId: FLEET, suite: suite.id, publicKey: setupA.publicKey },
      { fleetId: FLEET, suite: suite.id, publicKey: setupB.publicKey },
    ]);
    expect((await code(client(b.handler, { trust: both }).recover({ password: pw('right') }))).code).toBe('WRONG_CODE');
  });

  it('bearer tokens: missing, unknown or for another account are UNAUTHORIZED', async () => {
    const { handler } = vault();
    expect((await code(client(handler, { token: 'nope' }).status())).code).toBe('UNAUTHORIZED');
    expect((await code(client(handler, { token: 'tok-bob' }).status())).code).toBe('UNAUTHORIZED');
    expect(await client(handler, { account: 'bob', token: 'tok-bob' }).status()).toMatchObject({ state: 'not-enrolled' });
  });

  it('a store that cannot confirm a write gives VAULT_UNAVAILABLE and spends nothing', async () => {
    const inner = createMemoryVaultStore();
    let down = false;
    const store: VaultStore = {
      get: (k) => inner.get(k),
      compareAndSwap: async (k, e, v) => {
        if (down) throw new Error('no quorum');
        return inner.compareAndSwap(k, e, v);
      },
    };
    const { handler } = vault({ store });
    const c = client(handler, { retries: 1 });
    await c.enroll({ password: pw('right'), keyring: createKeyring() });
    down = true;
    expect((await code(c.recover({ password: pw('right') }))).code).toBe('VAULT_UNAVAILABLE');
    down = false;
    expect((await c.status()).guessesRemaining).toBe(5);
  });

  it('timeouts and cancellation: a hanging vault times out per request; an aborted call says ABORTED', async () => {
    let calls = 0;
    const hanging: VaultFetch = (req) =>
      new Promise((_resolve, reject) => {
        calls++;
        req.signal.addEventListener('abort', () => reject(req.signal.reason), { once: true });
      });
    const c = createVaultClient({
      fleetId: FLEET,
      accountId: 'alice',
      endpoint: 'http://vault.test/v1/vault',
      fetch: hanging,
      getToken: async () => 'tok-alice',
      trust: pinnedFleets([]),
      suite,
      timeoutMs: 20,
      retries: 1,
      sleep: async () => undefined,
    });
    expect((await code(c.status())).code).toBe('VAULT_UNAVAILABLE');
    expect(calls).toBe(2); // one retry, same request
    const ac = new AbortController();
    const p = c.status({ signal: ac.signal });
    ac.abort(new Error('user left'));
    expect((await code(p)).code).toBe('ABORTED');
    expect(() => createVaultClient({ fleetId: 'bad fleet', accountId: 'a', baseUrl: 'http://x', fetch: hanging, getToken: async () => 't', trust: pinnedFleets([]) })).toThrow(
      /fleetId/,
    );
  });

  it('an abort while the default sleep waits between retries says ABORTED, its cause the reason', async () => {
    const ac = new AbortController();
    const reason = new Error('user left');
    let calls = 0;
    const c = createVaultClient({
      fleetId: FLEET,
      accountId: 'alice',
      endpoint: 'http://vault.test/v1/vault',
      fetch: async () => {
        calls++;
        // The first attempt fails; abort once the client is waiting to retry (the 200 ms backoff).
        queueMicrotask(() => setTimeout(() => ac.abort(reason), 0));
        throw new TypeError('network down');
      },
      getToken: async () => 'tok-alice',
      trust: pinnedFleets([]),
      suite,
      retries: 3,
    });
    const err: unknown = await c.status({ signal: ac.signal }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBackupError(err, 'ABORTED')).toBe(true);
    expect((err as Error).cause).toBe(reason);
    expect(calls).toBe(1);
  });
});
