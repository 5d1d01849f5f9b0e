// Everything the app needs to know about e2ee-backup: one client per signed-in user.
import {
  createBackupClient,
  createIndexedDbStore,
  createVaultClient,
  pinnedFleets,
  type BackupClient,
} from 'e2ee-backup';
import { createS3BlobStore, type BlobOp } from 'e2ee-backup/stores';
import { deviceCacheSupport } from 'e2ee-backup/keys';
import { createWorkerEngine } from 'e2ee-backup/workers';
// The fleet's public configuration, shipped in the build (src/fleet.json from the fleet operator).
import fleet from './fleet.json' with { type: 'json' };

/** The two calls the app backend answers (server/main.ts). */
export interface BackupApi {
  vaultToken(): Promise<string>;
  presign(op: BlobOp): Promise<string>;
}

const fromHex = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));

export interface Backups {
  readonly client: BackupClient;
  /** Sign-out: wipe the keys in memory and stop the cipher workers. */
  close(): void;
}

export function createBackups(userId: string, api: BackupApi): Backups {
  const trust = pinnedFleets([{ fleetId: fleet.fleetId, suite: fleet.suite, publicKey: fromHex(fleet.publicKey) }]);
  const vault = createVaultClient({
    fleetId: fleet.fleetId,
    accountId: userId,
    baseUrl: '/vault', // relative: resolved against the page
    fetch: (r) => fetch(r),
    getToken: () => api.vaultToken(),
    trust,
  });
  const store = createS3BlobStore({ fetch: (r) => fetch(r), presign: (op) => api.presign(op) });
  // Encryption and decryption in two Web Workers, off the page's main thread.
  const engine = createWorkerEngine({ workers: 2 });
  const client = createBackupClient({
    accountId: userId,
    keyPrefix: `users/${userId}/`, // the backend signs only this user's keys
    vault,
    store,
    trust,
    storage: createIndexedDbStore(),
    deviceCache: deviceCacheSupport(), // later backups on this device need no code
    engine,
  });
  return {
    client,
    close() {
      client.close();
      engine.terminate();
    },
  };
}
