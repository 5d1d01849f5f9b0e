// Client and blob server agree on part limits before the first part, and progress moves during a
// small backup (issue 19, stumble 5: a 6 MB backup showed 0 -> 100 %; with a part size set on the
// client only, every part was uploaded and the upload failed at the end with "answered 400
// InvalidPart", naming neither the limit nor the side).
import { describe, expect, it } from 'vitest';
import {
  createBackupClient,
  createMemoryStore,
  isBackupError,
  type BackupClient,
  type BlobStore,
  type VaultClient,
} from '../../lib/index.js';
import { createHttpBlobStore, createMemoryBlobStore } from '../../lib/stores.js';
import { createBlobPresigner, createBlobStoreHandler } from '../../lib/server/index.js';

const ORIGIN = 'http://blobs.test.invalid';

/** A vault that accepts every enrollment: these tests are about the blob side only. */
const acceptingVault = { accountId: 'alice', fleetId: 'f', enroll: async () => undefined } as unknown as VaultClient;

function blobServer(serverMinPartSize: number): { server: BlobStore; client: (limits: { minPartSize: number }) => BlobStore; requests: string[] } {
  const server = createMemoryBlobStore({ limits: { minPartSize: serverMinPartSize } });
  const signingKey = new Uint8Array(32).fill(7);
  const handler = createBlobStoreHandler({ store: server, signingKey });
  const presigner = createBlobPresigner({ baseUrl: ORIGIN, signingKey });
  const requests: string[] = [];
  const fetch = async (r: Request): Promise<Response> => {
    const u = new URL(r.url);
    requests.push(`${r.method} ${u.searchParams.get('partNumber') ?? ''}`);
    return handler(r);
  };
  return { server, requests, client: (limits) => createHttpBlobStore({ fetch, limits, presign: async (op) => presigner.http(op) }) };
}

async function enabledClient(store: BlobStore, over: { partSize?: number; chunkSize?: number } = {}): Promise<BackupClient> {
  const client = createBackupClient({ accountId: 'alice', vault: acceptingVault, store, storage: createMemoryStore(), ...over });
  await client.enable();
  return client;
}

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31) & 0xff);

describe('part limits', () => {
  it('a client configured below the server minimum adopts the server minimum before the first part', async () => {
    const { client, requests } = blobServer(64 * 1024);
    const backup = await enabledClient(client({ minPartSize: 1 }), { partSize: 4096, chunkSize: 1024 });
    const result = await backup.backup(bytes(300_000));
    expect(result.archiveSize).toBeGreaterThan(300_000);
    // Every part but the last is at least the server's minimum: at most ceil(300 KB / 64 KiB) parts.
    const parts = requests.filter((r) => r.startsWith('PUT ') && r !== 'PUT ');
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.length).toBeLessThanOrEqual(5);
  });

  it('a part over the store maximum fails before any part is sent, naming the limit and its value', async () => {
    const store = createMemoryBlobStore({ limits: { minPartSize: 1, maxPartSize: 8192 } });
    const backup = await enabledClient(store, { partSize: 64 * 1024, chunkSize: 1024 });
    const e = await backup.backup(bytes(200_000)).catch((x: unknown) => x);
    expect(isBackupError(e, 'INVALID_ARGUMENT')).toBe(true);
    expect(isBackupError(e) && e.details).toMatchObject({ option: 'partSize', limit: 8192 });
    expect(String((e as Error).message)).toMatch(/maxPartSize 8192/);
  });

  it('a server that refuses parts at completion (S3 announces nothing) is explained: part size, the client limit, the fix', async () => {
    // An adapter that hides the server's announcement, as the S3 adapter has none to read.
    const { client } = blobServer(64 * 1024);
    const inner = client({ minPartSize: 1 });
    const silent: BlobStore = {
      ...inner,
      limits: inner.limits,
      createUpload: async (key, o) => {
        const { serverLimits: _hidden, ...ref } = await inner.createUpload(key, o);
        return ref;
      },
    };
    const backup = await enabledClient(silent, { partSize: 4096, chunkSize: 1024 });
    const e = await backup.backup(bytes(100_000)).catch((x: unknown) => x);
    expect(isBackupError(e, 'INVALID_ARGUMENT')).toBe(true);
    expect(isBackupError(e) && e.details).toMatchObject({ option: 'limits.minPartSize', limit: 1, status: 400 });
    expect(String((e as Error).message)).toMatch(/parts of \d+ bytes.*limits\.minPartSize 1 \(client\).*server's minimum part size is larger/);
  });
});

describe('progress', () => {
  it('moves during a small backup when the app sets no part size (several parts, not one)', async () => {
    const store = createMemoryBlobStore({ limits: { minPartSize: 1 } });
    const backup = await enabledClient(store);
    const seen: number[] = [];
    const size = 6_000_000; // the 6 MB of the report
    await backup.backup(bytes(size), { onProgress: (p) => seen.push(p.bytes / (p.total ?? NaN)) });
    expect(seen.length).toBeGreaterThanOrEqual(8);
    expect(seen.filter((f) => f > 0 && f < 1).length).toBeGreaterThanOrEqual(6);
    expect(seen[seen.length - 1]).toBe(1);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  });
});
