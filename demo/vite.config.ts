// The demo's Vite config. `npm run demo` serves demo/ on 127.0.0.1 with the whole fleet (vault,
// blob store, witness log, fake app backend, operator endpoints) mounted as middleware under
// /api: one process, nothing else to start, nothing listening beyond loopback.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { toNodeListener } from '../lib/server/index.js';
import { createDemoFleet, type DemoFleet } from './fleet.js';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Mounts the demo fleet on the dev server under /api. Not on `vite preview`: the static build runs
 * the fleet inside the page, and preview shows exactly that.
 */
export function demoFleetPlugin(): Plugin {
  let fleet: Promise<DemoFleet> | undefined;
  const mount = (middlewares: { use(fn: (req: IncomingMessage, res: ServerResponse, next: () => void) => void): void }) => {
    const listener = toNodeListener(async (request) => {
      fleet ??= createDemoFleet({ mode: 'server' });
      return (await fleet).handle(request);
    });
    middlewares.use((req, res, next) => {
      if (!(req.url ?? '/').startsWith('/api/')) return next();
      listener(req, res);
    });
  };
  return {
    name: 'e2ee-backup-demo-fleet',
    configureServer(server) {
      fleet ??= createDemoFleet({ mode: 'server' });
      mount(server.middlewares);
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
