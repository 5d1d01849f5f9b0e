// Issue 13, findings 2 and 5, as attacks on the wire between a real vault client and the real
// reference vault (in-process), with every OPAQUE suite the SDK runs (the test-only identity KSFs
// keep it fast; the key stretching does not change what is attacked).
//
// Finding 2: an on-path attacker (or whoever terminates TLS) answers register-init with an OPRF
// evaluation under its own key and the genuine, trusted fleet public key. Unless the response is
// authenticated by the fleet key's holder, the client enrolls and the attacker tests PINs offline
// against the uploaded record (its masking key depends only on the OPRF output).
//
// Finding 5: the intent byte of login-finish (recover / change) must be covered by the AKE, so an
// on-path change is refused.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { pinnedFleets } from '../../lib/recovery/fleet-trust.js';
import { createKeyring } from '../../lib/recovery/keyring.js';
import { INSECURE_IDENTITY_KSF, OpaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import { Rfc9807Suite } from '../../lib/recovery/opaque/rfc9807.js';
import { INSECURE_IDENTITY_KSF_9807 } from '../../lib/recovery/opaque/rfc9807-ksf.js';
import type { OpaqueSuite } from '../../lib/recovery/opaque/suite.js';
import { encodeHeader, encodeVaultMessage, opaqueBinding, parseVaultMessage } from '../../lib/recovery/protocol.js';
import { createVaultClient, type VaultFetch } from '../../lib/recovery/vault-client.js';
import { createMemoryVaultStore } from '../../lib/server/stores/memory.js';
import { createVaultHandler, decodeAccountState, generateVaultSetup } from '../../lib/server/vault.js';
import { concatBytes, equalBytes, utf8 } from '../../lib/util/bytes.js';

const FLEET = 'fleet-r13';
const ACCOUNT = 'alice';
const SUITES: OpaqueSuite[] = [
  new OpaqueTsSuite(INSECURE_IDENTITY_KSF),
  new Rfc9807Suite('ristretto255-SHA512', INSECURE_IDENTITY_KSF_9807),
  new Rfc9807Suite('P256-SHA256', INSECURE_IDENTITY_KSF_9807),
];
const pin = (p: string) => utf8(`test-pin:${p}`);

async function body(req: Request): Promise<Uint8Array> {
  return new Uint8Array(await req.clone().arrayBuffer());
}

function withBody(req: Request, b: Uint8Array): Request {
  return new Request(req.url, { method: 'POST', headers: req.headers, body: b as Uint8Array<ArrayBuffer> });
}

async function rewriteResponse(res: Response, f: (b: Uint8Array) => Uint8Array): Promise<Response> {
  const b = new Uint8Array(await res.arrayBuffer());
  return new Response(f(b) as Uint8Array<ArrayBuffer>, { status: res.status, headers: res.headers });
}

for (const suite of SUITES) {
  describe(`issue 13 on the wire (${suite.id})`, async () => {
    const genuine = await generateVaultSetup(suite);
    const attacker = await generateVaultSetup(suite);
    const trust = pinnedFleets([{ fleetId: FLEET, suite: suite.id, publicKey: genuine.publicKey }]);
    const verifyToken = async (t: string) => (t === 'tok' ? ACCOUNT : undefined);
    const mkVault = () => {
      const store = createMemoryVaultStore();
      return { store, handler: createVaultHandler({ fleetId: FLEET, setup: genuine.setup, store, verifyToken, suite, guessLimit: 5 }) };
    };
    const mkClient = (fetch: VaultFetch) =>
      createVaultClient({ fleetId: FLEET, accountId: ACCOUNT, baseUrl: 'http://vault.test', fetch, getToken: async () => 'tok', trust, suite, retries: 0 });

    it('finding 2: a registration response with a swapped OPRF evaluation is refused before anything is uploaded', async () => {
      const { store, handler } = mkVault();
      // The attacker's OPRF key: its own setup, under a credential identifier of its choosing.
      const evil = suite.server(attacker.setup, { serverIdentity: opaqueBinding(FLEET, suite.id, ACCOUNT, attacker.publicKey).serverIdentity });
      const evilBinding = opaqueBinding(FLEET, suite.id, ACCOUNT, attacker.publicKey, new Uint8Array(32));
      const npk = genuine.publicKey.length;
      let captured: Uint8Array | undefined;
      let swapped = 0;
      const mitm: VaultFetch = async (req) => {
        const m = parseVaultMessage(await body(req), 'request');
        if (m.type === 'register-finish') captured = m.record;
        const res = await handler(req);
        if (m.type !== 'register-init') return res;
        // response = evaluated element ‖ server public key: keep the genuine, trusted key (and
        // everything else the vault sent) and put the attacker's evaluation in front of it.
        const own = await evil.registrationResponse(m.request, evilBinding);
        swapped++;
        return rewriteResponse(res, (b) => {
          const r = parseVaultMessage(b, 'response');
          if (r.type !== 'register-response') return b;
          const n = r.response.length - npk;
          return encodeVaultMessage({ ...r, response: concatBytes(own.subarray(0, n), r.response.subarray(n)) });
        });
      };

      const outcome = await mkClient(mitm)
        .enroll({ password: pin('4821'), keyring: createKeyring() })
        .then(
          () => 'enrolled',
          (e: unknown) => e,
        );
      expect(swapped).toBe(1);
      if (captured !== undefined) {
        // The attack worked: test PINs offline against the uploaded record's masking key.
        const mask = (record: Uint8Array) => record.subarray(npk, npk + (npk === 33 ? 32 : 64));
        let found: string | undefined;
        let tries = 0;
        for (let i = 4780; i < 4830 && found === undefined; i++) {
          tries++;
          const reg = await suite.startRegistration(pin(String(i)));
          const resp = await evil.registrationResponse(reg.request, evilBinding);
          const { record, exportKey } = await reg.finish(resp, opaqueBinding(FLEET, suite.id, ACCOUNT, genuine.publicKey));
          exportKey.fill(0);
          if (equalBytes(mask(record), mask(captured))) found = String(i);
        }
        expect.fail(`the client enrolled through the MITM (${String(outcome)}); PIN ${found} cracked offline in ${tries} guesses`);
      }
      expect(isBackupError(outcome, 'FLEET_KEY_MISMATCH')).toBe(true);
      expect(store.dump().size).toBe(0);
    });

    it('finding 5: an on-path change of the login-finish intent is refused, and releases no grant', async () => {
      const { store, handler } = mkVault();
      await mkClient(handler).enroll({ password: pin('1111'), keyring: createKeyring() });
      for (const [from, to, op] of [
        [0, 1, 'recover'],
        [1, 0, 'change'],
      ] as const) {
        let flipped = 0;
        const flip: VaultFetch = async (req) => {
          const b = await body(req);
          const m = parseVaultMessage(b, 'request');
          if (m.type === 'login-finish' && m.intent !== 'abort') {
            const at = encodeHeader('login-finish', m).length;
            expect(b[at]).toBe(from);
            b[at] = to;
            flipped++;
            return handler(withBody(req, b));
          }
          return handler(req);
        };
        const c = mkClient(flip);
        const outcome = await (op === 'recover'
          ? c.recover({ password: pin('1111') })
          : c.changeCode({ oldPassword: pin('1111'), newPassword: pin('2222') })
        ).then(
          () => 'accepted',
          (e: unknown) => e,
        );
        expect(flipped).toBe(1);
        const state = decodeAccountState([...store.dump().values()][0]!);
        expect([op, state.grantHash.length]).toEqual([op, 0]);
        expect([op, isBackupError(outcome, 'PROTOCOL') ? 'PROTOCOL' : String(outcome)]).toEqual([op, 'PROTOCOL']);
      }
      // The code was not changed, and the right code still recovers.
      await mkClient(handler).recover({ password: pin('1111') });
    });

    it('finding 5: an on-path change of the login-init intent fails the AKE (KE2 MAC): no KE3 is sent, no grant', async () => {
      const { store, handler } = mkVault();
      await mkClient(handler).enroll({ password: pin('1111'), keyring: createKeyring() });
      const sent: string[] = [];
      const flip: VaultFetch = async (req) => {
        const b = await body(req);
        const m = parseVaultMessage(b, 'request');
        sent.push(m.type === 'login-finish' ? `login-finish:${m.intent}` : m.type);
        if (m.type === 'login-init') {
          b[encodeHeader('login-init', m).length] = 1; // recover -> change
          return handler(withBody(req, b));
        }
        return handler(req);
      };
      const outcome = await mkClient(flip)
        .recover({ password: pin('1111') })
        .then(
          () => 'recovered',
          (e: unknown) => e,
        );
      // The client cannot tell a tampered KE2 from a wrong code: the guess is spent, nothing is released.
      expect(isBackupError(outcome, 'WRONG_CODE')).toBe(true);
      expect(sent).toEqual(['login-init', 'login-finish:abort']);
      expect(decodeAccountState([...store.dump().values()][0]!).grantHash.length).toBe(0);
    });
  });
}
