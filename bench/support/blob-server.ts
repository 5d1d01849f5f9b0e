// The reference blob server for the benches, in a child process of its own (blob-server-main.ts),
// as a real one would run: its CPU work (hashing, copying hundreds of MiB) must not steal the
// client's thread and blur what a bench compares. The parent gets the URL, a presigned-HTTP blob
// store wired to it, and the child's CPU time.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createBlobPresigner } from '../../lib/server/blob-store.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import type { BlobStore } from '../../lib/storage/blob/types.js';
import { secureRandom, toHex } from '../../lib/util/bytes.js';

const MiB = 1 << 20;

/** The limits a bench of `size` plaintext bytes needs (an archive and a spare copy in flight). */
export function benchBlobLimits(size: number): { maxObjectSize: number; maxTotalBytes: number } {
  return { maxObjectSize: 2 * size + MiB, maxTotalBytes: 4 * size };
}

/** The presigned-HTTP blob store a bench client uses against the server at `baseUrl`. */
export function benchBlobStore(baseUrl: string, signingKey: Uint8Array, size: number): BlobStore {
  const presigner = createBlobPresigner({ baseUrl, signingKey });
  return createHttpBlobStore({
    fetch: (r) => fetch(r),
    presign: async (op) => presigner.http(op),
    limits: { maxObjectSize: benchBlobLimits(size).maxObjectSize },
    timeoutMs: 120_000,
  });
}

export interface BenchBlobServer {
  /** The server's origin, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** A blob store for the client: the real presigned-HTTP adapter, talking to the child. */
  readonly store: BlobStore;
  /** The presigning key (a browser page presigns its own URLs with it). */
  readonly signingKey: Uint8Array;
  /** The child's CPU time so far in ms (Linux /proc; utime + stime in clock ticks, assumed 100 Hz), or undefined where unreadable. */
  cpuMs(): number | undefined;
  /** Ends the child (it closes its server when its stdin ends). */
  close(): void;
}

/**
 * Starts the reference blob server in a child process, sized for `size` plaintext bytes, with a
 * fresh signing key; `corsOrigin` lets a page on that origin call it.
 */
export async function startBlobServer(size: number, corsOrigin?: string): Promise<BenchBlobServer> {
  const signingKey = secureRandom(32);
  const { maxObjectSize, maxTotalBytes } = benchBlobLimits(size);
  // The same node and flags as this process (tsx's loader among them), so the child runs TypeScript too.
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL('./blob-server-main.ts', import.meta.url))], {
    env: { ...process.env, BENCH_SIGNING_KEY: toHex(signingKey), BENCH_MAX_OBJECT_SIZE: String(maxObjectSize), BENCH_MAX_TOTAL_BYTES: String(maxTotalBytes), BENCH_CORS_ORIGIN: corsOrigin ?? '' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.trim());
    });
    child.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return {
    url,
    store: benchBlobStore(url, signingKey, size),
    signingKey,
    cpuMs() {
      try {
        const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
        return (Number(fields[11]) + Number(fields[12])) * 10;
      } catch {
        return undefined;
      }
    },
    close() {
      child.stdin!.end();
    },
  };
}
