/**
 * The etcd VaultStore against a real 3-member etcd cluster on 127.0.0.1 (the shared CAS contract is
 * in etcd-contract.test.ts): argument checks, a fast-check model test, linearizability
 * across members, lost quorum, and writes whose answer is lost on the wire (a TCP proxy that
 * forwards a request and then cuts the connection before the answer).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { createEtcdVaultStore, ETCD_MAX_KEY_BYTES, ETCD_MAX_VALUE_BYTES, type EtcdVaultStore } from '../../lib/server/stores/etcd.js';
import type { VaultStore } from '../../lib/server/vault-store.js';
import { equalBytes, utf8 } from '../../lib/util/bytes.js';
import { describeWithEtcd, startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster.js';

let nsCounter = 0;
const freshNamespace = () => `t/${process.pid}/${Date.now()}/${nsCounter++}/`;

describeWithEtcd({ describe, it }, 'etcd VaultStore', () => {
  let cluster: EtcdCluster;
  const opened: EtcdVaultStore[] = [];
  const open = (opts: Partial<Parameters<typeof createEtcdVaultStore>[0]> = {}) => {
    const s = createEtcdVaultStore({ hosts: cluster.endpoints, namespace: freshNamespace(), timeoutMs: 8000, ...opts });
    opened.push(s);
    return s;
  };

  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await cluster?.stop();
  });

  it('checks its arguments at the edge', async () => {
    const s = open();
    expect(() => createEtcdVaultStore({ hosts: [] })).toThrow(TypeError);
    expect(() => createEtcdVaultStore({ hosts: 'localhost:2379' })).toThrow(/hosts/);
    expect(() => createEtcdVaultStore({ hosts: cluster.endpoints, timeoutMs: 0 })).toThrow(RangeError);
    expect(() => createEtcdVaultStore({ hosts: cluster.endpoints, namespace: 'x'.repeat(257) })).toThrow(RangeError);
    await expect(s.get('')).rejects.toThrow(RangeError);
    await expect(s.get(7 as unknown as string)).rejects.toThrow(/key must be a string/);
    await expect(s.get('k'.repeat(ETCD_MAX_KEY_BYTES + 1))).rejects.toThrow(RangeError);
    await expect(s.compareAndSwap('k', '0', utf8('v'))).rejects.toThrow(/expected/);
    await expect(s.compareAndSwap('k', 'abc', utf8('v'))).rejects.toThrow(TypeError);
    await expect(s.compareAndSwap('k', null, 'v' as unknown as Uint8Array)).rejects.toThrow(/value must be a Uint8Array/);
    await expect(s.compareAndSwap('k', null, new Uint8Array(ETCD_MAX_VALUE_BYTES + 1))).rejects.toThrow(RangeError);
    // The largest allowed value goes through (etcd's own limit is 1.5 MiB per request).
    expect(await s.compareAndSwap('big', null, new Uint8Array(ETCD_MAX_VALUE_BYTES).fill(7))).toBe(true);
    expect((await s.get('big'))!.value.length).toBe(ETCD_MAX_VALUE_BYTES);
  });

  it('parses what it finds in etcd with every length capped; anything not its envelope is VAULT_UNAVAILABLE (fast-check)', async () => {
    const ns = freshNamespace();
    const s = open({ namespace: ns });
    // Raw access to the same keys, as another program (or an attacker with etcd access) would write them.
    const raw = new Etcd3({ hosts: [...cluster.endpoints] });
    try {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 64 }),
            fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 48 })).map(([t, v]) =>
              Uint8Array.of(1, ...t, ...v),
            ),
          ),
          async (bytes) => {
            const key = `raw${n++}`;
            await raw.put(ns + key).value(Buffer.from(bytes));
            const got = await s.get(key).then(
              (v) => v,
              (e: unknown) => e,
            );
            if (bytes.length >= 17 && bytes[0] === 1) {
              expect(equalBytes((got as { value: Uint8Array }).value, bytes.subarray(17))).toBe(true);
            } else {
              expect(isBackupError(got, 'VAULT_UNAVAILABLE')).toBe(true);
            }
          },
        ),
        { numRuns: 40 },
      );
      // Over the cap: etcd would take it, the store refuses to hand it to the vault.
      await raw.put(ns + 'huge').value(Buffer.alloc(17 + ETCD_MAX_VALUE_BYTES + 1, 1));
      expect(isBackupError(await s.get('huge').catch((e: unknown) => e), 'VAULT_UNAVAILABLE')).toBe(true);
    } finally {
      raw.close();
    }
  });

  it('after close(), calls reject with VAULT_UNAVAILABLE', async () => {
    const s = open();
    expect(await s.compareAndSwap('c', null, utf8('x'))).toBe(true);
    await s.close();
    await s.close(); // idempotent
    expect(isBackupError(await s.get('c').catch((e: unknown) => e), 'VAULT_UNAVAILABLE')).toBe(true);
    expect(isBackupError(await s.compareAndSwap('c', null, utf8('y')).catch((e: unknown) => e), 'VAULT_UNAVAILABLE')).toBe(true);
  });

  it('uses mod_revision as the version and keeps namespaces apart', async () => {
    const ns = freshNamespace();
    const a = open({ namespace: ns });
    const b = open({ namespace: ns + 'other/' });
    expect(await a.compareAndSwap('k', null, utf8('A'))).toBe(true);
    const v1 = (await a.get('k'))!.version;
    expect(v1).toMatch(/^[1-9][0-9]*$/);
    expect(await b.get('k')).toBeUndefined();
    expect(await b.compareAndSwap('k', null, utf8('B'))).toBe(true);
    // Revisions are cluster-wide: b's write moved the revision past a's version.
    expect(BigInt((await b.get('k'))!.version)).toBeGreaterThan(BigInt(v1));
    expect(equalBytes((await a.get('k'))!.value, utf8('A'))).toBe(true);
  });

  it('matches a sequential model under random operations (fast-check)', async () => {
    const s = open();
    type Op =
      | { kind: 'get'; key: number }
      | { kind: 'create'; key: number; value: Uint8Array }
      | { kind: 'put'; key: number; value: Uint8Array; stale: boolean }
      | { kind: 'del'; key: number; stale: boolean };
    const key = fc.integer({ min: 0, max: 2 });
    const value = fc.uint8Array({ maxLength: 40 });
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('get' as const), key }),
      fc.record({ kind: fc.constant('create' as const), key, value }),
      fc.record({ kind: fc.constant('put' as const), key, value, stale: fc.boolean() }),
      fc.record({ kind: fc.constant('del' as const), key, stale: fc.boolean() }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        const prefix = `run${run++}/`;
        const model = new Map<number, Uint8Array>();
        // Versions we have seen for each key, newest last: "stale" uses an older one.
        const seen = new Map<number, string[]>();
        for (const o of ops) {
          const k = prefix + o.key;
          const current = await s.get(k);
          const want = model.get(o.key);
          expect(current === undefined).toBe(want === undefined);
          if (current && want) expect(equalBytes(current.value, want)).toBe(true);
          if (current) {
            const list = seen.get(o.key) ?? [];
            if (list.at(-1) !== current.version) list.push(current.version);
            seen.set(o.key, list);
          }
          if (o.kind === 'get') continue;
          if (o.kind === 'create') {
            expect(await s.compareAndSwap(k, null, o.value)).toBe(want === undefined);
            if (want === undefined) model.set(o.key, o.value);
            continue;
          }
          const versions = seen.get(o.key) ?? [];
          const old = versions.length >= 2 ? versions.at(-2)! : undefined;
          const version = o.stale ? old : current?.version;
          if (version === undefined) continue;
          const ok = await s.compareAndSwap(k, version, o.kind === 'put' ? o.value : null);
          const shouldWin = current !== undefined && version === current.version;
          expect(ok).toBe(shouldWin);
          if (ok) {
            if (o.kind === 'put') model.set(o.key, o.value);
            else model.delete(o.key);
          }
        }
      }),
      { numRuns: 25 },
    );
  });

  it('reads are linearizable across members: a write through one member is seen through another', async () => {
    const ns = freshNamespace();
    const writers = cluster.endpoints.map((h) => open({ hosts: h, namespace: ns }));
    const readers = [...cluster.endpoints].reverse().map((h) => open({ hosts: h, namespace: ns }));
    let version: string | null = null;
    for (let i = 0; i < 60; i++) {
      const w = writers[i % writers.length]!;
      const r = readers[i % readers.length]!;
      expect(await w.compareAndSwap('lin', version, utf8(`v${i}`))).toBe(true);
      const got = await r.get('lin');
      // A serializable (member-local) read could return v(i-1) here; a linearizable one cannot.
      expect(new TextDecoder().decode(got!.value)).toBe(`v${i}`);
      version = got!.version;
    }
  });

  it('a member back from a partition does not serve stale data (reads go through a quorum)', async () => {
    const ns = freshNamespace();
    const writer = open({ hosts: cluster.endpoints.slice(0, 2), namespace: ns });
    const reader = open({ hosts: cluster.endpoints[2]!, namespace: ns });
    expect(await writer.compareAndSwap('p', null, utf8('0'))).toBe(true);
    expect(new TextDecoder().decode((await reader.get('p'))!.value)).toBe('0');
    for (let round = 1; round <= 3; round++) {
      cluster.pause(2);
      try {
        for (let j = 0; j < 5; j++) {
          const cur = (await writer.get('p'))!;
          expect(await writer.compareAndSwap('p', cur.version, utf8(`${round}.${j}`))).toBe(true);
        }
      } finally {
        cluster.resume(2);
      }
      // Member 2 has missed five writes. A member-local (serializable) read would answer from
      // its stale state; a linearizable read waits until member 2 has applied the leader's
      // commit index (etcd's ReadIndex, Raft thesis §6.4).
      expect(new TextDecoder().decode((await reader.get('p'))!.value)).toBe(`${round}.4`);
    }
  });

  it('concurrent CAS increments from several clients on different members: exactly one winner per version', async () => {
    const ns = freshNamespace();
    const clients = cluster.endpoints.map((h) => open({ hosts: h, namespace: ns }));
    expect(await clients[0]!.compareAndSwap('ctr', null, utf8('0'))).toBe(true);
    const winsPerVersion = new Map<string, number>();
    let successes = 0;
    const worker = async (s: VaultStore, n: number) => {
      for (let done = 0; done < n; ) {
        const cur = (await s.get('ctr'))!;
        const next = utf8(String(Number(new TextDecoder().decode(cur.value)) + 1));
        if (await s.compareAndSwap('ctr', cur.version, next)) {
          winsPerVersion.set(cur.version, (winsPerVersion.get(cur.version) ?? 0) + 1);
          successes++;
          done++;
        }
      }
    };
    await Promise.all(clients.flatMap((c) => [worker(c, 8), worker(c, 8)]));
    expect(successes).toBe(48);
    expect([...winsPerVersion.values()].every((n) => n === 1)).toBe(true);
    expect(new TextDecoder().decode((await clients[1]!.get('ctr'))!.value)).toBe('48');
  });

  it('rejects with VAULT_UNAVAILABLE without a quorum, then serves the same data again', async () => {
    const s = open({ timeoutMs: 800, attemptTimeoutMs: 400 });
    expect(await s.compareAndSwap('q', null, utf8('before'))).toBe(true);
    const v = (await s.get('q'))!.version;
    await cluster.kill(0);
    await cluster.kill(1);
    try {
      const read = await s.get('q').then(
        () => 'answered',
        (e: unknown) => e,
      );
      expect(isBackupError(read, 'VAULT_UNAVAILABLE')).toBe(true);
      const write = await s.compareAndSwap('q', v, utf8('during')).then(
        () => 'answered',
        (e: unknown) => e,
      );
      expect(isBackupError(write, 'VAULT_UNAVAILABLE')).toBe(true);
    } finally {
      await cluster.restart(0);
      await cluster.restart(1);
      await cluster.waitHealthy();
    }
    // The refused write may or may not have committed (an unknown outcome is allowed to); either
    // way the record is one of the two values and the store serves it again.
    const got = await s.get('q');
    const text = new TextDecoder().decode(got!.value);
    expect(['before', 'during']).toContain(text);
    const cur = (await s.get('q'))!;
    expect(await s.compareAndSwap('q', cur.version, utf8('after'))).toBe(true);
  });

  describe('writes whose answer is lost on the wire', () => {
    let proxy: CutProxy;
    beforeAll(async () => {
      proxy = await startCutProxy(new URL(cluster.endpoints[2]!).port);
    });
    afterAll(async () => proxy?.close());

    it('a committed write whose answer was cut is reported as written, once', async () => {
      const ns = freshNamespace();
      const s = open({ hosts: proxy.url, namespace: ns });
      const direct = open({ hosts: cluster.endpoints, namespace: ns });
      expect(await s.compareAndSwap('w', null, utf8('v0'))).toBe(true);
      const v0 = (await s.get('w'))!.version;
      proxy.cutNextAnswer();
      // etcd commits the Txn, the answer never arrives, the store retries: the retry's compare
      // fails (the revision moved) and the read-back carries this write's token.
      expect(await s.compareAndSwap('w', v0, utf8('v1'))).toBe(true);
      expect(proxy.cuts).toBe(1);
      const now = (await direct.get('w'))!;
      expect(new TextDecoder().decode(now.value)).toBe('v1');
      // Exactly one write happened: the old version is stale and the new one is current.
      expect(await direct.compareAndSwap('w', v0, utf8('x'))).toBe(false);
      expect(await direct.compareAndSwap('w', now.version, utf8('v2'))).toBe(true);
    });

    it('an interrupted write overwritten by another process is an unknown outcome, not a conflict', async () => {
      const ns = freshNamespace();
      const s = open({ hosts: proxy.url, namespace: ns });
      const other = open({ hosts: cluster.endpoints[0]!, namespace: ns });
      expect(await s.compareAndSwap('w', null, utf8('v0'))).toBe(true);
      const v0 = (await s.get('w'))!.version;
      // While the answer is held back, another vault process reads our write and replaces it.
      proxy.cutNextAnswer(async () => {
        for (;;) {
          const cur = (await other.get('w'))!;
          if (cur.version !== v0) {
            expect(await other.compareAndSwap('w', cur.version, utf8('theirs'))).toBe(true);
            return;
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      });
      const outcome = await s.compareAndSwap('w', v0, utf8('mine')).then(
        (ok) => ok,
        (e: unknown) => e,
      );
      expect(isBackupError(outcome, 'VAULT_UNAVAILABLE')).toBe(true);
      expect(new TextDecoder().decode((await other.get('w'))!.value)).toBe('theirs');
    });

    it('a conflict with no interrupted attempt is a plain false', async () => {
      const ns = freshNamespace();
      const s = open({ hosts: proxy.url, namespace: ns });
      expect(await s.compareAndSwap('w', null, utf8('v0'))).toBe(true);
      const v0 = (await s.get('w'))!.version;
      expect(await s.compareAndSwap('w', v0, utf8('v1'))).toBe(true);
      expect(await s.compareAndSwap('w', v0, utf8('v2'))).toBe(false);
    });
  });
});

/**
 * A loopback TCP proxy in front of one etcd member. Normally it forwards both ways; once armed
 * with {@link CutProxy.cutNextAnswer}, it forwards the next request from the client, withholds
 * everything etcd sends back, and after `during()` (and at least 300 ms, time for etcd to commit)
 * destroys the connection: the client sees its call fail although etcd applied it.
 */
interface CutProxy {
  readonly url: string;
  cuts: number;
  cutNextAnswer(during?: () => Promise<void>): void;
  close(): Promise<void>;
}

async function startCutProxy(targetPort: string): Promise<CutProxy> {
  let armed: (() => Promise<void>) | undefined;
  const sockets = new Set<Socket>();
  const state = { cuts: 0 };
  const server: Server = createServer((client) => {
    const upstream = connect(Number(targetPort), '127.0.0.1');
    sockets.add(client).add(upstream);
    let swallowing = false;
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', kill).on('error', kill);
    upstream.on('close', kill).on('error', kill);
    client.on('data', (chunk) => {
      upstream.write(chunk);
      if (armed && !swallowing) {
        const during = armed;
        armed = undefined;
        swallowing = true;
        state.cuts++;
        void Promise.all([during(), new Promise((r) => setTimeout(r, 300))]).finally(kill);
      }
    });
    upstream.on('data', (chunk) => {
      if (!swallowing) client.write(chunk);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    get cuts() {
      return state.cuts;
    },
    set cuts(n: number) {
      state.cuts = n;
    },
    cutNextAnswer(during = async () => {}) {
      armed = during;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
