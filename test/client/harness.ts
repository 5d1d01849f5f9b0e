// Shared set-up of the client tests: the reference vault and the reference blob server, both
// in-process as fetch-style handlers, the blob server reached through the fault-injecting fetch and
// the real presigned-HTTP or S3 adapter. The vault's OPAQUE suite uses the test-only identity KSF
// (its suite id says INSECURE) so a full enrollment costs milliseconds, not scrypt seconds.
import { createBackupClient, type BackupClient, type BackupClientOptions } from '../../lib/client.js';
import { pinnedFleets } from '../../lib/recovery/fleet-trust.js';
import { INSECURE_IDENTITY_KSF, OpaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import { createVaultClient } from '../../lib/recovery/vault-client.js';
import { createBlobPresigner, createBlobStoreHandler } from '../../lib/server/blob-store.js';
import { createMemoryVaultStore } from '../../lib/server/stores/memory.js';
import { createVaultHandler, generateVaultSetup } from '../../lib/server/vault.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { createS3BlobStore } from '../../lib/storage/blob/s3.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import type { KeyValueStore } from '../../lib/storage/kv.js';
import { faultyFetch, type FaultyFetchOptions, type FaultyFetch } from '../support/faulty-fetch.js';

export { readAll, readUntilError } from '../support/streams.js';

export const suite = new OpaqueTsSuite(INSECURE_IDENTITY_KSF);
export const FLEET = 'fleet-client-test';
const setup = await generateVaultSetup(suite);
export const trust = pinnedFleets([{ fleetId: FLEET, suite: suite.id, publicKey: setup.publicKey }]);

/** One reference vault shared by every client of a test file. */
export function makeVault() {
  const store = createMemoryVaultStore();
  const handler = createVaultHandler({ fleetId: FLEET, setup: setup.setup, store, suite, verifyToken: async (t) => (t.startsWith('tok-') ? t.slice(4) : undefined) });
  return handler;
}

/** The reference blob server over its own memory store (exposed, to flip bytes "in storage"). */
export function makeBlobServer() {
  const backing = createMemoryBlobStore({ limits: { minPartSize: 1 } });
  const signingKey = new Uint8Array(32).fill(7);
  const handler = createBlobStoreHandler({ store: backing, signingKey, pageSize: 3 });
  const presigner = createBlobPresigner({ baseUrl: 'http://blobs.test', signingKey });
  return { backing, handler, presigner };
}

export const noSleep = async (_ms: number, signal?: AbortSignal) => {
  await new Promise((r) => setTimeout(r, 0));
  if (signal?.aborted) throw signal.reason;
};

/** The blob store a client uses: the real adapter over the faulty fetch. */
export function blobClient(server: ReturnType<typeof makeBlobServer>, faults: FaultyFetchOptions = {}, dialect: 'http' | 's3' = 'http'): { store: BlobStore; faulty: FaultyFetch } {
  const faulty = faultyFetch(server.handler, faults);
  const common = {
    fetch: faulty.fetch,
    limits: { minPartSize: 1 },
    timeoutMs: 300,
    sleep: noSleep,
    retry: { retries: 3, baseDelayMs: 1, maxDelayMs: 2 },
  };
  const store =
    dialect === 'http'
      ? createHttpBlobStore({ ...common, presign: async (op) => server.presigner.http(op) })
      : createS3BlobStore({ ...common, presign: async (op) => server.presigner.s3(op) });
  return { store, faulty };
}

export function makeClient(
  vaultHandler: (r: Request) => Promise<Response>,
  store: BlobStore,
  storage: KeyValueStore,
  extra: Partial<BackupClientOptions> & { accountId?: string } = {},
): BackupClient {
  const accountId = extra.accountId ?? 'alice';
  const vault = createVaultClient({
    fleetId: FLEET,
    accountId,
    baseUrl: 'http://vault.test',
    fetch: vaultHandler,
    getToken: async () => `tok-${accountId}`,
    trust,
    suite,
    sleep: async () => undefined,
  });
  return createBackupClient({
    accountId,
    vault,
    storage,
    trust,
    store,
    chunkSize: 1024,
    partSize: 4 * 1040,
    concurrency: 3,
    sleep: noSleep,
    leaseMs: 2000,
    ...extra,
  });
}

/** Deterministic pseudo-random bytes (not a secret: test data). */
export function testBytes(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A blob store that records every part body handed to `putPart` (before the store answers, so a
 * part the store then refuses or loses still counts as seen), keyed by upload key and part number,
 * and can hold or fail chosen calls. `violations()` lists every (upload, part) that carried two
 * different bodies: under one salt that would be two plaintexts under one nonce (the upload key
 * names one backup id, drawn with its salt), and `salts()` checks no salt served two uploads.
 */
export function recordingStore(inner: BlobStore) {
  const sent = new Map<string, Map<number, Set<string>>>();
  const saltOf = new Map<string, string>();
  // Buffer's hex: the property tests record every part body, and an array of 16 Ki strings per
  // part was most of their CPU time.
  const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  let hook: ((partNumber: number) => Promise<void> | void) | undefined;
  // Parts whose body was handed over and whose call has not settled: "in flight".
  const inFlight = new Map<string, number>();
  // Bodies the store accepted, by `<key> part <n>`.
  const stored = new Map<string, Set<string>>();
  const store: BlobStore = {
    ...inner,
    limits: inner.limits,
    async putPart(upload, partNumber, bytes, options) {
      let parts = sent.get(upload.key);
      if (parts === undefined) sent.set(upload.key, (parts = new Map()));
      let set = parts.get(partNumber);
      if (set === undefined) parts.set(partNumber, (set = new Set()));
      const body = hex(bytes);
      set.add(body);
      // Archive header (docs/FORMAT.md): the salt is bytes 32..64.
      if (partNumber === 1) saltOf.set(upload.key, hex(bytes.subarray(32, 64)));
      const id = `${upload.key} part ${partNumber}`;
      inFlight.set(id, (inFlight.get(id) ?? 0) + 1);
      try {
        await hook?.(partNumber);
        const r = await inner.putPart(upload, partNumber, bytes, options);
        stored.set(id, (stored.get(id) ?? new Set()).add(body));
        return r;
      } finally {
        const n = inFlight.get(id)! - 1;
        if (n === 0) inFlight.delete(id);
        else inFlight.set(id, n);
      }
    },
  };
  return {
    store,
    /** Called on every putPart after it was recorded; may wait or throw. */
    setHook(h: typeof hook) {
      hook = h;
    },
    /**
     * The (upload, part) pairs, named as {@link violations} names them (`<key> part <n>`), with a
     * body the store has not accepted (so far): in flight, refused or cut off. Nothing on the
     * device can know about those once its record is rolled back.
     */
    unconfirmed(): string[] {
      const out: string[] = [];
      for (const [key, parts] of sent) {
        for (const [n, bodies] of parts) {
          const id = `${key} part ${n}`;
          const ok = stored.get(id);
          if (inFlight.has(id) || [...bodies].some((b) => ok?.has(b) !== true)) out.push(id);
        }
      }
      return out;
    },
    violations(): string[] {
      const out: string[] = [];
      for (const [key, parts] of sent) for (const [n, set] of parts) if (set.size > 1) out.push(`${key} part ${n}: ${set.size} bodies`);
      const bySalt = new Map<string, string>();
      for (const [key, salt] of saltOf) {
        const other = bySalt.get(salt);
        if (other !== undefined && other !== key) out.push(`salt reused by ${other} and ${key}`);
        bySalt.set(salt, key);
      }
      return out;
    },
    partsSent: () => [...sent.values()].reduce((n, m) => n + m.size, 0),
  };
}
