import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFleetTool, trustRootsFromJson, type TrustRootsJson } from '../../tools/fleet.js';
import { createMemoryStore } from '../../lib/storage/kv.js';
import { createTrustStore } from '../../lib/trust/trust-store.js';
import { fromBase64 } from '../../lib/util/bytes.js';

const NOW = 1_800_000_000;

describe('tools/fleet.ts', () => {
  it('keygen → create → witness → countersign → prove → a client applies it; then a rotation with a consistency proof', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-tool-'));
    try {
      const out: string[] = [];
      const errs: string[] = [];
      const run = (...a: string[]) => runFleetTool(['--dir', dir, '--now', String(NOW), ...a], { out: (l) => out.push(l), err: (l) => errs.push(l) });
      expect(await run('keygen', 'witness', 'w1')).toBe(0);
      expect(await run('keygen', 'operator', 'op1')).toBe(0);
      expect(await run('keygen', 'operator', 'op1')).toBe(1); // never overwrites a key
      expect(await run('init-log', 'witness.example/log', 'chat.example', 'w1')).toBe(0);
      const spec = (epoch: number, fleets: string[], retired: string[] = []) => {
        const path = join(dir, `spec${epoch}.json`);
        writeFileSync(path, JSON.stringify({
          namespace: 'chat.example', epoch, notBefore: NOW - 60, notAfter: NOW + 86_400, retired,
          fleets: fleets.map((id) => ({ fleetId: id, suite: 'opaque-ts/P256-SHA256-scrypt/v1', publicKey: btoa(id), roles: ['enroll', 'recover'], notBefore: NOW - 60, notAfter: NOW + 86_400 })),
        }));
        return path;
      };
      for (const cmd of [['create-bundle', spec(1, ['eu-1'])], ['witness', '1'], ['countersign', 'op1', '1'], ['prove', '1'], ['client-config', 'w1', 'op1', String(NOW - 3600)], ['verify', 'signed/1.signed']]) {
        expect(await run(...cmd), `${cmd.join(' ')}: ${errs.join('\n')}`).toBe(0);
      }
      const cfg = trustRootsFromJson(JSON.parse(readFileSync(join(dir, 'client-config.json'), 'utf8')) as TrustRootsJson);
      const trust = createTrustStore({ config: cfg, store: createMemoryStore(), now: () => NOW * 1000 });
      await trust.applyBundle(new Uint8Array(readFileSync(join(dir, 'signed/1.signed'))));
      expect((await trust.trustedFleets()).map((f) => f.fleetId)).toEqual(['eu-1']);

      // Rotation: eu-2 replaces eu-1, which is retired.
      for (const cmd of [['create-bundle', spec(2, ['eu-2'], ['eu-1'])], ['witness', '2'], ['countersign', 'op1', '2'], ['prove', '2']]) {
        expect(await run(...cmd)).toBe(0);
      }
      out.length = 0;
      expect(await run('consistency', '1', '2')).toBe(0);
      const proof = (JSON.parse(out[0]!) as { proof: string[] }).proof.map(fromBase64);
      await trust.applyBundle(new Uint8Array(readFileSync(join(dir, 'signed/2.signed'))), { consistencyProof: proof });
      expect((await trust.trustedFleets()).map((f) => f.fleetId)).toEqual(['eu-2']);

      // The witness refuses to sign epoch 2 again; verify refuses a tampered file with its code.
      expect(await run('witness', '2')).toBe(1);
      expect(errs.at(-1)).toMatch(/TRUST_ROLLBACK/);
      const signed = readFileSync(join(dir, 'signed/2.signed'));
      signed[signed.length - 1]! ^= 1;
      writeFileSync(join(dir, 'bad.signed'), signed);
      expect(await run('verify', 'bad.signed')).toBe(1);
      expect(errs.at(-1)).toMatch(/refused: TRUST_/);
      expect(readFileSync(join(dir, 'keys/w1.secret.json'), 'utf8')).toMatch(/secretKey/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
