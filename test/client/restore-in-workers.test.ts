/**
 * Restore windows read and opened in the worker pool (issue 20): where the store gives its ranged
 * GETs as requests (the presigned adapters in browsers) and the engine is a pool, each window is
 * fetched, opened and compacted in a worker, and the page gets plaintext by transfer. Run here on
 * worker_threads against the reference blob server on a real socket (a worker cannot reach an
 * in-process handler). What must hold: the same plaintext; a flipped byte, two chunks swapped,
 * and a short window each end the restore with ARCHIVE_AUTH_FAILED, nothing after them released;
 * a server that ignores Range (or anything but a window) is read the ordinary way.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerEngine, type WorkerEngine } from '../../lib/archive/engines/workers.js';
import { isBackupError } from '../../lib/errors.js';
import { createBlobPresigner, createBlobStoreHandler, toNodeListener } from '../../lib/server/index.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { createMemoryBlobStore } from '../../lib/storage/blob/memory.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { equalBytes } from '../../lib/util/bytes.js';
import { nodeWorkerFactory } from '../archive/engines-support.js';
import { makeClient, makeVault, noSleep, readAll, readUntilError, testBytes } from './harness.js';

const CHUNK = 4096;
const vault = makeVault();
let seq = 0;
let factory: Awaited<ReturnType<typeof nodeWorkerFactory>>;
let pool: WorkerEngine;
let server: Server;
let origin: string;
const backing = createMemoryBlobStore({ limits: { minPartSize: 1 } });
const signingKey = new Uint8Array(32).fill(9);
const handler = createBlobStoreHandler({ store: backing, signingKey });
/**
 * How the server answers a restore window's GET (a range of more than two chunks of an archive): as
 * asked; 503 to the first request of each range (the worker's), as asked to the retry; or one
 * chunk short.
 */
let ranged: 'honest' | 'busy' | 'short' = 'honest';
const asked = new Set<string>();
/** What each window read in a worker gave: plaintext, a failed tag, or "read it another way". */
const outcomes: string[] = [];

beforeAll(async () => {
  factory = await nodeWorkerFactory();
  pool = createWorkerEngine({ createWorker: factory.make, workers: 2 });
  const p = pool as unknown as { fetchOpen: (...a: unknown[]) => Promise<Uint8Array | false | undefined> };
  const fetchOpen = p.fetchOpen.bind(pool);
  p.fetchOpen = async (...a) => {
    const r = await fetchOpen(...a);
    outcomes.push(r === false ? 'auth' : r === undefined ? 'another way' : 'plain');
    return r;
  };
  const listener = toNodeListener(async (req) => {
    const range = req.headers.get('range');
    const [a, b] = (range ?? 'bytes=0-0').slice(6).split('-').map(Number) as [number, number];
    if (req.method === 'GET' && b - a + 1 > 2 * (CHUNK + 16) && ranged !== 'honest') {
      if (ranged === 'busy') {
        if (!asked.has(range!)) {
          asked.add(range!);
          return new Response('busy', { status: 503, headers: { 'access-control-allow-origin': '*' } });
        }
        return handler(req);
      }
      const headers = new Headers(req.headers);
      headers.delete('range');
      const whole = await handler(new Request(req.url, { headers }));
      const body = new Uint8Array(await whole.arrayBuffer()).slice(a, b + 1 - (CHUNK + 16));
      return new Response(body, { status: 206, headers: { 'content-range': `bytes ${a}-${a + body.length - 1}/*`, 'access-control-allow-origin': '*' } });
    }
    return handler(req);
  });
  server = createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  pool.terminate();
  factory.cleanup();
  server.close();
});

async function backedUp(n: number, seed: number) {
  const presigner = createBlobPresigner({ baseUrl: origin, signingKey });
  const store = createHttpBlobStore({
    fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init),
    presign: async (op) => presigner.http(op),
    limits: { minPartSize: 1 },
    timeoutMs: 5000,
    sleep: noSleep,
    retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 2 },
    bodies: 'blob',
  });
  const client = makeClient(vault, store, createMemoryStore(), { accountId: `rw${++seq}`, engine: pool, chunkSize: CHUNK, partSize: 16 * (CHUNK + 16) });
  await client.enable();
  const data = testBytes(n, seed);
  const { backupId } = await client.backup(data);
  return { client, data, key: `archives/${backupId}` };
}

const sealedAt = (headerLength: number, i: number) => headerLength + i * (CHUNK + 16);
const headerOf = (archive: Uint8Array, n: number) => archive.length - (Math.ceil(n / CHUNK) * 16 + n);

describe('restore windows read and opened in the worker pool', () => {
  it('the same plaintext, every window from the workers', async () => {
    ranged = 'honest';
    const { client, data } = await backedUp(300_000, 1);
    outcomes.length = 0;
    const restored = await client.restore();
    expect(equalBytes(await readAll(restored.openStream({ windowSize: 8 * CHUNK })), data)).toBe(true);
    // 74 chunks in windows of 8: nine from the workers; the tenth, which ends with the final
    // chunk (openArchive's cache), the ordinary way.
    expect(outcomes.length).toBe(9);
    expect(outcomes.every((o) => o === 'plain')).toBe(true);
    client.close();
  });

  it.each([
    ['a byte flipped in chunk 45', (a: Uint8Array, h: number) => void (a[sealedAt(h, 45) + 7]! ^= 1)],
    [
      'chunks 44 and 45 swapped',
      (a: Uint8Array, h: number) => {
        const c44 = a.slice(sealedAt(h, 44), sealedAt(h, 45));
        a.copyWithin(sealedAt(h, 44), sealedAt(h, 45), sealedAt(h, 46));
        a.set(c44, sealedAt(h, 45));
      },
    ],
  ])('%s: ARCHIVE_AUTH_FAILED, the windows before it released intact, nothing from it or after', async (_name, tamper) => {
    ranged = 'honest';
    const { client, data, key } = await backedUp(300_000, 2);
    const bad = Uint8Array.from(await backing.get(key));
    tamper(bad, headerOf(bad, data.length));
    await backing.put(key, bad);
    outcomes.length = 0;
    const restored = await client.restore();
    const { chunks, error } = await readUntilError(restored.openStream({ windowSize: 8 * CHUNK, readAhead: 2 }).getReader());
    expect(isBackupError(error, 'ARCHIVE_AUTH_FAILED')).toBe(true);
    expect(outcomes).toContain('auth');
    let o = 0;
    for (const c of chunks) {
      expect(equalBytes(c, data.subarray(o, o + c.length))).toBe(true);
      o += c.length;
    }
    expect(o).toBe(40 * CHUNK);
    client.close();
  });

  it('a window the worker could not read (503): read the ordinary way (the adapter retries it), same plaintext', async () => {
    ranged = 'honest';
    const { client, data } = await backedUp(100_000, 3);
    ranged = 'busy';
    outcomes.length = 0;
    const restored = await client.restore();
    expect(equalBytes(await readAll(restored.openStream({ windowSize: 8 * CHUNK })), data)).toBe(true);
    expect(outcomes.length).toBeGreaterThan(0);
    expect(outcomes.every((o) => o === 'another way')).toBe(true);
    client.close();
  });

  it('windows one chunk short: read the ordinary way, which ends the restore with ARCHIVE_AUTH_FAILED', async () => {
    ranged = 'honest';
    const { client } = await backedUp(100_000, 4);
    ranged = 'short';
    outcomes.length = 0;
    const restored = await client.restore();
    const { chunks, error } = await readUntilError(restored.openStream({ windowSize: 8 * CHUNK }).getReader());
    expect(isBackupError(error, 'ARCHIVE_AUTH_FAILED')).toBe(true);
    expect(chunks).toEqual([]);
    expect(outcomes[0]).toBe('another way');
    ranged = 'honest';
    client.close();
  });
});
