/**
 * `e2ee-backup/server`: the Node entry with the reference servers (vault, stores, witness, blob
 * store) and {@link serveHandler}, which serves any fetch-style handler
 * `(Request) => Promise<Response>` over `node:http`, so the reference servers run unchanged
 * in-process (tests), inside the Vite dev server and as real HTTP services.
 *
 * These are references: production vaults run the vault logic inside HSMs with majority-consensus
 * replication, and object storage carries the scale (docs/PROTOCOL.md).
 *
 * @packageDocumentation
 */
export { createVaultHandler, generateVaultSetup } from './vault.js';
export type { FetchHandler, VaultHandler, VaultHandlerOptions, VaultSetup } from './vault.js';
export type { VaultStore, Versioned } from './vault-store.js';
export { createMemoryVaultStore } from './stores/memory.js';
export type { MemoryVaultStore } from './stores/memory.js';
export { createFileVaultStore } from './stores/file.js';
export type { FileVaultStoreOptions } from './stores/file.js';
export { createEtcdVaultStore, ETCD_MAX_KEY_BYTES, ETCD_MAX_VALUE_BYTES, type EtcdVaultStore, type EtcdVaultStoreOptions, type EtcdClientOptions } from './stores/etcd.js';
export { createBlobStoreHandler, createBlobPresigner } from './blob-store.js';
export type { BlobStoreHandlerOptions, BlobPresignerOptions, BlobPresigner } from './blob-store.js';
export { createWitnessLog, createWitnessHandler } from './witness.js';
export type { WitnessLog, WitnessLogEntry, WitnessLogOptions, WitnessLogState, WitnessHandlerOptions } from './witness.js';

// --- serveHandler: a fetch-style handler over node:http -------------------------------------
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Options of {@link serveHandler}. */
export interface ServeOptions {
  /** TCP port; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Interface to bind; `127.0.0.1` by default (loopback only). */
  readonly host?: string;
}

/** A running server. */
export interface ServedHandler {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** The bound port. */
  readonly port: number;
  /** Stop accepting connections and close idle ones. */
  close(): Promise<void>;
}

function toRequest(req: IncomingMessage, base: string): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else if (v !== undefined) headers.set(k, v);
  }
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  return new Request(new URL(req.url ?? '/', base), {
    method,
    headers,
    ...(hasBody ? { body: bodyStream(req), duplex: 'half' } : {}),
  } as RequestInit);
}

/** Bytes the request body stream buffers before pausing the socket. */
const BODY_HIGH_WATER = 1 << 20;

/**
 * The request body as a web stream, without the per-chunk copy `Readable.toWeb` makes: each chunk
 * is a view of the buffer the socket read into, which Node allocates per read and never reuses.
 * Backpressure pauses the socket; a connection that closes before the body ended errors the
 * stream, so a handler never mistakes a cut body for a whole one.
 */
function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        req.on('data', (d: Buffer) => {
          if (settled) return;
          c.enqueue(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
          if ((c.desiredSize ?? 0) <= 0) req.pause();
        });
        req.once('end', () => {
          if (settled) return;
          settled = true;
          c.close();
        });
        const fail = (e?: unknown) => {
          if (settled) return;
          settled = true;
          c.error(e ?? new Error('the request body was cut off'));
        };
        req.once('error', fail);
        req.once('close', () => {
          if (!req.complete) fail();
        });
      },
      pull() {
        if (req.isPaused()) req.resume();
      },
      cancel() {
        settled = true;
        // Drain what is left so the connection can be reused.
        req.resume();
      },
    },
    { highWaterMark: BODY_HIGH_WATER, size: (chunk) => chunk.byteLength },
  );
}

async function writeResponse(res: ServerResponse, r: Response): Promise<void> {
  const headers: Record<string, string[]> = {};
  r.headers.forEach((v, k) => {
    (headers[k] ??= []).push(v);
  });
  res.writeHead(r.status, headers);
  if (r.body === null) {
    res.end();
    return;
  }
  const reader = r.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!res.write(value)) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
}

/** Options of {@link toNodeListener}. */
export interface NodeListenerOptions {
  /** Origin the request paths are resolved against [`http://` and the request's `Host` header]. */
  readonly origin?: string;
}

/**
 * A `node:http` request listener (also a Connect/Express/Vite middleware that answers every
 * request it gets) for a fetch-style handler: the request body streams without a per-chunk copy
 * and with backpressure, the response streams back, and a handler that throws gives a bare 500
 * (nothing of the error reaches the client). {@link serveHandler} is this plus a listening server.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * const handler = createBlobStoreHandler({ store: createMemoryBlobStore(), signingKey });
 * createServer(toNodeListener(handler)).listen(8080, '127.0.0.1');
 * ```
 */
export function toNodeListener(
  handler: (request: Request) => Promise<Response>,
  options: NodeListenerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  if (typeof handler !== 'function') throw new TypeError('handler must be a function');
  return (req, res) => {
    void (async () => {
      try {
        const origin = options.origin ?? `http://${req.headers.host ?? '127.0.0.1'}`;
        await writeResponse(res, await handler(toRequest(req, origin)));
      } catch {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      }
    })();
  };
}

/**
 * Serve `handler` on `host:port` (loopback, a free port by default).
 *
 * @example
 * ```ts
 * const { setup, publicKey } = await generateVaultSetup();
 * const served = await serveHandler(
 *   createVaultHandler({ fleetId: 'fleet-1', setup, store: createMemoryVaultStore(), verifyToken: async (t) => sessions.get(t) }),
 *   { port: 0 },
 * );
 * const vault = createVaultClient({
 *   fleetId: 'fleet-1', accountId: 'alice', baseUrl: served.url, fetch: (r) => fetch(r), getToken: async () => token,
 *   trust: pinnedFleets([{ fleetId: 'fleet-1', suite: RFC9807_DEFAULT_SUITE_ID, publicKey }]),
 * });
 * // ... enroll and recover against it ...
 * await served.close();
 * ```
 */
export async function serveHandler(
  handler: (request: Request) => Promise<Response>,
  options: ServeOptions = {},
): Promise<ServedHandler> {
  if (typeof handler !== 'function') throw new TypeError('handler must be a function');
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('options.port must be 0..65535');
  const base = `http://${host.includes(':') ? `[${host}]` : host}`;
  const server = createServer(toNodeListener(handler, { origin: base }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `${base}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
