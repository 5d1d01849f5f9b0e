// Suite selection: opaqueSuiteFor maps suite ids to suites (the legacy opaque-ts id to its lazy
// front); a vault client given no suite runs the one its fleet's trust entry names; and
// migrateFleet moves an account from an opaque-ts fleet to an RFC 9807 fleet with clients built
// exactly alike (no suite named by the app), with the production KSFs of both suites.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { pinnedFleets, type TrustedFleet } from '../../lib/recovery/fleet-trust.js';
import { createKeyring } from '../../lib/recovery/keyring.js';
import { OPAQUE_TS_SUITE_ID, opaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import { RFC9807_DEFAULT_SUITE_ID, rfc9807Suite } from '../../lib/recovery/opaque/rfc9807.js';
import { opaqueSuiteFor } from '../../lib/recovery/opaque/suites.js';
import { createVaultClient } from '../../lib/recovery/vault-client.js';
import { createMemoryVaultStore } from '../../lib/server/stores/memory.js';
import { createVaultHandler, generateVaultSetup } from '../../lib/server/vault.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { migrateFleet, planMigration } from '../../lib/trust/migrate.js';
import { equalBytes, utf8 } from '../../lib/util/bytes.js';

describe('opaqueSuiteFor', () => {
  it('names the legacy suite, RFC 9807 suites, and nothing else', () => {
    // The legacy suite only when the app hands it in (so an app that does not bundles none of it).
    expect(opaqueSuiteFor(OPAQUE_TS_SUITE_ID)).toBeUndefined();
    const legacy = opaqueTsSuite();
    expect(opaqueSuiteFor(OPAQUE_TS_SUITE_ID, [legacy])).toBe(legacy);
    expect(opaqueSuiteFor(RFC9807_DEFAULT_SUITE_ID)?.id).toBe(RFC9807_DEFAULT_SUITE_ID);
    expect(opaqueSuiteFor('rfc9807/P256-SHA256/scrypt-N32768-r8-p1')?.id).toBe('rfc9807/P256-SHA256/scrypt-N32768-r8-p1');
    expect(opaqueSuiteFor('rfc9807/ristretto255-SHA512/identity-INSECURE')).toBeUndefined();
    expect(opaqueSuiteFor('opaque-ts/P256-SHA256-identity-INSECURE/v1')).toBeUndefined();
    expect(opaqueSuiteFor('x')).toBeUndefined();
  });
});

describe('fleet suites, end to end with production KSFs', () => {
  it('migrateFleet: opaque-ts fleet → RFC 9807 fleet, clients resolve their suites from trust', async () => {
    const legacy = opaqueTsSuite();
    const rfc = rfc9807Suite();
    const [s1, s2] = await Promise.all([generateVaultSetup(legacy), generateVaultSetup(rfc)]);
    const verifyToken = async (t: string) => (t === 'tok' ? 'alice' : undefined);
    const vaults = {
      old: createVaultHandler({ fleetId: 'old', setup: s1.setup, store: createMemoryVaultStore(), verifyToken, suite: legacy }),
      new: createVaultHandler({ fleetId: 'new', setup: s2.setup, store: createMemoryVaultStore(), verifyToken, suite: rfc }),
    };
    let fleets: TrustedFleet[] = [{ fleetId: 'old', suite: OPAQUE_TS_SUITE_ID, publicKey: s1.publicKey }];
    const trust = { trustedFleets: async () => pinnedFleets(fleets).trustedFleets() };
    // The app's one way of building a vault client: no suite named, the legacy suite allowed.
    const client = (fleetId: 'old' | 'new') =>
      createVaultClient({
        fleetId,
        accountId: 'alice',
        baseUrl: `http://${fleetId}.test`,
        fetch: vaults[fleetId],
        getToken: async () => 'tok',
        trust,
        suites: [opaqueTsSuite()],
      });

    const password = utf8('test-secret:migrate me');
    const keyring = createKeyring();
    await client('old').enroll({ password, keyring });

    // Rotation: the new RFC 9807 fleet takes enrollments, the old one is recover-only.
    fleets = [
      { fleetId: 'old', suite: OPAQUE_TS_SUITE_ID, publicKey: s1.publicKey, roles: ['recover'] },
      { fleetId: 'new', suite: RFC9807_DEFAULT_SUITE_ID, publicKey: s2.publicKey, roles: ['enroll', 'recover'] },
    ];
    const plan = await planMigration(trust, 'old');
    expect(plan).toMatchObject({ from: 'old', to: 'new' });
    const r = await migrateFleet({ from: client(plan!.from as 'old'), to: client(plan!.to as 'new'), accountId: 'alice', password, store: createMemoryStore() });
    expect(r).toMatchObject({ from: 'old', to: 'new', recoveredFromOldFleet: true });

    const back = await client('new').recover({ password });
    expect(back.generations.every((g, i) => equalBytes(g.key, keyring.generations[i]!.key))).toBe(true);
    expect((await client('old').status()).state).toBe('not-enrolled');
  }, 60_000);

  it('a fleet whose entries name only suites this client does not run is FLEET_UNTRUSTED, before any request', async () => {
    let asked = 0;
    const vault = createVaultClient({
      fleetId: 'f',
      accountId: 'alice',
      baseUrl: 'http://f.test',
      fetch: async () => {
        asked++;
        return new Response(null, { status: 500 });
      },
      getToken: async () => 'tok',
      trust: pinnedFleets([
        { fleetId: 'f', suite: 'rfc9807/ristretto255-SHA512/identity-INSECURE', publicKey: new Uint8Array(32).fill(1) },
        { fleetId: 'f', suite: OPAQUE_TS_SUITE_ID, publicKey: new Uint8Array(33).fill(2) },
      ]),
    });
    const err = await vault.status().catch((e: unknown) => e);
    expect(isBackupError(err, 'FLEET_UNTRUSTED')).toBe(true);
    expect(asked).toBe(0);
    // Malformed `suites` is refused up front.
    expect(() =>
      createVaultClient({ fleetId: 'f', accountId: 'a', baseUrl: 'http://f.test', fetch: fetch, getToken: async () => 't', trust: pinnedFleets([]), suites: [{} as never] }),
    ).toThrow(/suites/);
  });
});
