// A small app bundled by Vite (the bundler most apps use) with the SDK's default client: the build
// must print no warning at all (no sjcl `crypto` externalization, no CommonJS variables, nothing),
// and the output must hold no opaque-ts / voprf-ts / sjcl: the superseded suite is not bundled
// unless the app names it (lib/recovery/opaque/suites.ts). An app that does name it gets it as a
// separate chunk, fetched when a fleet names that suite.
import { fileURLToPath } from 'node:url';
import { build, createLogger, type Rollup } from 'vite';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function viteBuild(app: string): Promise<{ warnings: string[]; chunks: Rollup.OutputChunk[] }> {
  const warnings: string[] = [];
  const logger = createLogger('warn', { allowClearScreen: false });
  logger.warn = (msg) => void warnings.push(msg);
  logger.warnOnce = (msg) => void warnings.push(msg);
  logger.error = (msg) => void warnings.push(`error: ${msg}`);
  const out = await build({
    root: ROOT,
    configFile: false,
    logLevel: 'warn',
    customLogger: logger,
    build: {
      write: false,
      minify: true,
      reportCompressedSize: false,
      rollupOptions: {
        input: 'virtual:app',
        // Vite's own build statistics, not a finding about the app's code.
        onwarn: (w) => void (w.code === 'PLUGIN_TIMINGS' ? undefined : warnings.push(`${w.code ?? ''} ${w.message}`)),
      },
    },
    plugins: [
      {
        name: 'test-app',
        resolveId: (id) => (id === 'virtual:app' ? '\0app.js' : null),
        load: (id) => (id === '\0app.js' ? app : null),
      },
    ],
  });
  const result = (Array.isArray(out) ? out[0] : out) as Rollup.RollupOutput;
  return { warnings, chunks: result.output.filter((o): o is Rollup.OutputChunk => o.type === 'chunk') };
}

const DEFAULT_APP = `
import { createBackupClient, createVaultClient, pinnedFleets, createIndexedDbStore, generateRecoveryCode, parseRecoveryCode } from '/lib/index.ts';
import { createTrustStore } from '/lib/trust.ts';
import { createHttpBlobStore } from '/lib/stores.ts';
globalThis.app = { createBackupClient, createVaultClient, createTrustStore, pinnedFleets, createIndexedDbStore, createHttpBlobStore, generateRecoveryCode, parseRecoveryCode };
`;

describe('an app bundled with Vite', () => {
  it('the default client: no warnings, and none of the superseded OPAQUE suite', async () => {
    const { warnings, chunks } = await viteBuild(DEFAULT_APP);
    expect(warnings).toEqual([]);
    const modules = chunks.flatMap((c) => Object.keys(c.modules));
    expect(modules.filter((m) => /@cloudflare\/|opaque-ts/.test(m))).toEqual([]);
    expect(modules.some((m) => m.includes('rfc9807'))).toBe(true);
  }, 120_000);

  it('an app that names the opaque-ts suite gets it as a lazy chunk', async () => {
    const { chunks } = await viteBuild(`import { createVaultClient } from '/lib/index.ts'; import { opaqueTsSuite } from '/lib/opaque-ts.ts'; globalThis.app = { createVaultClient, opaqueTsSuite };`);
    const entry = chunks.find((c) => c.isEntry)!;
    expect(Object.keys(entry.modules).some((m) => m.includes('@cloudflare/'))).toBe(false);
    expect(chunks.some((c) => !c.isEntry && Object.keys(c.modules).some((m) => m.includes('@cloudflare/opaque-ts')))).toBe(true);
  }, 120_000);
});
