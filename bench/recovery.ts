// Client-side CPU time of enroll and recover (KSF included), next to the same OPAQUE flows with
// @serenity-kit/opaque (opaque-ke compiled to WASM: ristretto255, Argon2id "memory-constrained",
// its default) measured in the same run. The vault runs in-process; the CPU it spends inside the
// injected fetch is measured separately and subtracted, so the numbers are the client's own.
//
//   npm run bench:recovery            (ITER=7 by default; ITER=3 npm run bench:recovery)
//
// Target (issue 3): recover ≤ 500 ms client CPU.
import * as serenity from '@serenity-kit/opaque';
import { pinnedFleets } from '../lib/recovery/fleet-trust.js';
import { createKeyring } from '../lib/recovery/keyring.js';
import { OPAQUE_TS_SUITE_ID } from '../lib/recovery/opaque/opaque-ts.js';
import { createVaultClient, type VaultFetch } from '../lib/recovery/vault-client.js';
import { createMemoryVaultStore, createVaultHandler, generateVaultSetup } from '../lib/server/index.js';
import { utf8 } from '../lib/util/bytes.js';

const ITER = Number(process.env.ITER ?? 7);

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU of `f` minus the CPU spent inside `server` calls during it. */
function meter() {
  let serverCpu = 0;
  return {
    wrap(handler: VaultFetch): VaultFetch {
      return async (req) => {
        const t = process.cpuUsage();
        try {
          return await handler(req);
        } finally {
          serverCpu += cpuMs(process.cpuUsage(t));
        }
      };
    },
    async run(f: () => Promise<unknown>): Promise<number> {
      serverCpu = 0;
      const t = process.cpuUsage();
      await f();
      return cpuMs(process.cpuUsage(t)) - serverCpu;
    },
    serverMs: () => serverCpu,
  };
}

async function ours(): Promise<{ enroll: number[]; recover: number[] }> {
  const { setup, publicKey } = await generateVaultSetup();
  const m = meter();
  const enroll: number[] = [];
  const recover: number[] = [];
  for (let i = 0; i <= ITER; i++) {
    const accountId = `bench-${i}`;
    const handler = createVaultHandler({ fleetId: 'bench', setup, store: createMemoryVaultStore(), verifyToken: async () => accountId });
    const client = createVaultClient({
      fleetId: 'bench',
      accountId,
      baseUrl: 'http://bench.invalid',
      fetch: m.wrap(handler),
      getToken: async () => 'token',
      trust: pinnedFleets([{ fleetId: 'bench', suite: OPAQUE_TS_SUITE_ID, publicKey }]),
    });
    const keyring = createKeyring();
    const e = await m.run(() => client.enroll({ password: utf8('bench code'), keyring }));
    const r = await m.run(() => client.recover({ password: utf8('bench code') }));
    if (i > 0) {
      // i = 0 warms the JIT
      enroll.push(e);
      recover.push(r);
    }
  }
  return { enroll, recover };
}

async function serenityKit(): Promise<{ enroll: number[]; recover: number[] }> {
  await serenity.ready;
  const serverSetup = serenity.server.createSetup();
  const enroll: number[] = [];
  const recover: number[] = [];
  const password = 'bench code';
  for (let i = 0; i <= ITER; i++) {
    const userIdentifier = `bench-${i}`;
    let client = 0;
    let t = process.cpuUsage();
    const { clientRegistrationState, registrationRequest } = serenity.client.startRegistration({ password });
    client += cpuMs(process.cpuUsage(t));
    const { registrationResponse } = serenity.server.createRegistrationResponse({ serverSetup, userIdentifier, registrationRequest });
    t = process.cpuUsage();
    const { registrationRecord } = serenity.client.finishRegistration({ clientRegistrationState, registrationResponse, password });
    client += cpuMs(process.cpuUsage(t));
    const e = client;
    client = 0;
    t = process.cpuUsage();
    const { clientLoginState, startLoginRequest } = serenity.client.startLogin({ password });
    client += cpuMs(process.cpuUsage(t));
    const { serverLoginState, loginResponse } = serenity.server.startLogin({ serverSetup, userIdentifier, registrationRecord, startLoginRequest });
    t = process.cpuUsage();
    const fin = serenity.client.finishLogin({ clientLoginState, loginResponse, password });
    client += cpuMs(process.cpuUsage(t));
    if (!fin) throw new Error('serenity login failed');
    serenity.server.finishLogin({ serverLoginState, finishLoginRequest: fin.finishLoginRequest });
    if (i > 0) {
      enroll.push(e);
      recover.push(client);
    }
  }
  return { enroll, recover };
}

const a = await ours();
const b = await serenityKit();
const fmt = (xs: number[]) => `${median(xs).toFixed(0)} ms (median of ${xs.length}; min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
console.log(`node ${process.version}, ${ITER} iterations after 1 warm-up; client CPU only (user+system), vault CPU subtracted`);
console.log(`e2ee-backup ${OPAQUE_TS_SUITE_ID}`);
console.log(`  enroll ms: ${fmt(a.enroll)}`);
console.log(`  recover ms: ${fmt(a.recover)}`);
console.log(`@serenity-kit/opaque (ristretto255, Argon2id memory-constrained)`);
console.log(`  enroll ms: ${fmt(b.enroll)}`);
console.log(`  recover ms: ${fmt(b.recover)}`);
console.log(`ratio: enroll ${(median(a.enroll) / median(b.enroll)).toFixed(2)}x serenity-kit`);
console.log(`ratio: recover ${(median(a.recover) / median(b.recover)).toFixed(2)}x serenity-kit`);
console.log(`target: recover <= 500 ms client CPU: ${median(a.recover) <= 500 ? 'met' : 'NOT met'}`);
