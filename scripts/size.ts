/**
 * Size budget (`npm run size`): bundle each browser entry with esbuild (minified, ESM, browser
 * platform), print min and min+gzip sizes and what dominates, and exit non-zero when the full
 * browser client (the `.` entry, lib/index.ts: archive, vault client, trust, storage, client
 * facade) is over the budget. The libsodium engine (opt-in, `e2ee-backup/engines/libsodium`,
 * and the workers' dynamic `import('libsodium-wrappers')`) and server code are excluded: they
 * are not in what an app downloads by default.
 *
 * A browser bundle must not contain a Node built-in: the build fails on any `node:` import
 * (platform 'browser' cannot resolve one), and the output is checked for the specifier too.
 *
 * Flags: --json (machine-readable), --budget=KB (gzipped, default 60).
 */
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { build, type Metafile } from 'esbuild';

const KB = 1000;
const args = new Set(process.argv.slice(2));
const budgetArg = [...args].find((a) => a.startsWith('--budget='));
const BUDGET = (budgetArg ? Number(budgetArg.slice('--budget='.length)) : 60) * KB;
const root = fileURLToPath(new URL('..', import.meta.url));
const here = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));

interface Entry {
  readonly name: string;
  readonly file: string;
  /** Whether the budget applies. */
  readonly budgeted: boolean;
  readonly note: string;
  /** Extra packages left out (for the what-if lines only). */
  readonly without?: string[];
}

const ENTRIES: Entry[] = [
  { name: '.', file: here('lib/index.ts'), budgeted: true, note: 'full browser client (package entry)' },
  {
    name: '. w/o opaque-ts',
    file: here('lib/index.ts'),
    budgeted: false,
    note: 'what-if: the same entry with @cloudflare/opaque-ts (and its voprf-ts + sjcl) left out',
    without: ['@cloudflare/opaque-ts'],
  },
  { name: 'worker script', file: here('lib/archive/engines/chacha-worker.ts'), budgeted: false, note: 'chacha-worker.js, fetched only when a worker pool starts' },
  { name: 'archive only', file: here('lib/archive/index.ts'), budgeted: false, note: 'for scale: the archive format + engines seam' },
];

interface Result {
  readonly name: string;
  readonly min: number;
  readonly gzip: number;
  readonly budgeted: boolean;
  readonly note: string;
  readonly top: { readonly module: string; readonly bytes: number }[];
}

/** Group a metafile input path: a package name under node_modules, else the lib/ folder. */
function group(path: string): string {
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const rel = relative(root, path);
  const parts = rel.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}/` : rel;
}

async function measure(e: Entry): Promise<Result> {
  const out = await build({
    entryPoints: [e.file],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    treeShaking: true,
    // Opt-in WASM engine: only reachable through dynamic import(); never in the default download.
    external: ['libsodium-wrappers', ...(e.without ?? [])],
    logLevel: 'silent',
  });
  const text = out.outputFiles[0]!.text;
  // A static or dynamic import of a built-in (process.getBuiltinModule('node:crypto') is a string, and fine).
  if (/(from\s*|import\s*\(\s*|require\s*\(\s*|import\s*)["']node:/.test(text)) throw new Error(`${e.name}: the browser bundle references a node: built-in`);
  const bytes = out.outputFiles[0]!.contents;
  const meta: Metafile = out.metafile;
  const byGroup = new Map<string, number>();
  for (const o of Object.values(meta.outputs)) {
    for (const [path, info] of Object.entries(o.inputs)) {
      const g = group(path);
      byGroup.set(g, (byGroup.get(g) ?? 0) + info.bytesInOutput);
    }
  }
  const top = [...byGroup.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([module, n]) => ({ module, bytes: n }));
  return { name: e.name, min: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, budgeted: e.budgeted, note: e.note, top };
}

const results: Result[] = [];
for (const e of ENTRIES) results.push(await measure(e));

if (args.has('--json')) {
  console.log(JSON.stringify({ budget: BUDGET, results }, null, 2));
} else {
  const kb = (n: number): string => `${(n / KB).toFixed(1)} KB`;
  for (const r of results) {
    console.log(`${r.name.padEnd(16)} min ${kb(r.min).padStart(9)}   min+gzip ${kb(r.gzip).padStart(8)}   ${r.note}`);
    console.log(`${''.padEnd(16)} largest (minified, before gzip): ${r.top.map((t) => `${t.module} ${kb(t.bytes)}`).join(', ')}`);
  }
}
const over = results.filter((r) => r.budgeted && r.gzip > BUDGET);
for (const r of over) console.error(`size budget exceeded: '${r.name}' is ${(r.gzip / KB).toFixed(1)} KB gzipped, budget ${(BUDGET / KB).toFixed(0)} KB`);
if (over.length === 0) console.log(`size budget ok: '.' within ${(BUDGET / KB).toFixed(0)} KB gzipped`);
process.exitCode = over.length > 0 ? 1 : 0;
