/**
 * `e2ee-backup/testing`: an in-process fleet for an app's own unit tests.
 *
 * {@link createTestFleet} starts the reference vault, the reference blob server and a witness log
 * (with freshly generated keys) as fetch-style handlers in memory, and
 * {@link TestFleet.createClient} wires a real {@link BackupClient} to them, so an app's vitest or
 * jest suite runs enable → backup → restore in milliseconds with no server to start.
 *
 * Why a separate entry: the fleet's OPAQUE suite uses the identity key-stretching function
 * (RFC 9807 §2.3, "Identity"), which does NO password stretching. It makes an enrollment cost
 * milliseconds instead of Argon2id's hundreds, and must never reach production. It is selectable
 * only here: the main entry cannot build an identity-KSF suite, and the suite id it produces
 * (`rfc9807/ristretto255-SHA512/identity-INSECURE`) is refused by any vault configured with a
 * production suite, since the suite id is bound into every vault message (docs/PROTOCOL.md).
 *
 * Everything else is the production code path: the real client, the real vault logic, the real
 * presigned-HTTP blob adapter and server, real AEAD. Only the network is replaced by direct calls.
 *
 * @packageDocumentation
 */
import { createBackupClient, type BackupClient, type BackupClientOptions } from '../client.js';
import { pinnedFleets, type FleetTrust } from '../recovery/fleet-trust.js';
import { Rfc9807Suite } from '../recovery/opaque/rfc9807.js';
import { INSECURE_IDENTITY_KSF_9807 } from '../recovery/opaque/rfc9807-ksf.js';
import { createVaultClient } from '../recovery/vault-client.js';
import { createBlobPresigner, createBlobStoreHandler } from '../server/blob-store.js';
import { createMemoryVaultStore } from '../server/stores/memory.js';
import { createVaultHandler, generateVaultSetup } from '../server/vault.js';
import { createWitnessHandler, createWitnessLog, type WitnessLog } from '../server/witness.js';
import { createHttpBlobStore } from '../storage/blob/http.js';
import { createMemoryBlobStore } from '../storage/blob/memory.js';
import type { BlobStore } from '../storage/blob/types.js';
import { createMemoryStore, type KeyValueStore } from '../storage/kv.js';
import { ed25519PublicKey } from '../trust/ed25519.js';
import { secureRandom, type RandomSource } from '../util/bytes.js';

/** Host names the in-process fleet answers on (never resolved: requests never leave the process). */
const VAULT_ORIGIN = 'http://vault.testing.invalid';
const BLOB_ORIGIN = 'http://blobs.testing.invalid';
const WITNESS_ORIGIN = 'http://witness.testing.invalid';

/** Token format of the fake app backend: `test-token:<accountId>`. */
const TOKEN_PREFIX = 'test-token:';

/** Options of {@link createTestFleet}. */
export interface TestFleetOptions {
  /** Fleet id [`test-fleet`]. */
  readonly fleetId?: string;
  /** Wrong recovery codes allowed before the vault locks the account [10]. */
  readonly guessLimit?: number;
  /** Randomness for the generated keys [WebCrypto]. */
  readonly random?: RandomSource;
  /** Clock in ms since the epoch, used by the vault, the blob URLs and the witness [Date.now]. */
  readonly now?: () => number;
}

/** Options of {@link TestFleet.createClient}: any {@link BackupClientOptions} except the wiring. */
export type TestClientOptions = Partial<Omit<BackupClientOptions, 'accountId' | 'vault' | 'store' | 'trust'>> & {
  /** The account the client acts for. */
  readonly accountId: string;
};

/**
 * A vault, a blob server and a witness log running in memory, with generated keys (created by
 * {@link createTestFleet}).
 *
 * @example
 * ```ts
 * // Tamper with storage: the largest object is the archive; a restore must refuse it.
 * const entries = await fleet.storage.list('');
 * const archive = entries.reduce((a, b) => (b.size > a.size ? b : a));
 * const bytes = Uint8Array.from(await fleet.storage.get(archive.key));
 * bytes[bytes.length - 5]! ^= 1;
 * await fleet.storage.put(archive.key, bytes);
 * ```
 */
export interface TestFleet {
  /** The fleet id clients are configured with. */
  readonly fleetId: string;
  /** Fleet trust pinning this fleet's vault key (what a client checks before sending a code). */
  readonly trust: FleetTrust;
  /**
   * Routes a request to the vault, blob or witness handler by origin: what the SDK's `fetch`
   * options receive. Requests to any other origin get a 404, so a test cannot reach the network.
   */
  readonly fetch: (request: Request) => Promise<Response>;
  /**
   * The blob server's backing store: read it to inspect what was uploaded (ciphertext only),
   * or write to it to simulate tampering in storage.
   */
  readonly storage: BlobStore;
  /** The witness log (bundle publication and its Merkle proofs); its key was generated here. */
  readonly witness: WitnessLog;
  /** The witness log's Ed25519 public key. */
  readonly witnessPublicKey: Uint8Array;
  /** Origins the handlers answer on (for apps that build their own clients). */
  readonly origins: {
    /** Origin of the vault (a client's `baseUrl`). */
    readonly vault: string;
    /** Origin of the blob server (what the presigner signs URLs for). */
    readonly blobs: string;
    /** Origin of the witness log's HTTP routes. */
    readonly witness: string;
  };
  /** A bearer token the vault accepts for `accountId` (the fake app backend). */
  tokenFor(accountId: string): string;
  /**
   * A backup client wired to this fleet: device storage in memory unless `storage` is given
   * (e.g. `createIndexedDbStore()` under fake-indexeddb), small chunks and parts so a test of a
   * few KB still crosses chunk and part boundaries.
   */
  createClient(options: TestClientOptions): BackupClient;
}

/**
 * Start an in-process fleet for tests. Resolves in tens of milliseconds.
 *
 * @example
 * ```ts
 * import { createTestFleet } from 'e2ee-backup/testing';
 *
 * const fleet = await createTestFleet();
 * const phone = fleet.createClient({ accountId: 'alice' });
 * const { recoveryCode } = await phone.enable();
 * await phone.backup(new TextEncoder().encode('hello')); // bytes: jsdom's Blob has no stream()
 *
 * const laptop = fleet.createClient({ accountId: 'alice' }); // a new device, empty storage
 * const restored = await laptop.restore({ recoveryCode });
 * ```
 */
export async function createTestFleet(options: TestFleetOptions = {}): Promise<TestFleet> {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const fleetId = options.fleetId ?? 'test-fleet';
  if (typeof fleetId !== 'string' || fleetId.length === 0) throw new TypeError('options.fleetId must be a non-empty string');
  const random = options.random ?? secureRandom;
  const now = options.now ?? Date.now;
  const clock = { now };

  // The default RFC 9807 group (ristretto255-SHA512) with the identity KSF: no stretching.
  const suite = new Rfc9807Suite('ristretto255-SHA512', INSECURE_IDENTITY_KSF_9807);
  const { setup, publicKey } = await generateVaultSetup(suite);
  const trust = pinnedFleets([{ fleetId, suite: suite.id, publicKey }]);
  const vault = createVaultHandler({
    fleetId,
    setup,
    store: createMemoryVaultStore(),
    suite,
    random,
    ...clock,
    ...(options.guessLimit === undefined ? {} : { guessLimit: options.guessLimit }),
    verifyToken: async (token) => (token.startsWith(TOKEN_PREFIX) && token.length > TOKEN_PREFIX.length ? token.slice(TOKEN_PREFIX.length) : undefined),
  });

  // minPartSize 1: S3's 5 MiB minimum would turn every small test backup into a single part.
  const storage = createMemoryBlobStore({ limits: { minPartSize: 1 } });
  const signingKey = random(32);
  const blobs = createBlobStoreHandler({ store: storage, signingKey, ...clock });
  const presigner = createBlobPresigner({ baseUrl: BLOB_ORIGIN, signingKey, ...clock });

  const witnessSecret = random(32);
  const witness = createWitnessLog({ origin: fleetId, namespace: fleetId, signer: { name: `${fleetId}/witness`, secretKey: witnessSecret }, ...clock });
  const witnessHandler = createWitnessHandler(witness);
  const witnessPublicKey = ed25519PublicKey(witnessSecret);

  const fetch = async (request: Request): Promise<Response> => {
    const origin = new URL(request.url).origin;
    if (origin === VAULT_ORIGIN) return vault(request);
    if (origin === BLOB_ORIGIN) return blobs(request);
    if (origin === WITNESS_ORIGIN) return witnessHandler(request);
    return new Response(null, { status: 404 });
  };
  const tokenFor = (accountId: string): string => {
    if (typeof accountId !== 'string' || accountId.length === 0) throw new TypeError('accountId must be a non-empty string');
    return TOKEN_PREFIX + accountId;
  };
  const noWait = async (_ms: number, signal?: AbortSignal): Promise<void> => {
    // A macrotask, not a microtask: waiters (locks, retries) must let other work run.
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (signal?.aborted === true) throw signal.reason;
  };

  return {
    fleetId,
    trust,
    fetch,
    storage,
    witness,
    witnessPublicKey,
    origins: { vault: VAULT_ORIGIN, blobs: BLOB_ORIGIN, witness: WITNESS_ORIGIN },
    tokenFor,
    createClient(clientOptions: TestClientOptions): BackupClient {
      if (typeof clientOptions !== 'object' || clientOptions === null) throw new TypeError('options must be an object');
      const { accountId } = clientOptions;
      const token = tokenFor(accountId);
      const vaultClient = createVaultClient({
        fleetId,
        accountId,
        baseUrl: VAULT_ORIGIN,
        fetch,
        getToken: async () => token,
        trust,
        suite,
        random,
        sleep: noWait,
      });
      const store = createHttpBlobStore({
        fetch,
        limits: { minPartSize: 1 },
        sleep: noWait,
        presign: async (op) => presigner.http(op),
      });
      const storageOption: KeyValueStore = clientOptions.storage ?? createMemoryStore();
      return createBackupClient({
        chunkSize: 1024,
        partSize: 4 * 1024,
        sleep: noWait,
        random,
        now,
        ...clientOptions,
        accountId,
        vault: vaultClient,
        store,
        trust,
        storage: storageOption,
      });
    },
  };
}

