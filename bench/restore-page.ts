// The Chromium side of bench/restore.ts --browser: opens the backup from the page's origin (the
// reference blob store, presigned in the page with the bench's throwaway signing key) and times the
// same three restore strategies as the Node run. Bundled by bench/restore.ts with esbuild.
import { sha256 } from '@noble/hashes/sha2.js';
import { openBackup, type OpenedBackup } from '../lib/client/restore.js';
import { createBlobPresigner } from '../lib/server/blob-store.js';
import { createHttpBlobStore } from '../lib/storage/blob/http.js';
import { equalBytes, fromHex, toHex } from '../lib/util/bytes.js';

const MiB = 1 << 20;

export interface RestorePageConfig {
  readonly signingKeyHex: string;
  readonly keyHex: string;
  readonly keyIdHex: string;
  readonly backupIdHex: string;
  readonly rounds: number;
  /** An extra strategy `alt`: window MiB and readAhead. */
  readonly alt?: readonly [number, number];
}

export interface RestorePageResult {
  readonly engine: string;
  readonly size: number;
  readonly sha256: string;
  readonly times: Record<string, number[]>;
}

async function count(stream: ReadableStream<Uint8Array>, hash?: ReturnType<typeof sha256.create>): Promise<number> {
  const reader = stream.getReader();
  let n = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) return n;
    hash?.update(r.value);
    n += r.value.length;
  }
}

async function runRestore(cfg: RestorePageConfig): Promise<RestorePageResult> {
  const presigner = createBlobPresigner({ baseUrl: location.origin, signingKey: fromHex(cfg.signingKeyHex) });
  const store = createHttpBlobStore({ fetch: (r) => fetch(r), presign: async (op) => presigner.http(op), timeoutMs: 120_000 });
  const key = fromHex(cfg.keyHex);
  const keyId = fromHex(cfg.keyIdHex);
  const opened = await openBackup(
    { accountId: 'bench', blobs: store, keyPrefix: 'bench/', keyLookup: (id) => (equalBytes(id, keyId) ? key : undefined) },
    cfg.backupIdHex,
  );
  const size = opened.plaintextSize;
  // Untimed: the default stream's bytes, hashed, for the Node side to compare with the source.
  const hash = sha256.create();
  if ((await count(opened.stream(), hash)) !== size) throw new Error('short restore');
  const strategies: Record<string, (o: OpenedBackup) => Promise<number>> = {
    previous: async (o) => {
      let n = 0;
      for (let off = 0; off < size; off += MiB) n += (await o.read(off, Math.min(MiB, size - off))).length;
      return n;
    },
    'w1M-d1': (o) => count(o.stream({ windowSize: MiB, readAhead: 1 })),
    default: (o) => count(o.stream()),
    ...(cfg.alt === undefined ? {} : { alt: (o: OpenedBackup) => count(o.stream({ windowSize: cfg.alt![0] * MiB, readAhead: cfg.alt![1] })) }),
  };
  const names = Object.keys(strategies);
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, [] as number[]]));
  for (let round = 0; round < cfg.rounds; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const t0 = performance.now();
      if ((await strategies[name]!(opened)) !== size) throw new Error(`${name}: short restore`);
      times[name]!.push(performance.now() - t0);
    }
  }
  opened.close();
  return { engine: 'default (browser)', size, sha256: toHex(hash.digest()), times };
}

Object.assign(globalThis, { restoreBench: { runRestore } });
