/**
 * Size budget (`npm run size`): bundle each browser entry with esbuild (minified, ESM, browser
 * platform, code splitting on), print min and min+gzip sizes and what dominates, and exit non-zero
 * when the full browser client (the `.` entry, lib/index.ts: client facade, vault client, pinned
 * keys, device storage, the archive it runs) is over the budget. The app entries import what an app
 * writes (`e2ee-backup`, `e2ee-backup/stores`, …, mapped to lib/ through package.json `exports`;
 * "app: quick start" reads README's quick start), and each other subpath is measured for scale.
 * docs/SIZE.md explains the figures.
 *
 * Two figures per entry:
 * - **initial**: the entry chunk and every chunk it imports statically: what an app downloads
 *   before any on-demand feature runs (information only);
 * - **full**: initial plus every chunk reached through a dynamic `import()` (the OPAQUE stack,
 *   loaded when the user enables backups, restores or changes the code): the whole client. Each
 *   chunk is gzipped on its own, as it is served. The budget applies to this figure, and to the
 *   same entry bundled as one file without splitting, whichever is larger.
 *
 * The libsodium engine (opt-in, `e2ee-backup/engines/libsodium`, and the workers' dynamic
 * `import('libsodium-wrappers')`) and server code are excluded: they are not part of the client an
 * app downloads by default.
 *
 * A browser bundle must not contain a Node built-in: the build fails on any `node:` import
 * (platform 'browser' cannot resolve one), and the output is checked for the specifier too. The
 * superseded opaque-ts suite (`e2ee-backup/opaque-ts`) must be absent from `.` altogether (its
 * default suite is RFC 9807 on @noble/curves), and, in an app that names it, stay out of the
 * initial chunks (the lazy boundary of lib/recovery/opaque/opaque-ts-lazy.ts). Opt-in capabilities
 * (incremental, the RFC 9807 extras, passkeys, the device cache, the worker pool) must put no byte
 * into `.`, and Node-only code (the default engine's Node selection, the Node engine) none into the
 * app entries, nor noble's VOPRF/POPRF module (OPAQUE runs our base-mode OPRF), noble's Argon2
 * (the KSF runs lib/recovery/argon2/) or the RFC 9807 vault side. A regression fails the run.
 *
 * Flags: --json (machine-readable), --budget=KB (gzipped, default 60).
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { build, type BuildOptions, type Metafile } from 'esbuild';

const KB = 1000;
const args = new Set(process.argv.slice(2));
const budgetArg = [...args].find((a) => a.startsWith('--budget='));
const BUDGET = (budgetArg ? Number(budgetArg.slice('--budget='.length)) : 60) * KB;
if (!Number.isFinite(BUDGET) || BUDGET <= 0) throw new RangeError('--budget must be a positive number of KB');
const root = fileURLToPath(new URL('..', import.meta.url));
const here = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));

interface Entry {
  readonly name: string;
  /** The entry file, or `contents`: a small app importing from the package's entries (`app()`). */
  readonly file?: string;
  readonly contents?: string;
  /** Whether the budget applies (to the full client). */
  readonly budgeted: boolean;
  readonly note: string;
  /** Extra packages left out (for the what-if lines only). */
  readonly without?: string[];
  /** Inputs that must not be in the initial chunks. */
  readonly lazyOnly?: RegExp[];
  /** Inputs that must not be in the bundle at all. */
  readonly absent?: RegExp[];
}

/** The superseded opaque-ts suite, loaded by `import()` on first use (lib/recovery/opaque/opaque-ts-lazy.ts). */
const OPAQUE_STACK = [/node_modules\/@cloudflare\//, /lib\/recovery\/opaque\/(opaque-ts|p256-noble)\.ts$/];

/** Opt-in capabilities an app reaches only through their own subpath (not even lazily from `.`): incremental backups (`incrementalSupport`), the RFC 9807 extras, passkeys (`passkeySupport`). */
const OPT_IN = [
  /lib\/incremental\/(repo|format|chunker|keys)\.ts$/,
  // The RFC 9807 P-256 group (noble's Weierstrass code) and scrypt: `e2ee-backup/rfc9807-extras`.
  /@noble\/curves\/abstract\/weierstrass\.js$/,
  /lib\/recovery\/opaque\/rfc9807-(p256|scrypt)\.ts$/,
  /@noble\/hashes\/scrypt\.js$/,
  // Passkeys (envelope format, ceremonies, flows; X25519): `e2ee-backup/passkeys`, passed in as `passkeySupport`.
  /lib\/recovery\/passkeys?(-webauthn)?\.ts$/,
  /@noble\/curves\/abstract\/montgomery\.js$/,
];

/**
 * The worker pool (lib/archive/engines/workers.ts), opt-in through `engine: createWorkerEngine()`
 * from `e2ee-backup/workers` (README's quick start passes one): without an engine, the client runs
 * the default engine on the main thread.
 */
const WORKER_POOL = [/lib\/archive\/engines\/workers\.ts$/];

/** The device cache (sealed keyring under a non-extractable key), opt-in through `deviceCache: deviceCacheSupport()` from `e2ee-backup/keys` (README's quick start opts in). */
const DEVICE_CACHE = [/lib\/storage\/device-cache\.ts$/];

/**
 * Node-only code, which browser bundles must not carry: the default engine's Node selection
 * (package.json "browser" maps lib/archive/engines/platform.ts to platform.browser.ts) and the Node
 * engine itself, which only that selection and the `createNodeEngine` export reach.
 */
const NODE_SELECTION = /lib\/archive\/engines\/platform\.ts$/;
const NODE_ONLY = [NODE_SELECTION, /lib\/archive\/engines\/node\.ts$/];

/**
 * Code no browser entry needs: noble's RFC 9497 module (VOPRF, POPRF, DLEQ proofs; OPAQUE runs our
 * base-mode OPRF, lib/recovery/opaque/rfc9497.ts), noble's Argon2 (the KSF runs ours,
 * lib/recovery/argon2/: WebAssembly with a JavaScript fallback; noble's is not kept as a second
 * fallback) and the vault side of the RFC 9807 suites (the
 * vault client runs rfc9807-client.ts; `rfc9807Suite()` from `e2ee-backup/protocol` has both).
 */
const UNUSED = [/@noble\/curves\/abstract\/oprf\.js$/, /lib\/recovery\/opaque\/rfc9807\.ts$/, /@noble\/hashes\/argon2\.js$/];

/** The package's subpaths as an app writes them, and the source file each maps to (package.json `exports`). */
const SUBPATHS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries((JSON.parse(readFileSync(here('package.json'), 'utf8')) as { exports: Record<string, string | { types: string }> }).exports)
    .filter((e): e is [string, { types: string }] => typeof e[1] !== 'string')
    .map(([sub, t]) => [sub === '.' ? 'e2ee-backup' : `e2ee-backup/${sub.slice(2)}`, `./${t.types.replace(/^\.\/dist\//, 'lib/').replace(/\.d\.ts$/, '.ts')}`]),
);

/**
 * What the front door leaves to other entries: their code must not be in `.` at all (README
 * §Package entries). The blob-store adapters (`e2ee-backup/stores`) and bundle trust
 * (`e2ee-backup/trust`: trust store, witness-log client, bundle codec, checkpoints, migration).
 */
const OTHER_ENTRIES = [/lib\/storage\/blob\/(s3|http|memory|xml)\.ts$/, /lib\/trust\/(trust-store|log-client|bundle|checkpoint|migrate)\.ts$/];

/** A tiny app that uses `names` from each entry (so unused exports are tree-shaken): `{ 'e2ee-backup': [...], 'e2ee-backup/stores': [...] }`. */
function app(imports: Readonly<Record<string, readonly string[]>>): string {
  const names = Object.values(imports).flat();
  const lines = Object.entries(imports).map(([spec, n]) => {
    const file = SUBPATHS[spec];
    if (file === undefined) throw new Error(`size: ${spec} is not an export of the package`);
    return `import { ${n.join(', ')} } from '${file}';`;
  });
  return `${lines.join('\n')}\nglobalThis.app = { ${names.join(', ')} };\n`;
}

/**
 * What README.md's quick start imports (its first ```ts block under "## Quick start"), read from
 * the README itself so the measured app is the one a reader copies.
 */
function quickStartImports(): Record<string, string[]> {
  const readme = readFileSync(here('README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('size: README.md has no ```ts block under "## Quick start"');
  const out: Record<string, string[]> = {};
  for (const m of block.matchAll(/^import\s*\{([^}]*)\}\s*from\s*'([^']+)';/gm)) {
    const names = m[1]!.split(',').map((n) => n.trim()).filter((n) => n.length > 0 && !n.startsWith('type '));
    if (names.length > 0) out[m[2]!] = [...(out[m[2]!] ?? []), ...names];
  }
  if (Object.keys(out).length === 0) throw new Error('size: the README quick start imports nothing');
  return out;
}

const ENTRIES: Entry[] = [
  {
    name: '.',
    file: here('lib/index.ts'),
    budgeted: true,
    note: 'package entry, everything it exports (the app-facing front door; RFC 9807 OPAQUE, no opaque-ts)',
    // Since the front door `.` exports no Node engine (createNodeEngine is in e2ee-backup/archive).
    absent: [...OPAQUE_STACK, ...OPT_IN, ...DEVICE_CACHE, ...WORKER_POOL, ...NODE_ONLY, ...UNUSED, ...OTHER_ENTRIES],
  },
  {
    name: '. + opaque-ts',
    contents: "export * from './lib/index.ts';\nexport { opaqueTsSuite } from './lib/opaque-ts.ts';\n",
    budgeted: false,
    note: 'an app that also names the superseded opaque-ts suite (e2ee-backup/opaque-ts): its implementation is a lazy chunk',
    lazyOnly: OPAQUE_STACK,
  },
  {
    name: 'app: quick start',
    contents: app(quickStartImports()),
    budgeted: false,
    note: "for scale: exactly what README.md's quick start imports (backup and vault clients, pinned keys, IndexedDB, S3 from e2ee-backup/stores, the device cache, the worker pool)",
    absent: [...OPAQUE_STACK, ...OPT_IN, ...NODE_ONLY, ...UNUSED],
  },
  {
    name: 'app: pinned',
    contents: app({
      'e2ee-backup': ['createBackupClient', 'createVaultClient', 'pinnedFleets', 'createIndexedDbStore', 'generateRecoveryCode', 'parseRecoveryCode'],
      'e2ee-backup/stores': ['createS3BlobStore'],
    }),
    budgeted: false,
    note: 'for scale: an app using what it needs (backup client, vault client, pinned fleet keys, IndexedDB, S3)',
    absent: [...OPAQUE_STACK, ...OPT_IN, ...DEVICE_CACHE, ...WORKER_POOL, ...NODE_ONLY, ...UNUSED],
  },
  {
    name: 'app: bundle trust',
    contents: app({
      'e2ee-backup': ['createBackupClient', 'createVaultClient', 'createIndexedDbStore', 'generateRecoveryCode', 'parseRecoveryCode'],
      'e2ee-backup/stores': ['createS3BlobStore'],
      'e2ee-backup/trust': ['createTrustStore', 'witnessLogClient'],
    }),
    budgeted: false,
    note: 'for scale: the same app with over-the-air fleet bundles (trust store, witness log: Ed25519, Merkle proofs)',
    absent: [...OPAQUE_STACK, ...OPT_IN, ...DEVICE_CACHE, ...WORKER_POOL, ...NODE_ONLY, ...UNUSED],
  },
  { name: 'worker script', file: here('lib/archive/engines/chacha-worker.ts'), budgeted: false, note: 'chacha-worker.js, fetched only when a worker pool starts' },
  { name: 'stores', file: here('lib/stores.ts'), budgeted: false, note: 'for scale: e2ee-backup/stores, all three blob-store adapters (an app imports one)' },
  { name: 'trust', file: here('lib/trust.ts'), budgeted: false, note: 'for scale: e2ee-backup/trust (trust store, witness-log client, bundle codec, migration)' },
  { name: 'archive', file: here('lib/archive.ts'), budgeted: false, note: 'for scale: e2ee-backup/archive, the archive format + engines (noble, node:crypto selection)' },
  { name: 'keys', file: here('lib/keys.ts'), budgeted: false, note: 'for scale: e2ee-backup/keys (keyring, self-custody key, device cache, manifest sealing)' },
  { name: 'passkeys', file: here('lib/passkeys.ts'), budgeted: false, note: 'for scale: e2ee-backup/passkeys (passkeySupport, WebAuthn ceremonies, envelope codec: X25519)' },
  { name: 'workers', file: here('lib/workers.ts'), budgeted: false, note: 'for scale: e2ee-backup/workers (createWorkerEngine: the worker pool; the worker script is fetched apart)' },
  { name: 'protocol', file: here('lib/protocol.ts'), budgeted: false, note: 'for scale: e2ee-backup/protocol (vault codec, OPAQUE suites, transport)' },
];

interface Part {
  readonly min: number;
  readonly gzip: number;
  readonly chunks: number;
  readonly top: { readonly module: string; readonly bytes: number }[];
}

interface Result {
  readonly name: string;
  readonly budgeted: boolean;
  readonly note: string;
  /** Entry chunk + static imports. */
  readonly initial: Part;
  /** Chunks reached only through dynamic import(). */
  readonly lazy: Part;
  /** initial + lazy, each chunk gzipped alone. */
  readonly full: { readonly min: number; readonly gzip: number };
  /** The same entry as one file (no splitting), gzipped whole: a cross-check of `full`. */
  readonly single: { readonly min: number; readonly gzip: number };
  /** Inputs found in the initial chunks that must be lazy. */
  readonly leaked: string[];
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

const gz = (b: Uint8Array): number => gzipSync(b, { level: 9 }).length;

function checkNoNodeBuiltin(name: string, text: string): void {
  // A static or dynamic import of a built-in (process.getBuiltinModule('node:crypto') is a string, and fine).
  if (/(from\s*|import\s*\(\s*|require\s*\(\s*|import\s*)["']node:/.test(text)) throw new Error(`${name}: the browser bundle references a node: built-in`);
}

function topGroups(meta: Metafile, outs: string[]): Part['top'] {
  const byGroup = new Map<string, number>();
  for (const o of outs) {
    for (const [path, info] of Object.entries(meta.outputs[o]!.inputs)) {
      const g = group(path);
      byGroup.set(g, (byGroup.get(g) ?? 0) + info.bytesInOutput);
    }
  }
  return [...byGroup.entries()]
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([module, n]) => ({ module, bytes: n }));
}

async function measure(e: Entry): Promise<Result> {
  const common: BuildOptions & { write: false; metafile: true } = {
    ...(e.contents !== undefined
      ? { stdin: { contents: e.contents, resolveDir: root, loader: 'ts' as const, sourcefile: 'app.ts' } }
      : { entryPoints: [e.file!] }),
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
    absWorkingDir: root,
  };
  const split = await build({ ...common, splitting: true, outdir: 'size-out' });
  const meta = split.metafile;
  const entryOut = Object.keys(meta.outputs).find((k) => meta.outputs[k]!.entryPoint !== undefined);
  if (entryOut === undefined) throw new Error(`${e.name}: no entry output`);
  const eager = new Set<string>();
  const walk = (o: string): void => {
    if (eager.has(o)) return;
    eager.add(o);
    for (const imp of meta.outputs[o]?.imports ?? []) if (imp.kind === 'import-statement' && !imp.external) walk(imp.path);
  };
  walk(entryOut);
  const sizes = new Map<string, { min: number; gzip: number }>();
  for (const f of split.outputFiles) {
    const key = relative(root, f.path);
    if (!key.endsWith('.js')) continue;
    checkNoNodeBuiltin(e.name, f.text);
    sizes.set(key, { min: f.contents.length, gzip: gz(f.contents) });
  }
  const all = [...sizes.keys()];
  for (const o of Object.keys(meta.outputs)) if (o.endsWith('.js') && !sizes.has(o)) throw new Error(`${e.name}: output ${o} missing`);
  const part = (outs: string[]): Part => ({
    min: outs.reduce((s, o) => s + sizes.get(o)!.min, 0),
    gzip: outs.reduce((s, o) => s + sizes.get(o)!.gzip, 0),
    chunks: outs.length,
    top: topGroups(meta, outs),
  });
  const initialOuts = all.filter((o) => eager.has(o));
  const lazyOuts = all.filter((o) => !eager.has(o));
  const initial = part(initialOuts);
  const lazy = part(lazyOuts);
  const leaked = [
    ...new Set(initialOuts.flatMap((o) => Object.keys(meta.outputs[o]!.inputs).filter((p) => (e.lazyOnly ?? []).some((re) => re.test(p))))),
    // Inputs that put bytes into any chunk (a file imported only for names that are tree-shaken away, like
    // noble's montgomery.js behind the unused `x25519` of ed25519.js, contributes nothing).
    ...new Set(Object.values(meta.outputs).flatMap((out) => Object.entries(out.inputs).filter(([p, i]) => i.bytesInOutput > 0 && (e.absent ?? []).some((re) => re.test(p))).map(([p]) => p))),
  ];

  const one = await build({ ...common, outfile: 'size-out/single.js' });
  const bytes = one.outputFiles.find((f) => f.path.endsWith('.js'))!.contents;
  checkNoNodeBuiltin(e.name, new TextDecoder().decode(bytes));

  return {
    name: e.name,
    budgeted: e.budgeted,
    note: e.note,
    initial,
    lazy,
    full: { min: initial.min + lazy.min, gzip: initial.gzip + lazy.gzip },
    single: { min: bytes.length, gzip: gz(bytes) },
    leaked,
  };
}

const results: Result[] = [];
for (const e of ENTRIES) results.push(await measure(e));

/** What the budget is checked against: the larger of the split sum and the one-file bundle. */
const budgeted = (r: Result): number => Math.max(r.full.gzip, r.single.gzip);

if (args.has('--json')) {
  console.log(JSON.stringify({ budget: BUDGET, results }, null, 2));
} else {
  const kb = (n: number): string => `${(n / KB).toFixed(1)} KB`;
  const tops = (p: Part): string => p.top.map((t) => `${t.module} ${kb(t.bytes)}`).join(', ');
  const pad = ''.padEnd(18);
  for (const r of results) {
    console.log(`${r.name.padEnd(18)}${r.note}`);
    console.log(`${pad}full     min ${kb(r.full.min).padStart(9)}   min+gzip ${kb(r.full.gzip).padStart(8)}   (${r.initial.chunks + r.lazy.chunks} chunks; as one file: ${kb(r.single.gzip)} gzip)`);
    console.log(`${pad}initial  min ${kb(r.initial.min).padStart(9)}   min+gzip ${kb(r.initial.gzip).padStart(8)}   (${r.initial.chunks} chunk(s) loaded up front)`);
    if (r.lazy.chunks > 0) console.log(`${pad}lazy     min ${kb(r.lazy.min).padStart(9)}   min+gzip ${kb(r.lazy.gzip).padStart(8)}   (${r.lazy.chunks} chunk(s) loaded by import() on first use)`);
    console.log(`${pad}largest initial (minified, before gzip): ${tops(r.initial)}`);
    if (r.lazy.chunks > 0) console.log(`${pad}largest lazy (minified, before gzip): ${tops(r.lazy)}`);
  }
}
let failed = false;
for (const r of results) {
  if (r.leaked.length > 0) {
    failed = true;
    console.error(`lazy boundary broken: '${r.name}' has ${r.leaked.map((p) => relative(root, p)).join(', ')} in its initial chunks (or at all, for opaque-ts, opt-in capabilities and Node-only code)`);
  }
  if (r.budgeted && budgeted(r) > BUDGET) {
    failed = true;
    console.error(`size budget exceeded: '${r.name}' full client is ${(budgeted(r) / KB).toFixed(1)} KB gzipped, budget ${(BUDGET / KB).toFixed(0)} KB (initial chunks alone: ${(r.initial.gzip / KB).toFixed(1)} KB)`);
  } else if (r.budgeted) {
    console.log(`size budget ok: '${r.name}' full client ${(budgeted(r) / KB).toFixed(1)} KB gzipped, within ${(BUDGET / KB).toFixed(0)} KB`);
  }
}
process.exitCode = failed ? 1 : 0;
