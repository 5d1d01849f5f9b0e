// The fleet tool makes new fleets on the RFC 9807 default suite: `vault-setup` generates a vault
// setup for it (or a named suite), and `create-bundle` fills in the default suite for a fleet whose
// spec names none and refuses a suite id this SDK cannot run.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPAQUE_TS_SUITE_ID } from '../../lib/recovery/opaque/opaque-ts.js';
import { RFC9807_DEFAULT_SUITE_ID, rfc9807Suite } from '../../lib/recovery/opaque/rfc9807.js';
import { decodeBundle } from '../../lib/trust/bundle.js';
import { fromBase64, fromHex, toHex } from '../../lib/util/bytes.js';
import { runFleetTool } from '../../tools/fleet.js';

describe('tools/fleet.ts and OPAQUE suites', () => {
  it('vault-setup defaults to the RFC 9807 suite; create-bundle defaults a fleet to it and refuses unknown suites', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-suite-'));
    try {
      const out: string[] = [];
      const errs: string[] = [];
      const run = (...a: string[]) => runFleetTool(['--dir', dir, ...a], { out: (l) => out.push(l), err: (l) => errs.push(l) });
      expect(await run('vault-setup', 'eu-2'), errs.join('\n')).toBe(0);
      const file = JSON.parse(readFileSync(join(dir, 'keys', 'eu-2.vault-setup.json'), 'utf8')) as { suite: string; setup: string; publicKey: string };
      expect(file.suite).toBe(RFC9807_DEFAULT_SUITE_ID);
      expect(statSync(join(dir, 'keys', 'eu-2.vault-setup.json')).mode & 0o077).toBe(0);
      expect(toHex(rfc9807Suite().setupPublicKey(fromHex(file.setup)))).toBe(toHex(fromBase64(file.publicKey)));
      expect(out.at(-1)).toBe(`vault eu-2 ${RFC9807_DEFAULT_SUITE_ID} ${file.publicKey}`);
      expect(await run('vault-setup', 'eu-2')).toBe(1); // never overwrites
      expect(await run('vault-setup', 'eu-1', OPAQUE_TS_SUITE_ID)).toBe(0);
      expect(await run('vault-setup', 'eu-3', 'rfc9807/ristretto255-SHA512/identity-INSECURE')).toBe(1);

      const spec = (fleets: object[]) => {
        const path = join(dir, 'spec.json');
        writeFileSync(path, JSON.stringify({ namespace: 'chat.example', epoch: 1, notBefore: 1, notAfter: 2, retired: [], fleets }));
        return path;
      };
      const fleet = { fleetId: 'eu-2', publicKey: file.publicKey, roles: ['enroll', 'recover'], notBefore: 1, notAfter: 2 };
      expect(await run('create-bundle', spec([fleet])), errs.join('\n')).toBe(0);
      const bundle = decodeBundle(new Uint8Array(readFileSync(join(dir, 'bundles', '1.bundle'))));
      expect(bundle.fleets[0]!.suite).toBe(RFC9807_DEFAULT_SUITE_ID);
      expect(await run('create-bundle', spec([{ ...fleet, suite: 'rfc9807/ristretto255-SHA512/argon2id-m1-t1-p1' }]))).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
