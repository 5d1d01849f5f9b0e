// The "done when" of issue 4, in-process: a running client trusts fleet eu-1 through a bundle;
// the operator publishes a new bundle (eu-2 for enrollment, eu-1 recover-only) with the tools'
// library functions; the client meets eu-2's unknown key, fetches and verifies the bundle through
// resolveUnknown (signatures, inclusion, consistency with the checkpoint it saw before), and
// migrates its escrow — also when interrupted halfway.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { createKeyring, type Keyring } from '../../lib/recovery/keyring.js';
import { INSECURE_IDENTITY_KSF, OpaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import { createVaultClient, type VaultFetch } from '../../lib/recovery/vault-client.js';
import { createVaultHandler, generateVaultSetup } from '../../lib/server/vault.js';
import { createMemoryVaultStore } from '../../lib/server/stores/memory.js';
import { createWitnessHandler, createWitnessLog } from '../../lib/server/witness.js';
import { createMemoryStore, type KeyValueStore, type StoredValue } from '../../lib/storage/kv.js';
import { encodeBundle, operatorSign, type BundleFleet } from '../../lib/trust/bundle.js';
import { witnessLogClient } from '../../lib/trust/log-client.js';
import { migrateFleet, migrationKey, planMigration } from '../../lib/trust/migrate.js';
import { createTrustStore } from '../../lib/trust/trust-store.js';
import { equalBytes, utf8 } from '../../lib/util/bytes.js';
import { config, NOW_MS, OP1, ORIGIN, T0, W1, W1_NAME } from './fixtures.js';

const suite = new OpaqueTsSuite(INSECURE_IDENTITY_KSF);
const [setup1, setup2] = await Promise.all([generateVaultSetup(suite), generateVaultSetup(suite)]);
const verifyToken = async (t: string) => (t === 'tok-alice' ? 'alice' : undefined);
const password = utf8('test-secret:correct horse');

const entry = (fleetId: string, publicKey: Uint8Array, roles: BundleFleet['roles']): BundleFleet => ({
  fleetId,
  suite: suite.id,
  publicKey,
  roles,
  notBefore: T0 - 86_400,
  notAfter: T0 + 365 * 86_400,
});

function world() {
  // Operator side: witness log + publishing with the same library functions tools/fleet.ts uses.
  const log = createWitnessLog({ origin: ORIGIN, namespace: 'chat.example', signer: { name: W1_NAME, secretKey: W1 }, now: () => NOW_MS });
  const publish = (epoch: number, fleets: BundleFleet[], retired: string[] = []) => {
    const bytes = encodeBundle({ namespace: 'chat.example', epoch, notBefore: T0 - 3600, notAfter: T0 + 30 * 86_400, fleets, retired });
    const { signature } = log.witness(bytes);
    log.addOperatorSignature(epoch, operatorSign(bytes, [signature], OP1));
  };
  const witness = createWitnessHandler(log);
  const vaults = {
    'eu-1': createVaultHandler({ fleetId: 'eu-1', setup: setup1.setup, store: createMemoryVaultStore(), verifyToken, suite, guessLimit: 5 }),
    'eu-2': createVaultHandler({ fleetId: 'eu-2', setup: setup2.setup, store: createMemoryVaultStore(), verifyToken, suite, guessLimit: 5 }),
  };
  // Device side.
  const device: KeyValueStore = createMemoryStore();
  const logClient = witnessLogClient({ baseUrl: 'http://witness.test', fetch: witness });
  const trust = createTrustStore({ config: config(), store: device, now: () => NOW_MS, ...logClient });
  const client = (fleetId: 'eu-1' | 'eu-2', fetch: VaultFetch = vaults[fleetId]) =>
    createVaultClient({
      fleetId,
      accountId: 'alice',
      baseUrl: `http://${fleetId}.vault.test`,
      fetch,
      getToken: async () => 'tok-alice',
      trust,
      suite,
      retries: 0,
      sleep: async () => undefined,
    });
  return { log, publish, vaults, device, trust, client };
}

const same = (a: Keyring, b: Keyring) =>
  a.generations.length === b.generations.length && a.generations.every((g, i) => equalBytes(g.key, b.generations[i]!.key));

describe('fleet migration with no app update', () => {
  it('publish → resolveUnknown picks up the new fleet → migrateFleet moves the escrow', async () => {
    const w = world();
    w.publish(1, [entry('eu-1', setup1.publicKey, ['enroll', 'recover'])]);
    const keyring = createKeyring();
    // The device starts with roots only: eu-1's key is proven by bundle 1 on first contact.
    await w.client('eu-1').enroll({ password, keyring });
    expect((await w.trust.state()).epoch).toBe(1);
    expect(await planMigration(w.trust, 'eu-1', suite.id)).toBeUndefined();

    // The operator stands up eu-2 and demotes eu-1 to recover-only.
    w.publish(2, [entry('eu-1', setup1.publicKey, ['recover']), entry('eu-2', setup2.publicKey, ['enroll', 'recover'])]);
    const events: number[] = [];
    w.trust.on('change', (e) => events.push(e.epoch));

    // The running client is told to move to eu-2 (by its backend, say) and meets eu-2's key:
    // unknown → bundle 2 fetched through resolveUnknown, verified (signatures, inclusion,
    // consistency with checkpoint 1), applied — no app update.
    const r = await migrateFleet({ from: w.client('eu-1'), to: w.client('eu-2'), accountId: 'alice', password, store: w.device });
    expect(events).toEqual([2]);
    expect((await w.trust.state()).checkpoint!.size).toBe(2);
    expect(r).toMatchObject({ from: 'eu-1', to: 'eu-2', resumedFrom: undefined, recoveredFromOldFleet: true });
    expect(same(await w.client('eu-2').recover({ password }), keyring)).toBe(true);
    expect((await w.client('eu-1').status()).state).toBe('not-enrolled');
    expect(await w.device.get(migrationKey('alice', 'eu-1', 'eu-2'))).toMatchObject({ step: 'done' });
    // Running it again is a no-op.
    expect((await migrateFleet({ from: w.client('eu-1'), to: w.client('eu-2'), accountId: 'alice', password, store: w.device })).resumedFrom).toBe('done');
  });

  it('refresh() notices a superseded fleet; planMigration says where to go', async () => {
    const w = world();
    w.publish(1, [entry('eu-1', setup1.publicKey, ['enroll', 'recover'])]);
    expect(await w.trust.refresh()).toBe(true);
    expect(await w.trust.refresh()).toBe(false);
    expect(await planMigration(w.trust, 'eu-1', suite.id)).toBeUndefined();
    w.publish(2, [entry('eu-1', setup1.publicKey, ['recover']), entry('eu-2', setup2.publicKey, ['enroll', 'recover'])]);
    expect(await w.trust.refresh()).toBe(true);
    expect(await planMigration(w.trust, 'eu-1', suite.id)).toEqual({ from: 'eu-1', to: 'eu-2' });
  });

  it('a vault presenting a key no bundle proves is refused with FLEET_UNTRUSTED', async () => {
    const w = world();
    w.publish(1, [entry('eu-1', setup1.publicKey, ['enroll', 'recover'])]);
    const err = await w.client('eu-2').enroll({ password, keyring: createKeyring() }).catch((e: unknown) => e);
    expect(isBackupError(err, 'FLEET_UNTRUSTED')).toBe(true);
  });

  it('resumes after the old fleet was unreachable for the final delete', async () => {
    const w = world();
    w.publish(1, [entry('eu-1', setup1.publicKey, ['enroll', 'recover']), entry('eu-2', setup2.publicKey, ['enroll', 'recover'])]);
    const keyring = createKeyring();
    await w.client('eu-1').enroll({ password, keyring });
    // Measure how many requests a recovery takes, then let the old fleet go down right after one.
    let calls = 0;
    const counter: VaultFetch = (req) => {
      calls++;
      return w.vaults['eu-1'](req);
    };
    await w.client('eu-1', counter).recover({ password });
    const recoverCalls = calls;
    calls = 0;
    const flaky: VaultFetch = async (req) => {
      calls++;
      if (calls > recoverCalls) throw new TypeError('network down');
      return w.vaults['eu-1'](req);
    };
    const err = await migrateFleet({ from: w.client('eu-1', flaky), to: w.client('eu-2'), accountId: 'alice', password, store: w.device }).catch((e: unknown) => e);
    expect(isBackupError(err, 'VAULT_UNAVAILABLE')).toBe(true);
    expect(await w.device.get(migrationKey('alice', 'eu-1', 'eu-2'))).toMatchObject({ step: 'enrolled' });
    // Next run: no second recovery or enrollment, just the delete.
    let eu2Calls = 0;
    const counting: VaultFetch = (req) => {
      eu2Calls++;
      return w.vaults['eu-2'](req);
    };
    const r = await migrateFleet({ from: w.client('eu-1'), to: w.client('eu-2', counting), accountId: 'alice', password, store: w.device });
    expect(r.resumedFrom).toBe('enrolled');
    expect(eu2Calls).toBe(0);
    expect((await w.client('eu-1').status()).state).toBe('not-enrolled');
    expect(same(await w.client('eu-2').recover({ password }), keyring)).toBe(true);
  });

  it('resumes when the crash fell between enrolling and recording it, using the cached keyring', async () => {
    const w = world();
    // Enrolled at eu-1 while it took enrollments; then eu-1 is demoted to recover-only.
    w.publish(1, [entry('eu-1', setup1.publicKey, ['enroll', 'recover'])]);
    const keyring = createKeyring();
    await w.client('eu-1').enroll({ password, keyring });
    w.publish(2, [entry('eu-1', setup1.publicKey, ['recover']), entry('eu-2', setup2.publicKey, ['enroll', 'recover'])]);
    await w.trust.refresh(); // pick up bundle 2
    // The vault client enforces the roles: no new enrollment at the demoted fleet.
    expect(isBackupError(await w.client('eu-1').enroll({ password, keyring, reset: true }).catch((e: unknown) => e), 'FLEET_UNTRUSTED')).toBe(true);
    // A device store whose 'enrolled' write fails once: the tab died right after enrolling.
    let failed = false;
    const crashy: KeyValueStore = {
      ...w.device,
      update: async <T extends StoredValue>(k: string, fn: (old: T | undefined) => T | undefined) => {
        let blocked = false;
        await w.device.update<T>(k, (old) => {
          const next = fn(old);
          if (!failed && (next as { step?: string } | undefined)?.step === 'enrolled') {
            failed = true;
            blocked = true;
            return old;
          }
          return next;
        });
        if (blocked) throw new Error('tab closed');
      },
    };
    await expect(migrateFleet({ from: w.client('eu-1'), to: w.client('eu-2'), accountId: 'alice', password, keyring, store: crashy })).rejects.toThrow('tab closed');
    expect(await w.device.get(migrationKey('alice', 'eu-1', 'eu-2'))).toMatchObject({ step: 'started' });
    expect((await w.client('eu-1').status()).state).toBe('enrolled'); // nothing deleted yet
    const r = await migrateFleet({ from: w.client('eu-1'), to: w.client('eu-2'), accountId: 'alice', password, keyring, store: w.device });
    expect(r).toMatchObject({ resumedFrom: 'started', recoveredFromOldFleet: false });
    expect((await w.client('eu-1').status()).state).toBe('not-enrolled');
    expect((await w.client('eu-2').status()).guessesRemaining).toBe(5); // the proof spent no guess
  });

  it('refuses to delete the old escrow when the new fleet holds someone else\'s keyring', async () => {
    const w = world();
    w.publish(1, [entry('eu-1', setup1.publicKey, ['enroll', 'recover'])]);
    await w.client('eu-1').enroll({ password, keyring: createKeyring() });
    w.publish(2, [entry('eu-1', setup1.publicKey, ['recover']), entry('eu-2', setup2.publicKey, ['enroll', 'recover'])]);
    await w.client('eu-2').enroll({ password, keyring: createKeyring() }); // a different keyring
    const err = await migrateFleet({ from: w.client('eu-1'), to: w.client('eu-2'), accountId: 'alice', password, store: w.device }).catch((e: unknown) => e);
    expect(isBackupError(err, 'ALREADY_ENROLLED')).toBe(true);
    expect((await w.client('eu-1').status()).state).toBe('enrolled');
  });

  it('planMigration: retired fleet → the enroll-capable one; none → FLEET_UNTRUSTED', async () => {
    const w = world();
    w.publish(1, [entry('eu-2', setup2.publicKey, ['enroll', 'recover'])], ['eu-1']);
    await w.trust.refresh();
    expect(await planMigration(w.trust, 'eu-1', suite.id)).toEqual({ from: 'eu-1', to: 'eu-2' });
    const err = await planMigration(w.trust, 'eu-2', 'other-suite').catch((e: unknown) => e);
    expect(isBackupError(err, 'FLEET_UNTRUSTED')).toBe(true);
  });
});
