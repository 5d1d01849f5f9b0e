// Every constructor an app calls refuses a wrong option with a BackupError INVALID_ARGUMENT whose
// details.option names it and whose message says what to pass (issue 19: the quick start's
// relative `baseUrl: '/vault'` threw a bare `TypeError: Invalid base URL`). A relative vault URL is
// resolved against the page where there is one.
import { afterEach, describe, expect, it } from 'vitest';
import {
  createBackupClient,
  createIndexedDbStore,
  createMemoryStore,
  createVaultClient,
  isBackupError,
  pinnedFleets,
  type BackupClientOptions,
  type VaultClientOptions,
} from '../../lib/index.js';
import { createHttpBlobStore, createMemoryBlobStore, createS3BlobStore } from '../../lib/stores.js';
import { createWorkerEngine } from '../../lib/workers.js';
import { createTestFleet } from '../../lib/testing/index.js';

function refusal(run: () => unknown): { option: string | undefined; message: string } {
  try {
    run();
  } catch (e) {
    if (!isBackupError(e, 'INVALID_ARGUMENT')) throw e;
    return { option: e.details.option, message: e.message };
  }
  throw new Error('no error');
}

const trust = pinnedFleets([{ fleetId: 'fleet-1', suite: 'rfc9807/ristretto255-SHA512/argon2id-m47104-t1-p1', publicKey: new Uint8Array(32).fill(2) }]);
const vaultOptions = (over: Partial<VaultClientOptions> = {}): VaultClientOptions => ({
  fleetId: 'fleet-1',
  accountId: 'alice',
  baseUrl: 'https://vault.example',
  fetch: (r) => fetch(r),
  getToken: async () => 'token',
  trust,
  ...over,
});

describe('createVaultClient', () => {
  afterEach(() => {
    delete (globalThis as { location?: unknown }).location;
  });

  it('refuses a relative baseUrl where there is no page, saying to pass an absolute URL', () => {
    expect('location' in globalThis).toBe(false);
    const r = refusal(() => createVaultClient(vaultOptions({ baseUrl: '/vault' })));
    expect(r.option).toBe('baseUrl');
    expect(r.message).toMatch(/options\.baseUrl must be an absolute URL here .*'\/vault'.*https:\/\/vault\.example/);
  });

  it('resolves a relative baseUrl against the page (the quick start as written)', async () => {
    (globalThis as { location?: unknown }).location = { href: 'https://chat.example/app/settings' };
    const seen: string[] = [];
    const client = createVaultClient(
      vaultOptions({
        baseUrl: '/vault',
        fetch: async (r) => {
          seen.push(r.url);
          return new Response(null, { status: 503 });
        },
        retries: 0,
      }),
    );
    await client.status().catch(() => undefined);
    expect(seen[0]).toBe('https://chat.example/vault/v1/vault');
  });

  it('names each wrong option', () => {
    expect(refusal(() => createVaultClient(vaultOptions({ baseUrl: undefined }))).option).toBe('baseUrl');
    expect(refusal(() => createVaultClient(vaultOptions({ baseUrl: 'ftp://x' }))).option).toBe('baseUrl');
    expect(refusal(() => createVaultClient(vaultOptions({ endpoint: 'nope' }))).option).toBe('endpoint');
    expect(refusal(() => createVaultClient(vaultOptions({ fleetId: 'bad fleet' }))).option).toBe('fleetId');
    expect(refusal(() => createVaultClient(vaultOptions({ accountId: '' }))).option).toBe('accountId');
    expect(refusal(() => createVaultClient(vaultOptions({ getToken: 'tok' as never }))).option).toBe('getToken');
    expect(refusal(() => createVaultClient(vaultOptions({ fetch: undefined as never }))).option).toBe('fetch');
    // Says what to pass (issue 19: an error message that does not say what to pass).
    expect(refusal(() => createVaultClient(vaultOptions({ fetch: undefined as never }))).message).toContain('(request) => fetch(request)');
    expect(refusal(() => createVaultClient(vaultOptions({ trust: {} as never }))).option).toBe('trust');
    expect(refusal(() => createVaultClient(vaultOptions({ timeoutMs: 0 }))).option).toBe('timeoutMs');
    expect(refusal(() => createVaultClient(vaultOptions({ retries: 11 }))).option).toBe('retries');
    expect(refusal(() => createVaultClient(null as never)).option).toBe('options');
  });
});

describe('the other constructors', () => {
  it('blob stores name the option', () => {
    const presign = async () => 'https://blobs.example/x';
    expect(refusal(() => createHttpBlobStore({ fetch, presign: undefined as never })).option).toBe('presign');
    expect(refusal(() => createS3BlobStore({ fetch, presign, limits: { minPartSize: 10, maxPartSize: 5 } })).option).toBe('limits.minPartSize');
    expect(refusal(() => createHttpBlobStore({ fetch, presign, limits: { maxParts: 0 } })).option).toBe('limits.maxParts');
    expect(refusal(() => createHttpBlobStore({ fetch, presign, minBytesPerSecond: 0 })).option).toBe('minBytesPerSecond');
    expect(refusal(() => createMemoryBlobStore({ limits: { maxObjectSize: -1 } })).option).toBe('limits.maxObjectSize');
    expect(refusal(() => createS3BlobStore(undefined as never)).option).toBe('options');
  });

  it('device storage, trust and engines name the option', () => {
    expect(refusal(() => createIndexedDbStore({ dbName: '' })).option).toBe('dbName');
    expect(refusal(() => pinnedFleets([{ fleetId: 'f', suite: 's', publicKey: 'abcd' as never }])).option).toBe('fleets[0].publicKey');
    // Where the key comes from: the app's build (GETTING-STARTED §3), never the app's backend.
    expect(refusal(() => pinnedFleets([{ fleetId: 'f', suite: 's', publicKey: 'abcd' as never }])).message).toContain('in your build');
    expect(refusal(() => createHttpBlobStore({ fetch: undefined as never, presign: async () => 'https://blobs.example/x' })).message).toContain('(request) => fetch(request)');
    expect(refusal(() => pinnedFleets({} as never)).option).toBe('fleets');
    expect(refusal(() => createWorkerEngine({ workers: 0 })).option).toBe('workers');
  });

  it('createBackupClient names the option and what to pass', async () => {
    const fleet = await createTestFleet();
    const vault = createVaultClient({ ...vaultOptions(), baseUrl: fleet.origins.vault, fetch: fleet.fetch, trust: fleet.trust });
    const store = createMemoryBlobStore();
    const base: BackupClientOptions = { accountId: 'alice', vault, store, storage: createMemoryStore() };
    expect(() => createBackupClient(base)).not.toThrow();
    const cases: [Partial<BackupClientOptions>, string][] = [
      [{ accountId: 'bob' }, 'vault'],
      [{ store: undefined as never }, 'store'],
      [{ storage: undefined as never }, 'storage'],
      [{ chunkSize: 10 }, 'chunkSize'],
      [{ partSize: 0 }, 'partSize'],
      [{ concurrency: 100 }, 'concurrency'],
      [{ partRetries: -1 }, 'partRetries'],
      [{ engine: {} as never }, 'engine'],
      [{ keyPrefix: 'users 42/' }, 'keyPrefix'],
    ];
    for (const [over, option] of cases) {
      const r = refusal(() => createBackupClient({ ...base, ...over }));
      expect(r.option, JSON.stringify(over)).toBe(option);
      expect(r.message).toContain(`options.${option}`);
    }
  });
});
