// The child process of startBlobServer (blob-server.ts): the reference blob server over a memory
// store on 127.0.0.1. It prints its URL on one line of stdout and exits when its stdin ends. The
// signing key and the store's limits come in through the environment.
import { createBlobStoreHandler } from '../../lib/server/blob-store.js';
import { serveHandler } from '../../lib/server/index.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { fromHex } from '../../lib/util/bytes.js';

const backing = createMemoryBlobStore({
  limits: { maxObjectSize: Number(process.env.BENCH_MAX_OBJECT_SIZE) },
  maxTotalBytes: Number(process.env.BENCH_MAX_TOTAL_BYTES),
});
// BENCH_CORS_ORIGIN: a page on another origin (bench/browser/sdk.ts) may call it.
const corsOrigin = process.env.BENCH_CORS_ORIGIN;
const served = await serveHandler(
  createBlobStoreHandler({ store: backing, signingKey: fromHex(process.env.BENCH_SIGNING_KEY!), ...(corsOrigin ? { corsOrigin } : {}) }),
  { host: '127.0.0.1' },
);
process.stdout.write(served.url + '\n');
process.stdin.resume();
process.stdin.on('end', () => void served.close().then(() => process.exit(0)));
