// Issue 14: a property over random interleavings of backup, cancel, resume, close, unlock, reload,
// a second tab (its timers throttled, so only the per-part lease check can stop it), store
// failures, expired leases and session records put back (a crash or an attacker rolling the device
// store back between steps). The blob store records every part body it was handed: no (upload,
// part number) may ever carry two different bodies, and no salt may serve two uploads.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BackupError } from '../../lib/errors.js';
import type { BackupClient } from '../../lib/client.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { createMemoryStore, type KeyValueStore, type StoredValue } from '../../lib/storage/kv.js';
import { makeClient, makeVault, noSleep, recordingStore, testBytes } from './harness.js';

const vault = makeVault();
const SIZE = 160 * 1024;
// 16 KiB of plaintext per part: 10 parts; the fingerprint samples the first and last 64 KiB, so
// parts 5 and 6 can change unnoticed by it.
const PART_PLAIN = 16 * 1024;
let seq = 0;

function edited(data: Uint8Array, offset: number): Uint8Array {
  const out = Uint8Array.from(data);
  for (let i = 0; i < 8; i++) out[offset + i] = out[offset + i]! ^ 0x5a;
  return out;
}

const base = testBytes(SIZE, 77);
const variants: readonly Uint8Array[] = [base, edited(base, 4 * PART_PLAIN + 900), edited(base, 5 * PART_PLAIN + 500), base.subarray(0, SIZE - 5000)];

/** A sleep whose timers never fire (a throttled background tab); it rejects when aborted. */
const throttled = (_ms: number, signal?: AbortSignal) =>
  new Promise<void>((_, reject) => {
    if (signal?.aborted) reject(signal.reason);
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

type Act =
  | { readonly t: 'backup'; readonly tab: number; readonly src: number; readonly stream: boolean }
  | { readonly t: 'cancel' | 'close' | 'unlock' | 'reload'; readonly tab: number }
  | { readonly t: 'steps'; readonly n: number }
  | { readonly t: 'rollback'; readonly which: number }
  | { readonly t: 'fail'; readonly after: number }
  | { readonly t: 'expire' };

const tab = fc.integer({ min: 0, max: 1 });
const act: fc.Arbitrary<Act> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('backup' as const), tab, src: fc.integer({ min: 0, max: variants.length - 1 }), stream: fc.integer({ min: 0, max: 3 }).map((n) => n === 0) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constantFrom('cancel' as const, 'close' as const, 'unlock' as const, 'reload' as const), tab }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('steps' as const), n: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('rollback' as const), which: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('fail' as const), after: fc.integer({ min: 0, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('expire' as const) }) },
);

async function run(acts: readonly Act[]): Promise<string[]> {
  const rec = recordingStore(createMemoryBlobStore({ limits: { minPartSize: 1 } }));
  const inner = createMemoryStore();
  const records: StoredValue[] = [];
  const keep = (k: string, v: StoredValue | undefined) => {
    if (k.startsWith('upload-session/') && v !== undefined) records.push(structuredClone(v));
  };
  const storage: KeyValueStore = {
    ...inner,
    async set(k, v) {
      keep(k, v);
      return inner.set(k, v);
    },
    async update(k, fn) {
      return inner.update(k, (old) => {
        const next = fn(old as never);
        if (next !== old) keep(k, next);
        return next;
      });
    },
  };
  let clock = 5_000_000;
  const leaseMs = 1000;
  const accountId = `prop${++seq}`;
  // Tab 0 has working timers; tab 1's never fire (heartbeat, backoff, lock polling).
  const make = (i: number): BackupClient =>
    makeClient(vault, rec.store, storage, { accountId, now: () => clock, leaseMs, partRetries: 1, partSize: 16 * 1040, sleep: i === 0 ? noSleep : throttled });
  const tabs = [make(0), make(1)];
  const { recoveryCode } = await tabs[0]!.enable();
  await tabs[1]!.unlock({ recoveryCode: recoveryCode! });
  const running: (AbortController | undefined)[] = [undefined, undefined];
  const settled: Promise<unknown>[] = [];
  // The putPart call after `failIn` more calls is refused (once): a backup fails mid-upload.
  let failIn = -1;
  rec.setHook(async () => {
    // Each part takes a turn of the event loop, so steps, cancels and rollbacks land mid-upload.
    await new Promise((r) => setTimeout(r, 0));
    if (failIn >= 0 && failIn-- === 0) throw new BackupError('UNAUTHORIZED', 'refused by the test');
  });
  const macrotask = () => new Promise((r) => setTimeout(r, 0));

  for (const a of acts) {
    switch (a.t) {
      case 'backup': {
        const ac = new AbortController();
        running[a.tab] = ac;
        const data = variants[a.src]!;
        const source = a.stream
          ? new ReadableStream<Uint8Array>({
              start(c) {
                for (let i = 0; i < data.length; i += 10_000) c.enqueue(data.slice(i, i + 10_000));
                c.close();
              },
            })
          : data;
        // A stream resumes only under a version: the same version over different content is the
        // "changed under the same version" case (refused, never resent under the old salt).
        settled.push(tabs[a.tab]!.backup(source, { signal: ac.signal, ...(a.stream ? { version: 'v' } : {}) }).catch(() => undefined));
        break;
      }
      case 'cancel':
        running[a.tab]?.abort();
        break;
      case 'close':
        tabs[a.tab]!.close();
        break;
      case 'unlock':
        settled.push(tabs[a.tab]!.unlock({ recoveryCode: recoveryCode! }).catch(() => undefined));
        break;
      case 'reload':
        // The tab goes away (its operations stop) and a new page loads on the same IndexedDB.
        tabs[a.tab]!.close();
        tabs[a.tab] = make(a.tab);
        settled.push(tabs[a.tab]!.unlock({ recoveryCode: recoveryCode! }).catch(() => undefined));
        break;
      case 'steps':
        for (let i = 0; i < a.n; i++) await macrotask();
        break;
      case 'rollback':
        if (records.length > 0) await inner.set(`upload-session/${accountId}`, structuredClone(records[a.which % records.length]!));
        break;
      case 'fail':
        failIn = a.after;
        break;
      case 'expire':
        clock += 3 * leaseMs;
        break;
    }
  }
  for (let i = 0; i < 20; i++) await macrotask();
  for (const t of tabs) t.close();
  await Promise.allSettled(settled);
  return rec.violations();
}

describe('nonce property (issue 14)', () => {
  it('the counterexample the property found on the code before issue 14 (a record put back mid-upload)', async () => {
    const acts: Act[] = [
      { t: 'backup', tab: 0, src: 0, stream: false },
      { t: 'fail', after: 2 },
      { t: 'steps', n: 3 },
      { t: 'rollback', which: 0 },
      { t: 'fail', after: 0 },
      { t: 'backup', tab: 0, src: 1, stream: false },
      { t: 'fail', after: 2 },
    ];
    expect(await run(acts)).toEqual([]);
  });

  it('no interleaving sends two different bodies for one (salt, part)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(act, { minLength: 6, maxLength: 30 }), async (acts) => {
        expect(await run(acts)).toEqual([]);
      }),
      { numRuns: 40 },
    );
  }, 300_000);
});
