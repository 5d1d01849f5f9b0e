// The browser entry's opaqueTsSuite loads its implementation on first use: same id and bytes as the
// eager suite, a failed load is ENGINE_UNAVAILABLE and retried, server() needs the implementation in
// memory, and a split bundle of the entry keeps opaque-ts / voprf-ts / sjcl / the P-256 group out of
// the initial chunks (docs/SIZE.md).
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { opaqueTsSuite as publicSuite, OPAQUE_TS_SUITE_ID as publicId } from '../../lib/opaque-ts.js';
import { opaqueTsSuite as eagerSuite, OPAQUE_TS_SUITE_ID } from '../../lib/recovery/opaque/opaque-ts.js';
import { opaqueBinding } from '../../lib/recovery/protocol.js';
import { toHex, utf8 } from '../../lib/util/bytes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IMPL = '../../lib/recovery/opaque/opaque-ts.js';
const LAZY = '../../lib/recovery/opaque/opaque-ts-lazy.js';

afterEach(() => {
  vi.doUnmock(IMPL);
  vi.resetModules();
});

describe('lazy opaque-ts suite (browser entry)', () => {
  it('the public suite is the lazy one, with the same id', async () => {
    const lazyMod = await import(LAZY);
    expect(publicSuite).toBe(lazyMod.opaqueTsSuite);
    expect(publicId).toBe(OPAQUE_TS_SUITE_ID);
    expect(publicSuite().id).toBe(eagerSuite().id);
  });

  it('a lazy client registers and logs in against an eager server: same export key', async () => {
    const eager = eagerSuite();
    const lazy = publicSuite();
    const setup = await eager.generateServerSetup();
    const pk = eager.setupPublicKey(setup);
    expect(toHex(lazy.setupPublicKey(setup))).toBe(toHex(pk));
    expect(() => lazy.setupPublicKey(setup.subarray(1))).toThrow(RangeError);
    const b = opaqueBinding('fleet-l', lazy.id, 'acct', pk);
    const server = eager.server(setup, { serverIdentity: b.serverIdentity });
    const reg = await lazy.startRegistration(utf8('lazy code'));
    const { record, exportKey } = await reg.finish(await server.registrationResponse(reg.request, b), b);
    const login = await lazy.startLogin(utf8('lazy code'));
    const { ke2, expected } = await server.startLogin(login.ke1, record, b);
    const out = await login.finish(ke2, b);
    expect(out && toHex(out.exportKey)).toBe(toHex(exportKey));
    expect(toHex(server.finishLogin(out!.ke3, expected)!)).toBe(toHex(out!.sessionKey));
    // The implementation is in memory now, so the lazy suite's synchronous server() works.
    expect(toHex(lazy.server(setup, { serverIdentity: b.serverIdentity }).publicKey)).toBe(toHex(pk));
  });

  it('a failed load is ENGINE_UNAVAILABLE, server() before any load says so, and the next call retries', async () => {
    vi.resetModules();
    vi.doMock(IMPL, () => {
      throw new Error('chunk fetch failed');
    });
    const lazyMod = (await import(LAZY)) as typeof import('../../lib/recovery/opaque/opaque-ts-lazy.js');
    const suite = lazyMod.opaqueTsSuite();
    const err = await suite.startLogin(utf8('code')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBackupError(err, 'ENGINE_UNAVAILABLE')).toBe(true);
    expect((err as Error).cause).toBeInstanceOf(Error);
    let serverErr: unknown;
    try {
      suite.server(new Uint8Array(97), { serverIdentity: utf8('s') });
    } catch (e) {
      serverErr = e;
    }
    expect(isBackupError(serverErr, 'ENGINE_UNAVAILABLE')).toBe(true);
    vi.doUnmock(IMPL);
    const login = await suite.startLogin(utf8('code'));
    expect(login.ke1.length).toBeGreaterThan(0);
  });
});

/** Every output file reachable from `start` through static imports. */
function staticClosure(meta: Metafile, start: string): Set<string> {
  const seen = new Set<string>();
  const walk = (out: string): void => {
    if (seen.has(out)) return;
    seen.add(out);
    for (const imp of meta.outputs[out]?.imports ?? []) if (imp.kind === 'import-statement' && !imp.external) walk(imp.path);
  };
  walk(start);
  return seen;
}

describe('bundle split', () => {
  it('the OPAQUE stack is not in the initial chunks of an app naming the suite, only in a lazy one; the package entry has none of it', async () => {
    const out = await build({
      stdin: {
        contents: "export * from './lib/index.ts'; export { opaqueTsSuite } from './lib/opaque-ts.ts';",
        resolveDir: ROOT,
        loader: 'ts',
        sourcefile: 'app.ts',
      },
      absWorkingDir: ROOT,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      outdir: 'out',
      write: false,
      metafile: true,
      external: ['libsodium-wrappers'],
      logLevel: 'silent',
    });
    const meta = out.metafile;
    const entry = Object.keys(meta.outputs).find((k) => meta.outputs[k]!.entryPoint !== undefined)!;
    const eager = staticClosure(meta, entry);
    const eagerInputs = [...eager].flatMap((o) => Object.keys(meta.outputs[o]!.inputs));
    const lazyInputs = Object.keys(meta.outputs)
      .filter((o) => !eager.has(o))
      .flatMap((o) => Object.keys(meta.outputs[o]!.inputs));
    const heavy = [/@cloudflare\/opaque-ts\//, /@cloudflare\/voprf-ts\//, /lib\/recovery\/opaque\/opaque-ts\.ts$/, /lib\/recovery\/opaque\/p256-noble\.ts$/, /@noble\/curves\/abstract\/weierstrass\.js$/];
    for (const re of heavy) {
      expect(eagerInputs.filter((p) => re.test(p))).toEqual([]);
      expect(lazyInputs.some((p) => re.test(p))).toBe(true);
    }
    // The package entry alone reaches none of it (the suite is in e2ee-backup/opaque-ts).
    const alone = await build({
      entryPoints: ['lib/index.ts'],
      absWorkingDir: ROOT,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      outdir: 'out',
      write: false,
      metafile: true,
      external: ['libsodium-wrappers'],
      logLevel: 'silent',
    });
    const all = Object.keys(alone.metafile.inputs);
    expect(all.filter((p) => /@cloudflare\/|opaque-ts\.ts$|p256-noble\.ts$/.test(p))).toEqual([]);
  });
});
