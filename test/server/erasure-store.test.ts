/**
 * Issue 13, finding 4 (first half): a last guess left pending must not keep the record and the
 * escrow in the vault's store until the account's next call. The attacker spends the last guess
 * (login-init), never sends KE3, and never calls again; after the login TTL plus one sweep
 * interval the store must hold neither, with no request in between.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pinnedFleets } from '../../lib/recovery/fleet-trust.js';
import { createKeyring } from '../../lib/recovery/keyring.js';
import { INSECURE_IDENTITY_KSF, OpaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import { parseVaultMessage } from '../../lib/recovery/protocol.js';
import { createVaultClient, type VaultFetch } from '../../lib/recovery/vault-client.js';
import { createMemoryVaultStore, type MemoryVaultStore } from '../../lib/server/stores/memory.js';
import { createVaultHandler, decodeAccountState, generateVaultSetup, type VaultHandler } from '../../lib/server/vault.js';
import { utf8 } from '../../lib/util/bytes.js';

const suite = new OpaqueTsSuite(INSECURE_IDENTITY_KSF);
const FLEET = 'fleet-erase';
const ACCOUNT = 'acct-erase';
const { setup, publicKey } = await generateVaultSetup(suite);
const trust = pinnedFleets([{ fleetId: FLEET, suite: suite.id, publicKey }]);
const RIGHT = utf8('right code');
const WRONG = utf8('wrong code');
const LOGIN_TTL = 120_000;
const SWEEP = 10_000;

afterEach(() => {
  vi.useRealTimers();
});

/** The vault's fetch, with every login-finish lost on the way (the attacker never sends KE3). */
function dropKe3(handler: VaultFetch): VaultFetch {
  return async (req) => {
    const body = new Uint8Array(await req.clone().arrayBuffer());
    if (parseVaultMessage(body, 'request').type === 'login-finish') throw new TypeError('network error');
    return handler(req);
  };
}

function client(fetch: VaultFetch) {
  return createVaultClient({ fleetId: FLEET, accountId: ACCOUNT, baseUrl: 'http://v', fetch, getToken: async () => 'tok', trust, suite });
}

function accountState(store: MemoryVaultStore) {
  const [value] = [...store.dump()].filter(([k]) => k.includes('/account/')).map(([, v]) => v);
  return value === undefined ? undefined : decodeAccountState(value);
}

async function setupAccount(opts: { sweepIntervalMs?: number } = {}): Promise<{ store: MemoryVaultStore; handler: VaultHandler }> {
  const store = createMemoryVaultStore();
  const handler = createVaultHandler({
    fleetId: FLEET,
    setup,
    store,
    suite,
    guessLimit: 2,
    loginTtlMs: LOGIN_TTL,
    sweepIntervalMs: SWEEP,
    ...opts,
    verifyToken: async (t) => (t === 'tok' ? ACCOUNT : undefined),
  });
  await client(handler).enroll({ password: RIGHT, keyring: createKeyring() });
  expect(accountState(store)!.escrow.length).toBeGreaterThan(0);
  // First guess: wrong, finished. Second (last) guess: KE2 issued, KE3 never sent.
  await client(handler).recover({ password: WRONG }).catch(() => undefined);
  await client(dropKe3(handler)).recover({ password: WRONG }).catch(() => undefined);
  const s = accountState(store)!;
  expect(s.guessesRemaining).toBe(0);
  expect(s.pending).toHaveLength(1);
  return { store, handler };
}

describe('erasure at lockout (issue 13, finding 4)', () => {
  it('a pending last guess: record and escrow are erased within loginTtlMs + sweepIntervalMs, with no further call', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] });
    const { store, handler } = await setupAccount();
    // Just before the pending login expires, nothing is erased yet (the right KE3 could still come).
    await vi.advanceTimersByTimeAsync(LOGIN_TTL - 1);
    expect(accountState(store)!.escrow.length).toBeGreaterThan(0);
    // The bound: the login's TTL, then at most one sweep interval.
    await vi.advanceTimersByTimeAsync(SWEEP + 1);
    const s = accountState(store)!;
    expect(s.record.length).toBe(0);
    expect(s.escrow.length).toBe(0);
    expect(s.oprfSalt.length).toBe(0);
    expect(s.guessesRemaining).toBe(0);
    // Nothing left to sweep: the queue is empty again.
    expect([...store.dump().keys()].filter((k) => !k.includes('/account/')).map((k) => store.dump().get(k)!.length)).toEqual([]);
    handler.close();
  });

  it('sweep() erases on demand; a finished or reset account leaves the queue untouched', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] });
    const { store, handler } = await setupAccount({ sweepIntervalMs: 0 });
    expect(await handler.sweep()).toBe(0);
    expect(accountState(store)!.escrow.length).toBeGreaterThan(0);
    vi.setSystemTime(Date.now() + LOGIN_TTL + 1);
    expect(await handler.sweep()).toBe(1);
    expect(accountState(store)!.escrow.length).toBe(0);
    expect(await handler.sweep()).toBe(0);
    handler.close();
  });

  it('the right code on the last guess still recovers (erasure waits for the pending login)', async () => {
    const store = createMemoryVaultStore();
    const handler = createVaultHandler({
      fleetId: FLEET,
      setup,
      store,
      suite,
      guessLimit: 1,
      sweepIntervalMs: 0,
      verifyToken: async (t) => (t === 'tok' ? ACCOUNT : undefined),
    });
    const keyring = createKeyring();
    await client(handler).enroll({ password: RIGHT, keyring });
    expect(await handler.sweep()).toBe(0);
    const got = await client(handler).recover({ password: RIGHT });
    expect(got.current.key).toEqual(keyring.current.key);
    expect(await handler.sweep()).toBe(0);
    expect(accountState(store)!.escrow.length).toBeGreaterThan(0);
    handler.close();
  });
});
