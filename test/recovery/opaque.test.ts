// The opaque-ts suite adapter: Uint8Array boundary, wrong code as an outcome, malformed input as
// PROTOCOL, binding checks, and the scrypt KSF cross-checked against node:crypto's scrypt and
// opaque-ts's own ScryptMemHardFn (a record made with the library's KSF opens with ours).
import { scryptSync } from 'node:crypto';
import { KE1, KE3, OpaqueClient, OpaqueID, OpaqueServer, ScryptMemHardFn, getOpaqueConfig, RegistrationRecord, RegistrationRequest, RegistrationResponse } from '@cloudflare/opaque-ts';
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { INSECURE_IDENTITY_KSF, OPAQUE_TS_SUITE_ID, OpaqueTsSuite, SCRYPT_KSF, opaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import { opaqueBinding } from '../../lib/recovery/protocol.js';
import { equalBytes, toHex, utf8 } from '../../lib/util/bytes.js';

const fast = new OpaqueTsSuite(INSECURE_IDENTITY_KSF);
const setup = await fast.generateServerSetup();
const pk = fast.setupPublicKey(setup);
const bind = (account = 'acct', key = pk) => opaqueBinding('fleet-o', fast.id, account, key);
const server = fast.server(setup, { serverIdentity: bind().serverIdentity });

async function register(password: Uint8Array, suite = fast) {
  const reg = await suite.startRegistration(password);
  const response = await server.registrationResponse(reg.request, bind());
  expect(equalBytes(reg.serverPublicKey(response), pk)).toBe(true);
  return reg.finish(response, bind());
}

async function protocolError(p: Promise<unknown>): Promise<boolean> {
  return p.then(
    () => false,
    (e: unknown) => isBackupError(e, 'PROTOCOL'),
  );
}

describe('opaque-ts suite', () => {
  it('ids: the default suite is scrypt; the test KSF says INSECURE', () => {
    expect(opaqueTsSuite().id).toBe(OPAQUE_TS_SUITE_ID);
    expect(fast.id).toBe('opaque-ts/P256-SHA256-identity-INSECURE/v1');
    expect(() => new OpaqueTsSuite({ id: 'bad id', harden: (x) => x })).toThrow(TypeError);
  });

  it('register then log in: same export key, shared session key, KE3 verifies once per login', async () => {
    const { record, exportKey } = await register(utf8('correct horse'));
    const login = await fast.startLogin(utf8('correct horse'));
    const { ke2, expected } = await server.startLogin(login.ke1, record, bind());
    const out = await login.finish(ke2, bind());
    expect(out).toBeDefined();
    expect(toHex(out!.exportKey)).toBe(toHex(exportKey));
    const sk = server.finishLogin(out!.ke3, expected);
    expect(sk && toHex(sk)).toBe(toHex(out!.sessionKey));
    expect(server.finishLogin(new Uint8Array(32), expected)).toBeUndefined();
    await expect(login.finish(ke2, bind())).rejects.toThrow(/already finished/);
  });

  it('a wrong code, another account, or another announced server key is an ordinary failure', async () => {
    const { record } = await register(utf8('right'));
    for (const [password, b] of [
      [utf8('wrong'), bind()],
      [utf8('right'), bind('other-acct')],
      [utf8('right'), bind('acct', Uint8Array.from(pk, (v, i) => (i === 5 ? v ^ 1 : v)))],
    ] as const) {
      const login = await fast.startLogin(password);
      const { ke2 } = await server.startLogin(login.ke1, record, bind());
      expect(await login.finish(ke2, b)).toBeUndefined();
    }
  });

  it('malformed messages are PROTOCOL; misuse is TypeError/RangeError', async () => {
    const { record } = await register(utf8('pw'));
    expect(await protocolError(server.registrationResponse(new Uint8Array(33), bind()))).toBe(true);
    expect(await protocolError(server.registrationResponse(new Uint8Array(5), bind()))).toBe(true);
    expect(() => server.checkRecord(record.subarray(1))).toThrow(expect.objectContaining({ code: 'PROTOCOL' }));
    const login = await fast.startLogin(utf8('pw'));
    expect(await protocolError(server.startLogin(login.ke1.subarray(1), record, bind()))).toBe(true);
    const { ke2 } = await server.startLogin(login.ke1, record, bind());
    expect(await protocolError(login.finish(ke2.subarray(0, 100), bind()))).toBe(true);
    const reg = await fast.startRegistration(utf8('pw'));
    expect(() => reg.serverPublicKey(new Uint8Array(3))).toThrow(expect.objectContaining({ code: 'PROTOCOL' }));
    await expect(fast.startLogin(new Uint8Array(0))).rejects.toThrow(RangeError);
    await expect(fast.startLogin('pw' as unknown as Uint8Array)).rejects.toThrow(TypeError);
    const swapped = Uint8Array.from(setup);
    swapped[40]! ^= 1;
    expect(() => fast.server(swapped, { serverIdentity: bind().serverIdentity })).toThrow(RangeError);
  });

  it('password bytes are taken as they are, including non-UTF-8 bytes', async () => {
    const pw = Uint8Array.of(0xff, 0xfe, 0x00, 0x80);
    const { record, exportKey } = await register(pw);
    const login = await fast.startLogin(Uint8Array.of(0xff, 0xfe, 0x00, 0x80));
    const { ke2 } = await server.startLogin(login.ke1, record, bind());
    const out = await login.finish(ke2, bind());
    expect(out && toHex(out.exportKey)).toBe(toHex(exportKey));
  });

  it('scrypt KSF = node:crypto scrypt = opaque-ts ScryptMemHardFn (N=2^15, r=8, p=1, empty salt)', () => {
    const input = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    const ours = SCRYPT_KSF.harden(input);
    const node = new Uint8Array(scryptSync(input, new Uint8Array(0), 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }));
    expect(toHex(ours)).toBe(toHex(node));
    expect(toHex(ScryptMemHardFn.harden(input))).toBe(toHex(ours));
  });

  it('a record made by the plain opaque-ts client (its own scrypt) opens with this suite', async () => {
    const scryptSuite = opaqueTsSuite();
    const realServer = scryptSuite.server(setup, { serverIdentity: opaqueBinding('fleet-o', scryptSuite.id, 'acct', pk).serverIdentity });
    const b = opaqueBinding('fleet-o', scryptSuite.id, 'acct', pk);
    const cfg = getOpaqueConfig(OpaqueID.OPAQUE_P256);
    const lib = new OpaqueClient(cfg, ScryptMemHardFn);
    const pwBytes = utf8('interop');
    // The suite's password string is the hex of the password bytes (docs/PROTOCOL.md §Suites).
    const req = await lib.registerInit(toHex(pwBytes));
    if (req instanceof Error) throw req;
    const res = await realServer.registrationResponse(Uint8Array.from(req.serialize()), b);
    const dec = new TextDecoder();
    const fin = await lib.registerFinish(RegistrationResponse.deserialize(cfg, Array.from(res)), dec.decode(b.serverIdentity), dec.decode(b.clientIdentity));
    if (fin instanceof Error) throw fin;
    const login = await scryptSuite.startLogin(pwBytes);
    const { ke2 } = await realServer.startLogin(login.ke1, Uint8Array.from(fin.record.serialize()), b);
    const out = await login.finish(ke2, b);
    expect(out && toHex(out.exportKey)).toBe(toHex(Uint8Array.from(fin.export_key)));
  });

  it('this suite against the plain opaque-ts server (voprf-ts/sjcl arithmetic): the same bytes', async () => {
    const cfg = getOpaqueConfig(OpaqueID.OPAQUE_P256);
    const b = bind();
    const dec = new TextDecoder();
    const libServer = new OpaqueServer(cfg, Array.from(setup.subarray(0, 32)), { private_key: Array.from(setup.subarray(32, 64)), public_key: Array.from(pk) }, dec.decode(b.serverIdentity));
    const reg = await fast.startRegistration(utf8('cross'));
    const res = await libServer.registerInit(RegistrationRequestFrom(cfg, reg.request), dec.decode(b.credentialIdentifier));
    if (res instanceof Error) throw res;
    const resBytes = Uint8Array.from(res.serialize());
    // The per-user OPRF key and evaluation agree byte for byte with this suite's server.
    expect(toHex(resBytes)).toBe(toHex(await server.registrationResponse(reg.request, b)));
    const { record, exportKey } = await reg.finish(resBytes, b);
    const login = await fast.startLogin(utf8('cross'));
    const ke1 = KE1From(cfg, login.ke1);
    const started = await libServer.authInit(ke1, RegistrationRecordFrom(cfg, record), dec.decode(b.credentialIdentifier), dec.decode(b.clientIdentity), dec.decode(b.context));
    if (started instanceof Error) throw started;
    const out = await login.finish(Uint8Array.from(started.ke2.serialize()), b);
    expect(out && toHex(out.exportKey)).toBe(toHex(exportKey));
    const done = libServer.authFinish(KE3From(cfg, out!.ke3), started.expected);
    expect(done instanceof Error ? 'error' : toHex(Uint8Array.from(done.session_key))).toBe(toHex(out!.sessionKey));
  });
});

type Cfg = ReturnType<typeof getOpaqueConfig>;
function RegistrationRequestFrom(cfg: Cfg, b: Uint8Array) {
  return RegistrationRequest.deserialize(cfg, Array.from(b));
}
function RegistrationRecordFrom(cfg: Cfg, b: Uint8Array) {
  return RegistrationRecord.deserialize(cfg, Array.from(b));
}
function KE1From(cfg: Cfg, b: Uint8Array) {
  return KE1.deserialize(cfg, Array.from(b));
}
function KE3From(cfg: Cfg, b: Uint8Array) {
  return KE3.deserialize(cfg, Array.from(b));
}
