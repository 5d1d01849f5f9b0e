// The demo's Vite config. `npm run demo` serves demo/ on 127.0.0.1 with the whole fleet (vault,
// blob store, witness log, fake app backend, operator endpoints) mounted as middleware under
// /api: one process, nothing else to start, nothing listening beyond loopback.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { createDemoFleet, type DemoFleet } from './fleet.js';

const root = fileURLToPath(new URL('.', import.meta.url));

function toRequest(req: IncomingMessage, origin: string): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else if (v !== undefined) headers.set(k, v);
  }
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const init: RequestInit & { duplex?: 'half' } = { method, headers };
  if (hasBody) {
    init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
    init.duplex = 'half';
  }
  return new Request(new URL((req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/', origin), init);
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

/**
 * Mounts the demo fleet on the dev server under /api. Not on `vite preview`: the static build runs
 * the fleet inside the page, and preview shows exactly that.
 */
export function demoFleetPlugin(): Plugin {
  let fleet: Promise<DemoFleet> | undefined;
  const mount = (middlewares: { use(fn: (req: IncomingMessage, res: ServerResponse, next: () => void) => void): void }, host: () => string) => {
    middlewares.use((req, res, next) => {
      const url = req.url ?? '/';
      if (!url.startsWith('/api/')) return next();
      fleet ??= createDemoFleet({ mode: 'server' });
      void (async () => {
        try {
          const f = await fleet;
          await writeResponse(res, await f.handle(toRequest(req, `http://${req.headers.host ?? host()}`)));
        } catch {
          if (!res.headersSent) res.writeHead(500);
          res.end();
        }
      })();
    });
  };
  return {
    name: 'e2ee-backup-demo-fleet',
    configureServer(server) {
      fleet ??= createDemoFleet({ mode: 'server' });
      mount(server.middlewares, () => '127.0.0.1');
    },
  };
}

export default defineConfig({
  root,
  base: './',
  plugins: [demoFleetPlugin()],
  server: { host: '127.0.0.1', port: 5173, strictPort: false },
  preview: { host: '127.0.0.1' },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  // ES-module workers keep the cipher worker's optional libsodium import a separate chunk.
  worker: { format: 'es' },
  clearScreen: false,
});
