// The package as an app gets it: `npm pack` (whose `prepack` builds dist/), the tarball unpacked
// into `<app>/node_modules/e2ee-backup` of a scratch app in a temp directory, and the package's
// runtime dependencies linked beside it from this repository's node_modules (the same versions
// `npm install` would resolve from package-lock.json; linking keeps the test fast and offline).
// Optional peers (etcd3, libsodium-wrappers) are not linked unless asked for, so what the app
// sees is what an app that did not install them sees. The temp directory has no node_modules
// above it, so nothing of the repository leaks into the app's resolution.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly files: readonly string[];
  readonly exports: Readonly<Record<string, string | { readonly types: string; readonly default: string }>>;
  readonly dependencies: Readonly<Record<string, string>>;
  readonly devDependencies: Readonly<Record<string, string>>;
  readonly peerDependencies: Readonly<Record<string, string>>;
  readonly scripts: Readonly<Record<string, string>>;
}

export const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as PackageJson;

export interface Packed {
  /** The temp directory holding the tarball and the app; removed by `dispose`. */
  readonly dir: string;
  readonly tarball: string;
  /** Paths inside the tarball, without the leading `package/`. */
  readonly files: readonly string[];
  dispose(): void;
}

/**
 * `npm pack` rebuilds dist/ in the checkout (prepack), so two test files packing at once (vitest
 * runs files in parallel) would delete each other's build: one pack at a time, through a lock
 * directory (mkdir is atomic); a lock older than 10 minutes is a crashed run's and is taken over.
 */
function packLocked<T>(run: () => T): T {
  const lock = path.join(repoRoot, '.tmp', 'pack.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      try {
        if (Date.now() - statSync(lock).mtimeMs > 10 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        // gone meanwhile: try again
      }
      Atomics.wait(nap, 0, 0, 250);
    }
  }
  try {
    return run();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** `npm pack` into a fresh temp directory (runs `prepack`, i.e. the build). */
export function packPackage(): Packed {
  return packLocked(packUnlocked);
}

function packUnlocked(): Packed {
  const dir = mkdtempSync(path.join(tmpdir(), 'e2ee-backup-pack-'));
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
  });
  // prepack's own output goes to stderr; stdout is the JSON report.
  const report = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  const first = report[0];
  if (first === undefined) throw new Error('npm pack reported nothing');
  return {
    dir,
    tarball: path.join(dir, first.filename),
    files: first.files.map((f) => f.path),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A link to the repository's copy of a package (scoped names included). */
export function linkModule(appDir: string, name: string): void {
  const target = path.join(repoRoot, 'node_modules', name);
  const link = path.join(appDir, 'node_modules', name);
  mkdirSync(path.dirname(link), { recursive: true });
  symlinkSync(target, link, 'dir');
}

/**
 * A scratch app in `packed.dir/<name>` with the tarball unpacked as its `e2ee-backup` dependency
 * and the package's dependencies (plus `extra` modules, e.g. `@types/node`) linked.
 */
export function scratchApp(packed: Packed, name: string, extra: readonly string[] = []): string {
  const appDir = path.join(packed.dir, name);
  const modDir = path.join(appDir, 'node_modules', 'e2ee-backup');
  mkdirSync(modDir, { recursive: true });
  execFileSync('tar', ['-xzf', packed.tarball, '-C', modDir, '--strip-components=1']);
  writeFileSync(
    path.join(appDir, 'package.json'),
    JSON.stringify({ name, private: true, type: 'module', dependencies: { 'e2ee-backup': `file:../${path.basename(packed.tarball)}` } }, null, 2),
  );
  for (const dep of [...Object.keys(pkg.dependencies), ...extra]) linkModule(appDir, dep);
  return appDir;
}
