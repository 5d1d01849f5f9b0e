// The VaultStore CAS contract, run against the memory and the file-backed stores: create-only,
// conditional update and delete, no ABA after delete, concurrent CAS with exactly one winner per
// version, a restart of the file store, and a corrupt file rejected rather than trusted.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileVaultStore } from '../../lib/server/stores/file.js';
import { createMemoryVaultStore } from '../../lib/server/stores/memory.js';
import type { VaultStore } from '../../lib/server/vault-store.js';
import { toHex } from '../../lib/util/bytes.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'vault-store-'));
  dirs.push(d);
  return d;
}

const kinds: [string, () => Promise<VaultStore>][] = [
  ['memory', async () => createMemoryVaultStore()],
  ['file', async () => createFileVaultStore({ dir: await tempDir() })],
];

describe.each(kinds)('%s vault store', (_name, make) => {
  it('create-only, conditional update, conditional delete', async () => {
    const s = await make();
    expect(await s.get('a')).toBeUndefined();
    expect(await s.compareAndSwap('a', null, Uint8Array.of(1))).toBe(true);
    expect(await s.compareAndSwap('a', null, Uint8Array.of(2))).toBe(false);
    const v1 = (await s.get('a'))!;
    expect(toHex(v1.value)).toBe('01');
    expect(await s.compareAndSwap('a', 'not-a-version', Uint8Array.of(3))).toBe(false);
    expect(await s.compareAndSwap('a', v1.version, Uint8Array.of(3))).toBe(true);
    expect(await s.compareAndSwap('a', v1.version, Uint8Array.of(4))).toBe(false);
    const v2 = (await s.get('a'))!;
    expect(toHex(v2.value)).toBe('03');
    expect(await s.compareAndSwap('a', v2.version, null)).toBe(true);
    expect(await s.get('a')).toBeUndefined();
    // No ABA: re-created, the old version does not match.
    expect(await s.compareAndSwap('a', null, Uint8Array.of(5))).toBe(true);
    expect(await s.compareAndSwap('a', v1.version, Uint8Array.of(6))).toBe(false);
    expect(await s.compareAndSwap('a', v2.version, Uint8Array.of(6))).toBe(false);
  });

  it('a returned value is a copy: mutating it changes nothing stored', async () => {
    const s = await make();
    const v = Uint8Array.of(9, 9);
    await s.compareAndSwap('k', null, v);
    v[0] = 0;
    const got = (await s.get('k'))!;
    got.value[1] = 0;
    expect(toHex((await s.get('k'))!.value)).toBe('0909');
  });

  it('concurrent increments through CAS retries are exact (no lost update)', async () => {
    const s = await make();
    const inc = async () => {
      for (;;) {
        const cur = await s.get('n');
        const n = cur ? cur.value[0]! : 0;
        if (await s.compareAndSwap('n', cur?.version ?? null, Uint8Array.of(n + 1))) return;
      }
    };
    await Promise.all(Array.from({ length: 20 }, inc));
    expect((await s.get('n'))!.value[0]).toBe(20);
  });

  it('property: a sequence of CAS operations matches a model map', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('x', 'y'), fc.boolean(), fc.option(fc.uint8Array({ maxLength: 8 }))), { maxLength: 12 }),
        async (ops) => {
          const s = await make();
          const model = new Map<string, string>();
          for (const [key, useCurrent, value] of ops) {
            const cur = await s.get(key);
            const expected = useCurrent ? (cur?.version ?? null) : 'stale';
            const ok = await s.compareAndSwap(key, expected, value);
            expect(ok).toBe(useCurrent);
            if (ok) {
              if (value === null) model.delete(key);
              else model.set(key, toHex(value));
            }
            for (const k of ['x', 'y']) {
              const g = await s.get(k);
              expect(g === undefined ? undefined : toHex(g.value)).toBe(model.get(k));
            }
          }
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe('file vault store', () => {
  it('a new instance over the same directory sees every acknowledged write', async () => {
    const dir = await tempDir();
    const a = createFileVaultStore({ dir });
    await a.compareAndSwap('guesses/alice', null, Uint8Array.of(7));
    const v = (await a.get('guesses/alice'))!;
    const b = createFileVaultStore({ dir });
    const seen = (await b.get('guesses/alice'))!;
    expect(toHex(seen.value)).toBe('07');
    expect(seen.version).toBe(v.version);
    expect(await b.compareAndSwap('guesses/alice', v.version, Uint8Array.of(6))).toBe(true);
    expect(await a.compareAndSwap('guesses/alice', v.version, Uint8Array.of(5))).toBe(false);
    // Two instances racing on one directory (as two processes would) still have one winner each round.
    const cur = (await a.get('guesses/alice'))!;
    const wins = await Promise.all([a.compareAndSwap('guesses/alice', cur.version, Uint8Array.of(1)), b.compareAndSwap('guesses/alice', cur.version, Uint8Array.of(2))]);
    expect(wins.filter(Boolean).length).toBe(1);
    // One directory per key (plus the shared empty file erased versions link to).
    expect((await readdir(dir)).sort()).toEqual(['erased', createHash('sha256').update('guesses/alice').digest('hex')].sort());
  });

  it('a corrupt or foreign file is rejected, never read as a value', async () => {
    const dir = await tempDir();
    const s = createFileVaultStore({ dir });
    await s.compareAndSwap('k', null, Uint8Array.of(1, 2, 3));
    const file = join(dir, createHash('sha256').update('k').digest('hex'), '1.v');
    const bytes = await readFile(file);
    bytes[bytes.length - 40]! ^= 1;
    await writeFile(file, bytes);
    await expect(s.get('k')).rejects.toThrow(/corrupt/);
    await expect(s.compareAndSwap('k', null, Uint8Array.of(1))).rejects.toThrow(/corrupt/);
  });

  it('a damaged hint only costs a probe; a crashed writer\'s temporary file changes nothing', async () => {
    const dir = await tempDir();
    const s = createFileVaultStore({ dir });
    await s.compareAndSwap('k', null, Uint8Array.of(1));
    const kd = join(dir, createHash('sha256').update('k').digest('hex'));
    for (const hint of [Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 99), Uint8Array.of(1, 2, 3)]) {
      await writeFile(join(kd, 'latest'), hint);
      expect(toHex((await s.get('k'))!.value)).toBe('01');
    }
    await writeFile(join(kd, '0123456789abcdef.tmp'), Uint8Array.of(9, 9));
    const cur = (await s.get('k'))!;
    expect(await s.compareAndSwap('k', cur.version, Uint8Array.of(2))).toBe(true);
    expect(toHex((await s.get('k'))!.value)).toBe('02');
    // The shared empty file erased versions link to, removed by hand: erasure still happens.
    await rm(join(dir, 'erased'));
    expect(await s.compareAndSwap('k', (await s.get('k'))!.version, Uint8Array.of(3))).toBe(true);
    expect((await readFile(join(kd, '2.v'))).length).toBe(0);
    expect(toHex((await s.get('k'))!.value)).toBe('03');
  });
});
