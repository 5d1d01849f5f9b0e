// RFC 9807 Appendix C: every real and fake OPAQUE-3DH test vector for ristretto255-SHA512 and
// P256-SHA256 (test/vectors/rfc9807-opaque.json, source and license named there), run through the
// same functions the suite runs, client and server, with the vectors' randomness and the Identity KSF.
import { describe, expect, it } from 'vitest';
import vectors from '../vectors/rfc9807-opaque.json' with { type: 'json' };
import {
  blindedMessage,
  createRegistrationResponse,
  finalizeRegistrationRequest,
  generateKE1,
  generateKE2,
  generateKE3,
  serverFinish,
  sizes,
} from '../../lib/recovery/opaque/rfc9807-core.js';
import { ristretto255Group } from '../../lib/recovery/opaque/rfc9807-groups.js';
import { p256Group } from '../../lib/recovery/opaque/rfc9807-p256.js';
import { INSECURE_IDENTITY_KSF_9807 } from '../../lib/recovery/opaque/rfc9807-ksf.js';
import { fromHex, toHex } from '../../lib/util/bytes.js';

type Hex = Record<string, string>;
interface Vector {
  name: string;
  fake: boolean;
  group: string;
  ksf: string;
  context: string;
  inputs: Hex;
  intermediates?: Hex;
  outputs: Hex;
}
const all = vectors.vectors as unknown as Vector[];
const group = (name: string) => (name === 'ristretto255-SHA512' ? ristretto255Group() : p256Group());
const h = (x: Hex, k: string): Uint8Array => {
  const v = x[k];
  if (v === undefined) throw new Error(`vector lacks ${k}`);
  return fromHex(v);
};
const opt = (x: Hex, k: string): Uint8Array | undefined => (x[k] === undefined ? undefined : fromHex(x[k]));

describe('RFC 9807 Appendix C vectors', () => {
  it('covers every real and fake vector of both groups, all with the Identity KSF', () => {
    expect(all.map((v) => `${v.fake ? 'fake' : 'real'} ${v.group}`).sort()).toEqual([
      'fake P256-SHA256',
      'fake ristretto255-SHA512',
      'real P256-SHA256',
      'real P256-SHA256',
      'real ristretto255-SHA512',
      'real ristretto255-SHA512',
    ]);
    expect(new Set(all.map((v) => v.ksf))).toEqual(new Set(['Identity']));
  });

  for (const v of all.filter((x) => !x.fake)) {
    it(`${v.name} (${v.group}): registration, KE1, KE2, KE3, session and export keys`, async () => {
      const g = group(v.group);
      const i = v.inputs;
      const o = v.outputs;
      const m = v.intermediates!;
      const ksf = INSECURE_IDENTITY_KSF_9807;
      const password = h(i, 'password');
      const cid = opt(i, 'client_identity');
      const sid = opt(i, 'server_identity');
      const context = fromHex(v.context);
      expect(toHex(g.publicKey(h(i, 'server_private_key')))).toBe(i.server_public_key);

      // Registration: client request, server response, client record.
      const request = blindedMessage(g, password, h(i, 'blind_registration'));
      expect(toHex(request)).toBe(o.registration_request);
      const response = createRegistrationResponse(g, request, h(i, 'server_public_key'), h(i, 'credential_identifier'), h(i, 'oprf_seed'));
      expect(toHex(response)).toBe(o.registration_response);
      const reg = await finalizeRegistrationRequest(g, ksf, password, h(i, 'blind_registration'), response, sid, cid, h(i, 'envelope_nonce'));
      expect(toHex(reg.record)).toBe(o.registration_upload);
      expect(toHex(reg.exportKey)).toBe(o.export_key);
      const s = sizes(g);
      expect(toHex(reg.record.subarray(0, s.Npk))).toBe(m.client_public_key);
      expect(toHex(reg.record.subarray(s.Npk + s.Nh))).toBe(m.envelope);

      // Login: KE1 (client), KE2 (server), KE3 (client), ServerFinish.
      const blind = h(i, 'blind_login');
      const state = generateKE1(g, blindedMessage(g, password, blind), blind, h(i, 'client_nonce'), h(i, 'client_keyshare_seed'));
      expect(toHex(state.ke1)).toBe(o.KE1);
      const server = generateKE2(
        g,
        sid,
        h(i, 'server_private_key'),
        h(i, 'server_public_key'),
        fromHex(o.registration_upload!),
        h(i, 'credential_identifier'),
        h(i, 'oprf_seed'),
        fromHex(o.KE1!),
        cid,
        context,
        h(i, 'masking_nonce'),
        h(i, 'server_nonce'),
        h(i, 'server_keyshare_seed'),
      );
      expect(toHex(server.ke2)).toBe(o.KE2);
      const client = await generateKE3(g, ksf, password, state, cid, sid, fromHex(o.KE2!), context);
      expect(client).toBeDefined();
      expect(toHex(client!.ke3)).toBe(o.KE3);
      expect(toHex(client!.sessionKey)).toBe(o.session_key);
      expect(toHex(client!.exportKey)).toBe(o.export_key);
      expect(toHex(serverFinish(g, fromHex(o.KE3!), server.expected)!)).toBe(o.session_key);

      // A wrong password does not open the envelope; a flipped KE3 bit does not finish.
      const wrong = Uint8Array.from(password);
      wrong[0]! ^= 1;
      const st2 = generateKE1(g, blindedMessage(g, wrong, blind), blind, h(i, 'client_nonce'), h(i, 'client_keyshare_seed'));
      const ke2b = generateKE2(g, sid, h(i, 'server_private_key'), h(i, 'server_public_key'), fromHex(o.registration_upload!), h(i, 'credential_identifier'), h(i, 'oprf_seed'), st2.ke1, cid, context, h(i, 'masking_nonce'), h(i, 'server_nonce'), h(i, 'server_keyshare_seed'));
      expect(await generateKE3(g, ksf, wrong, st2, cid, sid, ke2b.ke2, context)).toBeUndefined();
      const bad = fromHex(o.KE3!);
      bad[5]! ^= 0x80;
      expect(serverFinish(g, bad, server.expected)).toBeUndefined();
    });
  }

  for (const v of all.filter((x) => x.fake)) {
    it(`${v.name} (${v.group}): KE2 for an unregistered client (fake record)`, () => {
      const g = group(v.group);
      const i = v.inputs;
      const s = sizes(g);
      const fakeRecord = new Uint8Array(s.record);
      fakeRecord.set(h(i, 'client_public_key'), 0);
      fakeRecord.set(h(i, 'masking_key'), s.Npk);
      expect(toHex(g.publicKey(h(i, 'client_private_key')))).toBe(i.client_public_key);
      const out = generateKE2(
        g,
        opt(i, 'server_identity'),
        h(i, 'server_private_key'),
        h(i, 'server_public_key'),
        fakeRecord,
        h(i, 'credential_identifier'),
        h(i, 'oprf_seed'),
        h(i, 'KE1'),
        opt(i, 'client_identity'),
        fromHex(v.context),
        h(i, 'masking_nonce'),
        h(i, 'server_nonce'),
        h(i, 'server_keyshare_seed'),
      );
      expect(toHex(out.ke2)).toBe(v.outputs.KE2);
    });
  }
});
