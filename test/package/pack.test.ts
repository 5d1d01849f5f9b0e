// The package an app installs: `npm pack` builds dist/ first (prepack), the tarball carries every
// export target, and an app that installs it imports every entry in Node, type-checks them with
// skipLibCheck: false and no optional peer installed, and bundles them with Vite. Source maps in
// the tarball point at files the tarball has. (issue 19: a tarball without dist/, maps into a
// missing lib/, and dist/server/stores/etcd.d.ts naming the optional peer etcd3.)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkExamples, markdownExamples, type Example } from '../docs/examples.js';
import { FRONT_DOOR } from './front-door.js';
import { packPackage, pkg, repoRoot, scratchApp, type Packed } from './scratch-app.js';

/** Bare specifiers of every export of the package, with the file it maps to. */
const entries = Object.entries(pkg.exports)
  .filter(([sub]) => sub !== './package.json')
  .map(([sub, target]) => ({
    specifier: sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`,
    js: typeof target === 'string' ? target : target.default,
    types: typeof target === 'string' ? undefined : target.types,
  }));
/** Capability subpaths for browser apps (README §Package entries), bundled with Vite below. */
const BROWSER_SUBPATHS = ['stores', 'trust', 'archive', 'keys', 'passkeys', 'workers', 'protocol', 'incremental', 'opaque-ts', 'rfc9807-extras'] as const;
/** The worker script is loaded as a Web Worker, never imported on a main thread or in Node. */
const WORKER_ENTRY = `${pkg.name}/engines/worker`;

/**
 * Warnings a Vite build of an app prints today, each with its reason. Anything else fails the
 * test (and belongs in docs/GETTING-STARTED.md §Bundlers if it is accepted).
 */
const KNOWN_VITE_WARNINGS: readonly { readonly pattern: RegExp; readonly why: string }[] = [
  // @cloudflare/voprf-ts (under @cloudflare/opaque-ts, the OPAQUE suite) bundles sjcl, a CommonJS
  // file that mentions `require('crypto')` and `module.exports`; only in the lazily loaded OPAQUE chunk.
  { pattern: /Module "crypto" has been externalized for browser compatibility, imported by ".*voprf-ts.*sjcl/, why: 'sjcl in voprf-ts' },
  { pattern: /COMMONJS_VARIABLE_IN_ESM[\s\S]*voprf-ts[\\/]lib[\\/]src[\\/]sjcl/, why: 'sjcl in voprf-ts' },
];

/**
 * The pages a new app developer follows (issue 19, "the first hour"): their ```ts blocks are
 * type-checked against the tarball here, besides against lib/ in test/docs/examples.test.ts.
 */
const QUICK_START_DOCS = ['README.md', 'docs/GETTING-STARTED.md'] as const;

let packed: Packed;
let app: string;

beforeAll(() => {
  packed = packPackage();
  app = scratchApp(packed, 'app', ['@types/node']);
}, 180_000);

afterAll(() => packed?.dispose());

describe('npm pack', () => {
  it('has prepack build dist/, so a tarball never lacks it', () => {
    expect(pkg.scripts.prepack).toBe('npm run build');
    expect(pkg.scripts.build).toContain('tsc -p tsconfig.build.json');
  });

  it('carries every export target, the sources the maps point at, and no tests', () => {
    for (const e of entries) {
      expect(packed.files, e.specifier).toContain(e.js.slice(2));
      if (e.types !== undefined) expect(packed.files, e.specifier).toContain(e.types.slice(2));
    }
    expect(packed.files).toContain('lib/index.ts');
    expect(packed.files.filter((f) => /^(test|bench|demo|examples|scripts|tools)\//.test(f))).toEqual([]);
  });

  it('ships source maps (JS and declarations) whose sources exist in the package', () => {
    const root = path.join(app, 'node_modules', pkg.name);
    const maps: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (name.endsWith('.map')) maps.push(p);
      }
    };
    walk(path.join(root, 'dist'));
    expect(maps.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot } = JSON.parse(readFileSync(map, 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const s of sources) {
        const p = path.resolve(path.dirname(map), sourceRoot ?? '', s);
        if (!p.startsWith(root + path.sep) || !existsSync(p)) missing.push(`${path.relative(root, map)} -> ${s}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('an app that installed the tarball', () => {
  it('imports every entry in Node; the package entry has exactly the agreed names', () => {
    const specifiers = entries.map((e) => e.specifier).filter((s) => s !== WORKER_ENTRY);
    writeFileSync(
      path.join(app, 'import-all.mjs'),
      `const out = {};\nfor (const s of ${JSON.stringify(specifiers)}) out[s] = Object.keys(await import(s));\nconsole.log(JSON.stringify(out));\n`,
    );
    const names = JSON.parse(execFileSync(process.execPath, ['import-all.mjs'], { cwd: app, encoding: 'utf8' })) as Record<string, string[]>;
    for (const s of specifiers) expect(names[s]?.length, s).toBeGreaterThan(0);
    // The front door (test/package/front-door.ts): the built entry, not only the source.
    expect([...names[pkg.name]!].sort()).toEqual(FRONT_DOOR);
    // Node ignores package.json "browser": its default engine is still the native one.
    writeFileSync(
      path.join(app, 'engine.mjs'),
      `const names = [];\nfor (const s of ${JSON.stringify(specifiers)}) { const m = await import(s); if (typeof m.defaultEngine === 'function') names.push(m.defaultEngine().name); }\nconsole.log(JSON.stringify(names));\n`,
    );
    const engines = JSON.parse(execFileSync(process.execPath, ['engine.mjs'], { cwd: app, encoding: 'utf8' })) as string[];
    expect(engines.length).toBeGreaterThan(0);
    expect(new Set(engines)).toEqual(new Set(['node']));
    // The optional peers are really absent: nothing above resolved them by accident.
    expect(existsSync(path.join(app, 'node_modules', 'etcd3'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules', 'libsodium-wrappers'))).toBe(false);
  });

  it('type-checks every entry with skipLibCheck: false and no optional peer installed', () => {
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const check = (name: string, lib: readonly string[], specifiers: readonly string[]): string => {
      writeFileSync(
        path.join(app, `${name}.ts`),
        specifiers.map((s, i) => `import * as m${i} from '${s}';`).join('\n') + `\nexport const all = [${specifiers.map((_, i) => `m${i}`).join(', ')}];\n`,
      );
      writeFileSync(
        path.join(app, `tsconfig.${name}.json`),
        JSON.stringify({
          compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true, types: ['node'], lib },
          files: [`${name}.ts`],
        }),
      );
      try {
        execFileSync(process.execPath, [tsc, '-p', `tsconfig.${name}.json`], { cwd: app, encoding: 'utf8' });
        return '';
      } catch (e) {
        return String((e as { stdout?: string }).stdout ?? e);
      }
    };
    // A web app (DOM types) takes every entry; a Node backend only the server entry, with no DOM lib.
    expect(check('web', ['ES2022', 'DOM', 'DOM.Iterable'], entries.map((e) => e.specifier))).toBe('');
    expect(check('node', ['ES2022'], [`${pkg.name}/server`])).toBe('');
  }, 180_000);

  it('bundles with Vite: every browser entry, the worker file, and no warning beyond the known ones', async () => {
    writeFileSync(path.join(app, 'index.html'), '<!doctype html><html><body><script type="module" src="./main.ts"></script></body></html>\n');
    writeFileSync(
      path.join(app, 'main.ts'),
      [
        `import * as main from '${pkg.name}';`,
        // The capability subpaths an app may bundle besides the package entry.
        ...BROWSER_SUBPATHS.map((s, i) => `import * as sub${i} from '${pkg.name}/${s}';`),
        `import { createLibsodiumEngine } from '${pkg.name}/engines/libsodium';`,
        `import { createTestFleet } from '${pkg.name}/testing';`,
        `import { createWorkerEngine } from '${pkg.name}/workers';`,
        `const engine = createWorkerEngine({ workers: 1 });`,
        `engine.terminate();`,
        `(globalThis as { used?: unknown }).used = [Object.keys(main).length, ${BROWSER_SUBPATHS.map((_, i) => `sub${i}`).join(', ')}, createLibsodiumEngine, createTestFleet];`,
        '',
      ].join('\n'),
    );
    const { build, createLogger } = await import('vite');
    const warnings: string[] = [];
    const logger = createLogger('warn');
    logger.warn = (msg) => void warnings.push(msg);
    logger.warnOnce = (msg) => void warnings.push(msg);
    const result = await build({
      root: app,
      configFile: false,
      logLevel: 'warn',
      customLogger: logger,
      build: {
        outDir: 'dist',
        sourcemap: true,
        // PLUGIN_TIMINGS is rolldown's note that plugins were slow (a loaded machine), not about the package.
        rollupOptions: { onwarn: (w) => void (w.code === 'PLUGIN_TIMINGS' || warnings.push(`${w.code ?? ''} ${w.message}`)) },
      },
    });
    const outputs = (Array.isArray(result) ? result : [result]).flatMap((r) => ('output' in r ? r.output.map((o) => o.fileName) : []));
    expect(outputs.some((f) => /chacha-worker.*\.js$/.test(f)), outputs.join(', ')).toBe(true);
    const unknown = warnings.filter((w) => !KNOWN_VITE_WARNINGS.some((k) => k.pattern.test(w)));
    expect(unknown).toEqual([]);
  }, 120_000);

  it('bundles for the browser without the Node engine (package.json "browser" maps its selection away)', async () => {
    writeFileSync(path.join(app, 'client.html'), '<!doctype html><html><body><script type="module" src="./client.ts"></script></body></html>\n');
    writeFileSync(path.join(app, 'client.ts'), `import { createBackupClient } from '${pkg.name}';\n(globalThis as { used?: unknown }).used = createBackupClient;\n`);
    const { build } = await import('vite');
    const result = await build({
      root: app,
      configFile: false,
      logLevel: 'silent',
      build: { write: false, minify: false, rollupOptions: { input: path.join(app, 'client.html') } },
    });
    const code = (Array.isArray(result) ? result : [result]).flatMap((r) => ('output' in r ? r.output.map((o) => ('code' in o ? o.code : '')) : [])).join('\n');
    expect(code.length).toBeGreaterThan(100_000); // the client, not an empty app
    expect(code).not.toContain('getBuiltinModule');
    expect(code).not.toContain('createCipheriv');
  }, 120_000);
});

describe('the quick start, as a Vite app that installed the tarball copies it', () => {
  let docsApp: string;
  let blocks: (Example & { readonly fileName: string; readonly node: boolean })[];

  beforeAll(() => {
    docsApp = scratchApp(packed, 'docs-app', ['@types/node', 'vite']);
    const examples = QUICK_START_DOCS.flatMap((f) => markdownExamples(f, readFileSync(path.join(repoRoot, f), 'utf8')));
    // The free variables a block assumes (`user`, `FLEET_KEY`, `api`, …), as the source check finds them.
    const { free, errors } = checkExamples(repoRoot, examples);
    expect(errors.map((e) => `${e.example.id}: ${e.message}`)).toEqual([]);
    blocks = examples.map((e) => {
      const fileName = `${e.file.replace(/\W+/g, '-')}-${e.line}.ts`;
      const declared = [...(free.get(e.id) ?? [])].sort().map((name) => `declare let ${name}: any;`);
      writeFileSync(path.join(docsApp, fileName), `${e.code}\n${declared.join('\n')}\nexport {};\n`);
      return { ...e, fileName, node: /from 'e2ee-backup\/server'/.test(e.code) };
    });
  }, 180_000);

  it('type-checks every ts block of README.md and GETTING-STARTED.md against the built package (skipLibCheck: false, Vite-style tsconfig)', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    expect(blocks.some((b) => b.file === 'README.md')).toBe(true);
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    // What `npm create vite` (vanilla-ts) sets, strict and with the libraries' types checked.
    writeFileSync(
      path.join(docsApp, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM'], types: ['node'], // no DOM.Iterable (GETTING-STARTED §1)
          strict: true, skipLibCheck: false, noEmit: true, verbatimModuleSyntax: true, moduleDetection: 'force', noFallthroughCasesInSwitch: true,
        },
        files: blocks.map((b) => b.fileName),
      }),
    );
    let out = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: docsApp, encoding: 'utf8' });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? e);
    }
    expect(out).toBe('');
  }, 180_000);

  it('bundles the page blocks with Vite and prints no warning', async () => {
    const page = blocks.filter((b) => !b.node);
    expect(page.length).toBeGreaterThanOrEqual(2);
    writeFileSync(path.join(docsApp, 'index.html'), '<!doctype html><html><body><script type="module" src="./page.ts"></script></body></html>\n');
    writeFileSync(path.join(docsApp, 'page.ts'), page.map((b) => `import './${b.fileName}';`).join('\n') + '\n');
    const { build, createLogger } = await import('vite');
    const warnings: string[] = [];
    const logger = createLogger('warn');
    logger.warn = (msg) => void warnings.push(msg);
    logger.warnOnce = (msg) => void warnings.push(msg);
    const result = await build({
      root: docsApp,
      configFile: false,
      logLevel: 'warn',
      customLogger: logger,
      build: {
        outDir: 'dist',
        sourcemap: true,
        rollupOptions: { onwarn: (w) => void (w.code === 'PLUGIN_TIMINGS' || warnings.push(`${w.code ?? ''} ${w.message}`)) },
      },
    });
    const outputs = (Array.isArray(result) ? result : [result]).flatMap((r) => ('output' in r ? r.output.map((o) => o.fileName) : []));
    expect(outputs.some((f) => /chacha-worker.*\.js$/.test(f)), outputs.join(', ')).toBe(true);
    // GETTING-STARTED §6: only e2ee-backup/opaque-ts brings warnings (sjcl); the quick start none.
    expect(warnings).toEqual([]);
  }, 120_000);
});

