// One backup as the benches make it: the client's real backup path (session, part hashes,
// manifest, latest pointer) without the vault, the keyring made locally.
import type { CipherEngine } from '../../lib/archive/engine.js';
import { runBackup } from '../../lib/client/backup.js';
import { timerSleep } from '../../lib/client/lock.js';
import type { BackupManifest } from '../../lib/client/manifest.js';
import { keyForId, type Keyring } from '../../lib/recovery/keyring.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { secureRandom } from '../../lib/util/bytes.js';

/** Backs `source` up to `store` under the key prefix `bench/` (account `bench`); the manifest it wrote. */
export async function benchBackup(opts: {
  store: BlobStore;
  keyring: Keyring;
  engine: CipherEngine;
  source: Uint8Array;
  chunkSize: number;
  partSize: number;
  concurrency: number;
}): Promise<BackupManifest> {
  const { keyring } = opts;
  const { manifest } = await runBackup({
    accountId: 'bench',
    blobs: opts.store,
    kv: createMemoryStore(),
    keyPrefix: 'bench/',
    key: keyring.current,
    keyLookup: (id) => keyForId(keyring, id),
    source: opts.source,
    chunkSize: opts.chunkSize,
    partSize: opts.partSize,
    concurrency: opts.concurrency,
    engine: opts.engine,
    now: Date.now,
    random: secureRandom,
    sleep: timerSleep,
  });
  return manifest;
}
