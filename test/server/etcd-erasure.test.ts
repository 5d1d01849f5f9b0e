/**
 * Issue 13, finding 4 (second half): etcd keeps every overwritten value in its history until the
 * history is compacted, so after a lockout the revisions before it still held the escrow, the
 * OPAQUE record and the OPRF salt. This test enrolls through the vault on a real etcd cluster,
 * locks the account out, and reads the old revisions with a plain etcd3 client: first with a
 * store that never compacts (the attack: the escrow is right there), then with the store's
 * compaction timer on, until every revision before the lockout is gone.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pinnedFleets } from '../../lib/recovery/fleet-trust.js';
import { createKeyring } from '../../lib/recovery/keyring.js';
import { INSECURE_IDENTITY_KSF, OpaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import { createVaultClient } from '../../lib/recovery/vault-client.js';
import { createEtcdVaultStore, type EtcdVaultStore } from '../../lib/server/stores/etcd.js';
import { createVaultHandler, decodeAccountState, generateVaultSetup } from '../../lib/server/vault.js';
import { utf8 } from '../../lib/util/bytes.js';
import { describeWithEtcd, startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster.js';

const suite = new OpaqueTsSuite(INSECURE_IDENTITY_KSF);
const FLEET = 'fleet-etcd-erase';
const ACCOUNT = 'acct-etcd-erase';
/** The envelope the etcd store puts around every value: format byte and a 16-byte write token. */
const ENVELOPE = 17;

describeWithEtcd({ describe, it }, 'etcd history after a lockout (issue 13, finding 4)', () => {
  let cluster: EtcdCluster;
  let raw: Etcd3;
  const stores: EtcdVaultStore[] = [];

  beforeAll(async () => {
    cluster = await startEtcdCluster({ size: 1 });
    raw = new Etcd3({ hosts: [...cluster.endpoints] });
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    raw?.close();
    await cluster?.stop();
  });

  it('old revisions hold the escrow until compaction; the store compacts them away within compactEveryMs', async () => {
    const namespace = `erase/${Date.now()}/`;
    const key = Buffer.from(`${namespace}e2ee-backup/v1/vault/${FLEET}/account/${ACCOUNT}`);
    const { setup, publicKey } = await generateVaultSetup(suite);
    const trust = pinnedFleets([{ fleetId: FLEET, suite: suite.id, publicKey }]);
    const mk = (compactEveryMs: number) => {
      const store = createEtcdVaultStore({ hosts: cluster.endpoints, namespace, compactEveryMs });
      stores.push(store);
      const handler = createVaultHandler({
        fleetId: FLEET,
        setup,
        store,
        suite,
        guessLimit: 1,
        sweepIntervalMs: 0,
        verifyToken: async (t) => (t === 'tok' ? ACCOUNT : undefined),
      });
      const client = createVaultClient({ fleetId: FLEET, accountId: ACCOUNT, baseUrl: 'http://v', fetch: handler, getToken: async () => 'tok', trust, suite });
      return { store, handler, client };
    };

    // Enroll and lock out through a store that never compacts.
    const plain = mk(0);
    await plain.client.enroll({ password: utf8('right code'), keyring: createKeyring() });
    const enrolled = (await raw.kv.range({ key })).kvs[0]!;
    const state = decodeAccountState(new Uint8Array(enrolled.value).subarray(ENVELOPE));
    const secrets = { escrow: state.escrow, record: state.record, salt: state.oprfSalt };
    for (const v of Object.values(secrets)) expect(v.length).toBeGreaterThan(0);
    await plain.client.recover({ password: utf8('wrong code') }).catch(() => undefined);
    plain.handler.close();
    const now = (await raw.kv.range({ key })).kvs[0]!;
    const tomb = decodeAccountState(new Uint8Array(now.value).subarray(ENVELOPE));
    expect(tomb.status).toBe('locked-out');
    expect(tomb.escrow.length + tomb.record.length + tomb.oprfSalt.length).toBe(0);

    const holds = (b: Buffer) => Object.values(secrets).some((s) => b.includes(Buffer.from(s)));
    /** Every revision of the key from its creation to the tombstone: its value, or 'compacted'. */
    async function history(): Promise<(Buffer | 'compacted' | 'absent')[]> {
      const out: (Buffer | 'compacted' | 'absent')[] = [];
      for (let r = Number(enrolled.create_revision); r < Number(now.mod_revision); r++) {
        try {
          const kv = (await raw.kv.range({ key, revision: String(r) })).kvs[0];
          out.push(kv === undefined ? 'absent' : Buffer.from(kv.value));
        } catch (e) {
          if (!/compacted/.test(String(e))) throw e;
          out.push('compacted');
        }
      }
      return out;
    }

    // The attack: without compaction, the enrolled revision still holds escrow, record and salt.
    const before = await history();
    expect(before.some((v) => Buffer.isBuffer(v) && holds(v))).toBe(true);

    // A vault process whose store compacts every 300 ms: no request is needed, only time.
    mk(300).store.get('e2ee-backup/v1/vault/connect').catch(() => undefined);
    for (;;) {
      const after = await history();
      if (after.every((v) => v === 'compacted')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The current value (the tombstone) is still there, and holds none of it.
    const cur = (await raw.kv.range({ key })).kvs[0]!;
    expect(holds(Buffer.from(cur.value))).toBe(false);
  });

  it('compact() is idempotent across processes (a compaction by another process is not an error)', async () => {
    const a = createEtcdVaultStore({ hosts: cluster.endpoints, namespace: 'c/a/', compactEveryMs: 0 });
    const b = createEtcdVaultStore({ hosts: cluster.endpoints, namespace: 'c/b/', compactEveryMs: 0 });
    stores.push(a, b);
    await a.compareAndSwap('k', null, Uint8Array.of(1));
    const ra = await a.compact();
    const rb = await b.compact();
    expect(BigInt(rb) >= BigInt(ra)).toBe(true);
    await a.compact();
  });
});
