// Issue 14: a property over random interleavings of backup, cancel, resume, close, unlock, reload,
// a second tab (its timers throttled, so only the per-part lease check can stop it), store
// failures, expired leases and session records put back (a crash or an attacker rolling the device
// store back between steps). The blob store records every part body it was handed: no (upload,
// part number) may ever carry two different bodies, and no salt may serve two uploads, except
// what the invariant excludes (docs/THREAT-MODEL.md, docs/CLIENT.md §The invariant): a part whose
// body left but that the store did not hold at the moment of a rollback (in flight, or refused
// after its body was handed over; test/client/nonce-inflight-rollback.test.ts). Before that
// exclusion was written here, the property failed in some runs on exactly those cases (4 of ~600
// runs), and its shrinking then ran for minutes: under load, that was the "timeout".
//
// Speed under load (it took 14-20 s alone at load 7 and could pass its timeout when the machine
// was busy): three quarters of that was OPAQUE, ~450 ms per unlock (both sides of the login run
// in this process) and every run unlocks 2-10 times. The vault only hands the client its keyring;
// what the property checks (sessions, leases, salts, parts) never sees OPAQUE. So the property
// runs against a fake vault with the same contract (the keyring for the right code, WRONG_CODE
// otherwise, a fresh copy each time, which the client may wipe) that answers after two
// macrotasks, as the login's two round trips do, so unlocks still interleave with steps and
// cancels. The counterexample the property found before issue 14 runs against both the fake and
// the real reference vault; the property keeps its 40 runs, with an explicit timeout.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BackupError } from '../../lib/errors.js';
import type { BackupClient } from '../../lib/client.js';
import { copyKeyring, type Keyring } from '../../lib/recovery/keyring.js';
import type { VaultClient } from '../../lib/recovery/vault-client.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { createMemoryStore, type KeyValueStore, type StoredValue } from '../../lib/storage/kv.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { FLEET, makeClient, makeVault, noSleep, recordingStore, testBytes } from './harness.js';

const realVault = makeVault();

/** A vault with the contract the client relies on, without OPAQUE: one enrollment per account. */
function fakeVault(): (accountId: string) => VaultClient {
  const enrolled = new Map<string, { password: Uint8Array; keyring: Keyring }>();
  const roundTrip = async () => {
    for (let i = 0; i < 2; i++) await new Promise((r) => setTimeout(r, 0));
  };
  const client: (accountId: string) => Partial<VaultClient> = (accountId) => ({
    fleetId: FLEET,
    accountId,
    async enroll({ password, keyring }) {
      await roundTrip();
      enrolled.set(accountId, { password: password.slice(), keyring: copyKeyring(keyring) });
      return { guessLimit: 10 };
    },
    async recover({ password, signal }) {
      await roundTrip();
      signal?.throwIfAborted();
      const e = enrolled.get(accountId);
      if (e === undefined) throw new BackupError('NOT_ENROLLED', 'no enrollment');
      if (!equalBytes(e.password, password)) throw new BackupError('WRONG_CODE', 'wrong code', { guessesRemaining: 9 });
      return copyKeyring(e.keyring);
    },
  });
  return (accountId) => client(accountId) as VaultClient;
}
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

async function run(acts: readonly Act[], vaultOf?: (accountId: string) => VaultClient): Promise<string[]> {
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
    makeClient(realVault, rec.store, storage, {
      accountId,
      now: () => clock,
      leaseMs,
      partRetries: 1,
      partSize: 16 * 1040,
      sleep: i === 0 ? noSleep : throttled,
      ...(vaultOf === undefined ? {} : { vault: vaultOf(accountId) }),
    });
  const tabs = [make(0), make(1)];
  const { recoveryCode } = await tabs[0]!.enable();
  await tabs[1]!.unlock({ recoveryCode: recoveryCode! });
  const running: (AbortController | undefined)[] = [undefined, undefined];
  const excused = new Set<string>();
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
        if (records.length > 0) {
          // What the invariant does not cover (docs/CLIENT.md §The invariant, THREAT-MODEL): a
          // part whose body left but that the store does not hold at the moment the device store
          // is rolled back (in flight, refused, cut off). Only those (upload, part) pairs are
          // excused; test/client/nonce-inflight-rollback.test.ts shows the case.
          for (const p of rec.unconfirmed()) excused.add(p);
          await inner.set(`upload-session/${accountId}`, structuredClone(records[a.which % records.length]!));
        }
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
  return rec.violations().filter((v) => !excused.has(v.replace(/: \d+ bodies$/, '')));
}

describe('nonce property (issue 14)', () => {
  it.each([
    ['the reference vault', undefined],
    ['a fake vault', fakeVault()],
  ] as const)('the counterexample the property found on the code before issue 14 (a record put back mid-upload), %s', async (_, vaultOf) => {
    const acts: Act[] = [
      { t: 'backup', tab: 0, src: 0, stream: false },
      { t: 'fail', after: 2 },
      { t: 'steps', n: 3 },
      { t: 'rollback', which: 0 },
      { t: 'fail', after: 0 },
      { t: 'backup', tab: 0, src: 1, stream: false },
      { t: 'fail', after: 2 },
    ];
    expect(await run(acts, vaultOf)).toEqual([]);
  });

  // The two shrunk cases of the documented exclusion the property found (each gave "part 5: 2
  // bodies" in 9-19 of 20 replays before the exclusion): a part in flight at the rollback, and a
  // part refused after its body was sent, then rolled out of the record.
  it.each([
    [
      'in flight',
      [
        { t: 'backup', tab: 0, src: 0, stream: false },
        { t: 'steps', n: 2 },
        { t: 'rollback', which: 1226636292 },
        { t: 'steps', n: 1 },
        { t: 'expire' },
        { t: 'backup', tab: 0, src: 1, stream: false },
        { t: 'fail', after: 0 },
      ],
    ],
    [
      'refused',
      [
        { t: 'fail', after: 2 },
        { t: 'backup', tab: 0, src: 0, stream: false },
        { t: 'steps', n: 3 },
        { t: 'expire' },
        { t: 'backup', tab: 0, src: 1, stream: false },
        { t: 'backup', tab: 0, src: 0, stream: true },
        { t: 'fail', after: 0 },
        { t: 'backup', tab: 0, src: 0, stream: true },
        { t: 'rollback', which: 285803639 },
      ],
    ],
  ] as const satisfies readonly (readonly [string, readonly Act[]])[])('the shrunk case of the documented exclusion (%s) passes', async (_, acts) => {
    expect(await run(acts, fakeVault())).toEqual([]);
  });

  it('no interleaving sends two different bodies for one (salt, part)', async () => {
    const vaultOf = fakeVault();
    await fc.assert(
      fc.asyncProperty(fc.array(act, { minLength: 6, maxLength: 30 }), async (acts) => {
        expect(await run(acts, vaultOf)).toEqual([]);
      }),
      { numRuns: 40 },
    );
    // The timeout is a margin for a machine running the whole suite on two shared cores, not a budget.
  }, 300_000);
});
