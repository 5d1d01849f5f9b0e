/**
 * The VaultStore compare-and-swap contract (lib/server/vault-store.ts), run unchanged against every
 * store: the etcd store on a real 3-member cluster, the in-memory store and the file store. A vault written
 * against one store must behave the same on the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdVaultStore, type EtcdVaultStore } from '../../lib/server/stores/etcd.js';
import { createMemoryVaultStore } from '../../lib/server/stores/memory.js';
import { createFileVaultStore } from '../../lib/server/stores/file.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VaultStore } from '../../lib/server/vault-store.js';
import { equalBytes, utf8 } from '../../lib/util/bytes.js';
import { describeWithEtcd, startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster.js';

/** The contract. `make` returns a store with no keys in it (a fresh namespace). */
function casContract(make: () => VaultStore): void {
  it('get of an absent key is undefined', async () => {
    expect(await make().get('nobody')).toBeUndefined();
  });

  it('create only if absent', async () => {
    const s = make();
    expect(await s.compareAndSwap('a', null, utf8('one'))).toBe(true);
    expect(await s.compareAndSwap('a', null, utf8('two'))).toBe(false);
    const got = await s.get('a');
    expect(equalBytes(got!.value, utf8('one'))).toBe(true);
    expect(typeof got!.version).toBe('string');
  });

  it('update only at the version read; every write makes a new version', async () => {
    const s = make();
    await s.compareAndSwap('a', null, utf8('v1'));
    const v1 = (await s.get('a'))!.version;
    expect(await s.compareAndSwap('a', v1, utf8('v2'))).toBe(true);
    const v2 = (await s.get('a'))!.version;
    expect(v2).not.toBe(v1);
    expect(await s.compareAndSwap('a', v1, utf8('stale'))).toBe(false);
    expect(await s.compareAndSwap('a', null, utf8('stale'))).toBe(false);
    expect(equalBytes((await s.get('a'))!.value, utf8('v2'))).toBe(true);
    // Writing the same bytes again is still a new version.
    expect(await s.compareAndSwap('a', v2, utf8('v2'))).toBe(true);
    expect((await s.get('a'))!.version).not.toBe(v2);
  });

  it('delete only at the version read', async () => {
    const s = make();
    await s.compareAndSwap('d', null, utf8('x'));
    const v = (await s.get('d'))!.version;
    await s.compareAndSwap('d', v, utf8('y'));
    expect(await s.compareAndSwap('d', v, null)).toBe(false);
    const cur = (await s.get('d'))!.version;
    expect(await s.compareAndSwap('d', cur, null)).toBe(true);
    expect(await s.get('d')).toBeUndefined();
    expect(await s.compareAndSwap('d', cur, null)).toBe(false);
    expect(await s.compareAndSwap('d', cur, utf8('z'))).toBe(false);
    // After a delete the key is absent again: a create succeeds.
    expect(await s.compareAndSwap('d', null, utf8('again'))).toBe(true);
  });

  it('stores exact bytes: empty values, views with an offset, no aliasing', async () => {
    const s = make();
    expect(await s.compareAndSwap('empty', null, new Uint8Array(0))).toBe(true);
    expect((await s.get('empty'))!.value.length).toBe(0);
    const backing = Uint8Array.from({ length: 64 }, (_, i) => i);
    const view = backing.subarray(5, 37);
    expect(await s.compareAndSwap('view', null, view)).toBe(true);
    view.fill(0xff); // the caller reuses its buffer after the write
    const got = (await s.get('view'))!.value;
    expect(equalBytes(got, Uint8Array.from({ length: 32 }, (_, i) => i + 5))).toBe(true);
    got.fill(0); // and scribbles on what it read
    expect((await s.get('view'))!.value[0]).toBe(5);
  });

  it('keys are independent, including ones that share a prefix', async () => {
    const s = make();
    await s.compareAndSwap('acct/1', null, utf8('a'));
    await s.compareAndSwap('acct/10', null, utf8('b'));
    const v1 = (await s.get('acct/1'))!.version;
    expect(await s.compareAndSwap('acct/1', v1, null)).toBe(true);
    expect(equalBytes((await s.get('acct/10'))!.value, utf8('b'))).toBe(true);
    expect(await s.compareAndSwap('accounts/ü/✓', null, utf8('unicode'))).toBe(true);
  });

  it('concurrent writers at one version: exactly one wins', async () => {
    const s = make();
    await s.compareAndSwap('race', null, utf8('0'));
    const v = (await s.get('race'))!.version;
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => s.compareAndSwap('race', v, utf8(`w${i}`))));
    expect(results.filter(Boolean).length).toBe(1);
    const creates = await Promise.all(Array.from({ length: 12 }, (_, i) => s.compareAndSwap('fresh', null, utf8(`c${i}`))));
    expect(creates.filter(Boolean).length).toBe(1);
  });
}

let ns = 0;

describe('VaultStore contract: memory', () => {
  casContract(() => createMemoryVaultStore());
});

describe('VaultStore contract: file', () => {
  const root = mkdtempSync(join(tmpdir(), 'e2ee-file-store-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  casContract(() => createFileVaultStore({ dir: join(root, String(ns++)) }));
});

describeWithEtcd({ describe, it }, 'VaultStore contract: etcd (3 members)', () => {
  let cluster: EtcdCluster;
  const stores: EtcdVaultStore[] = [];
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await cluster?.stop();
  });
  casContract(() => {
    const s = createEtcdVaultStore({ hosts: cluster.endpoints, namespace: `contract/${ns++}/` });
    stores.push(s);
    return s;
  });
});
