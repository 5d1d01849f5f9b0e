// A browser test's page: an entry bundled from source by esbuild (ES modules, optionally split into
// chunks), served on 127.0.0.1 with the same-origin error capture (test/support/browsers.ts), and
// anything else the test answers itself (a vault, a blob store, an app backend's endpoints).
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { serveHandler, type ServedHandler } from '../../lib/server/index.js';
import { ERROR_CAPTURE_JS, ERROR_CAPTURE_PATH, testPageHtml } from './browsers.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Bundles `source` (TypeScript, imports relative to the repository root) into /page.js and its chunks. */
export async function bundlePage(source: string, options: { readonly splitting?: boolean; readonly name?: string } = {}): Promise<Map<string, string>> {
  const r = await build({
    stdin: { contents: source, resolveDir: ROOT, loader: 'ts', sourcefile: options.name ?? 'page.ts' },
    bundle: true,
    splitting: options.splitting ?? false,
    outdir: 'out',
    entryNames: 'page',
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'error',
  });
  const files = new Map(r.outputFiles.map((f) => [`/${f.path.split('/').pop()!}`, f.text]));
  // The cipher worker beside the page, where the SDK's worker pool looks for it
  // (`new URL('./chacha-worker.js', import.meta.url)`), as an app's bundler would emit it: browser
  // clients restore in workers by default.
  files.set('/chacha-worker.js', await (workerScript ??= bundleWorker()));
  return files;
}

let workerScript: Promise<string> | undefined;

async function bundleWorker(): Promise<string> {
  const r = await build({
    entryPoints: [fileURLToPath(new URL('../../lib/archive/engines/chacha-worker.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'error',
  });
  return r.outputFiles[0]!.text;
}

export interface ServePageOptions {
  /** Files by path ('/page.js', its chunks); '/' serves a page that loads the error capture and /page.js. */
  readonly files: ReadonlyMap<string, string>;
  /** Answers what is not a file (undefined: 404). */
  readonly handle?: (request: Request) => Promise<Response | undefined>;
  /** Called with each file path served. */
  readonly onFile?: (path: string) => void;
}

/** Serves the page on 127.0.0.1. */
export function servePage(options: ServePageOptions): Promise<ServedHandler> {
  return serveHandler(async (req) => {
    const path = new URL(req.url).pathname;
    if (path === '/' && req.method === 'GET') {
      return new Response(testPageHtml('<script type="module" src="/page.js"></script>'), { headers: { 'content-type': 'text/html; charset=utf-8' } });
    }
    if (path === ERROR_CAPTURE_PATH) return new Response(ERROR_CAPTURE_JS, { headers: { 'content-type': 'text/javascript' } });
    const js = options.files.get(path);
    if (js !== undefined) {
      options.onFile?.(path);
      return new Response(js, { headers: { 'content-type': 'text/javascript' } });
    }
    return (await options.handle?.(req)) ?? new Response('not found', { status: 404 });
  });
}
