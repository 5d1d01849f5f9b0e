// The RFC 9807 suite behind the OpaqueSuite interface: ids and their parsing, register/login for
// both groups, wrong code as an outcome, malformed messages as PROTOCOL, setup checks, single use,
// the KSFs cross-checked against node:crypto (scrypt) and the RFC 9106 test vector (Argon2id).
import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { opaqueBinding } from '../../lib/recovery/protocol.js';
import {
  RFC9807_DEFAULT_SUITE_ID,
  RFC9807_SERENITY_SUITE_ID,
  Rfc9807Suite,
  isRfc9807SuiteId,
  rfc9807Suite,
  type Rfc9807GroupName,
} from '../../lib/recovery/opaque/rfc9807.js';
import { INSECURE_IDENTITY_KSF_9807, argon2idKsf, parseKsf, scryptKsf } from '../../lib/recovery/opaque/rfc9807-ksf.js';
import { Rfc9807ClientSuite, rfc9807ClientSuite } from '../../lib/recovery/opaque/rfc9807-client.js';
import { suiteForFleet } from '../../lib/recovery/opaque/suites.js';
import { pinnedFleets } from '../../lib/recovery/fleet-trust.js';
import { toHex, utf8 } from '../../lib/util/bytes.js';
import { enableRfc9807Extras } from '../../lib/rfc9807-extras.js';

// P-256 and scrypt are opt-in outside the server (test/recovery/opaque-rfc9807-extras.test.ts).
enableRfc9807Extras();

async function protocolError(p: Promise<unknown> | (() => unknown)): Promise<boolean> {
  try {
    await (typeof p === 'function' ? p() : p);
    return false;
  } catch (e) {
    return isBackupError(e, 'PROTOCOL');
  }
}

describe('RFC 9807 suite ids', () => {
  it('the default and the serenity ids parse to suites with those ids', () => {
    expect(rfc9807Suite().id).toBe(RFC9807_DEFAULT_SUITE_ID);
    expect(rfc9807Suite(RFC9807_SERENITY_SUITE_ID).id).toBe(RFC9807_SERENITY_SUITE_ID);
    expect(rfc9807Suite('rfc9807/P256-SHA256/scrypt-N32768-r8-p1').id).toBe('rfc9807/P256-SHA256/scrypt-N32768-r8-p1');
  });

  it('refuses unknown groups, the identity KSF, out-of-bound and non-canonical parameters', () => {
    for (const bad of [
      'rfc9807/curve25519-SHA512/argon2id-m65536-t1-p1',
      'rfc9807/ristretto255-SHA512/identity-INSECURE',
      'rfc9807/ristretto255-SHA512/argon2id-m1024-t1-p1', // too little memory
      'rfc9807/ristretto255-SHA512/argon2id-m65536-t0-p1',
      'rfc9807/ristretto255-SHA512/argon2id-m065536-t1-p1',
      'rfc9807/ristretto255-SHA512/argon2id-m65536-t01-p1', // leading zeros anywhere
      'rfc9807/ristretto255-SHA512/argon2id-m65536-t1-p01',
      'rfc9807/ristretto255-SHA512/argon2id-m2097153-t1-p1', // over 2^21 KiB
      'rfc9807/ristretto255-SHA512/argon2id-m99999999-t1-p1',
      'rfc9807/ristretto255-SHA512/argon2id-m999999999-t1-p1', // more digits than the parser reads
      'rfc9807/ristretto255-SHA512/argon2id-m65536-t11-p1',
      'rfc9807/ristretto255-SHA512/argon2id-m65536-t1-p17',
      'rfc9807/ristretto255-SHA512/argon2id-m65536-t1-p0',
      'rfc9807/ristretto255-SHA512/argon2id-m+65536-t1-p1',
      'rfc9807/ristretto255-SHA512/argon2id-m65536.0-t1-p1',
      'rfc9807/ristretto255-SHA512/argon2id-m65536-t1-p1 ',
      'rfc9807/ristretto255-SHA512/argon2id-m6e4-t1-p1',
      'rfc9807/P256-SHA256/scrypt-N30000-r8-p1', // not a power of two
      'rfc9807/P256-SHA256/scrypt-N1048576-r32-p1', // 4 GiB
      'opaque-ts/P256-SHA256-scrypt/v1',
      'rfc9807/ristretto255-SHA512/argon2id-m65536-t1-p1/v1',
    ]) {
      expect(isRfc9807SuiteId(bad)).toBe(false);
      expect(() => rfc9807Suite(bad)).toThrow(RangeError);
    }
    expect(parseKsf('identity-INSECURE')).toBeUndefined();
    expect(() => new Rfc9807Suite('ristretto255-SHA512', { id: 'bad id', stretch: async (x) => x })).toThrow(TypeError);
  });

  it("the vault client's suites are the client side: the same ids, no vault side (docs/SIZE.md)", async () => {
    const c = rfc9807ClientSuite(RFC9807_DEFAULT_SUITE_ID)!;
    expect(c).toBeInstanceOf(Rfc9807ClientSuite);
    expect(c).not.toBeInstanceOf(Rfc9807Suite);
    expect(c.id).toBe(RFC9807_DEFAULT_SUITE_ID);
    expect(() => c.server(new Uint8Array(128), { serverIdentity: new Uint8Array(32) })).toThrow(/e2ee-backup\/protocol/);
    try {
      c.server(new Uint8Array(128), { serverIdentity: new Uint8Array(32) });
    } catch (e) {
      expect(isBackupError(e, 'ENGINE_UNAVAILABLE')).toBe(true);
    }
    expect(rfc9807ClientSuite('rfc9807/ristretto255-SHA512/identity-INSECURE')).toBeUndefined();
    // What the vault client resolves from trust: with no entry, and with an entry naming a suite.
    const none = await suiteForFleet(pinnedFleets([]), 'f');
    expect([none.id, none instanceof Rfc9807ClientSuite]).toEqual([RFC9807_DEFAULT_SUITE_ID, true]);
    const pk = rfc9807Suite().setupPublicKey(await rfc9807Suite().generateServerSetup());
    const named = await suiteForFleet(pinnedFleets([{ fleetId: 'f', suite: RFC9807_SERENITY_SUITE_ID, publicKey: pk }]), 'f');
    expect([named.id, named instanceof Rfc9807Suite]).toEqual([RFC9807_SERENITY_SUITE_ID, false]);
  });

  it('scrypt is RFC 7914 scrypt with a 16-byte zero salt (cross-checked with node:crypto)', async () => {
    const input = utf8('oprf output');
    const ours = await scryptKsf({ N: 16384, r: 8, p: 1 }).stretch(input, 32);
    expect(toHex(ours)).toBe(scryptSync(input, new Uint8Array(16), 32, { N: 16384, r: 8, p: 1 }).toString('hex'));
  });

  it('argon2id: id names its parameters, Nh bytes out (checked against opaque-ke in the interop test)', async () => {
    const k = argon2idKsf({ m: 16384, t: 1, p: 1 });
    expect(k.id).toBe('argon2id-m16384-t1-p1');
    const a = await k.stretch(utf8('x'), 64);
    expect(a.length).toBe(64);
    expect(toHex(await k.stretch(utf8('x'), 64))).toBe(toHex(a));
  });
});

describe.each(['ristretto255-SHA512', 'P256-SHA256'] as Rfc9807GroupName[])('RFC 9807 suite, %s (identity KSF)', (group) => {
  const suite = new Rfc9807Suite(group, INSECURE_IDENTITY_KSF_9807);
  const setupP = suite.generateServerSetup();

  async function fixture() {
    const setup = await setupP;
    const pk = suite.setupPublicKey(setup);
    const bind = (account = 'acct', key = pk) => opaqueBinding('fleet-r', suite.id, account, key);
    const server = suite.server(setup, { serverIdentity: bind().serverIdentity });
    const register = async (password: Uint8Array) => {
      const reg = await suite.startRegistration(password);
      const response = await server.registrationResponse(reg.request, bind());
      expect(toHex(reg.serverPublicKey(response))).toBe(toHex(pk));
      return reg.finish(response, bind());
    };
    return { setup, pk, bind, server, register };
  }

  it('id names the group and the KSF', () => {
    expect(suite.id).toBe(`rfc9807/${group}/identity-INSECURE`);
  });

  it('register then log in: same export key, shared session key, KE3 verifies', async () => {
    const { bind, server, register } = await fixture();
    const { record, exportKey } = await register(utf8('correct horse'));
    server.checkRecord(record);
    const login = await suite.startLogin(utf8('correct horse'));
    const { ke2, expected } = await server.startLogin(login.ke1, record, bind());
    const out = await login.finish(ke2, bind());
    expect(out).toBeDefined();
    expect(toHex(out!.exportKey)).toBe(toHex(exportKey));
    expect(toHex(server.finishLogin(out!.ke3, expected)!)).toBe(toHex(out!.sessionKey));
    const flipped = Uint8Array.from(out!.ke3);
    flipped[0]! ^= 1;
    expect(server.finishLogin(flipped, expected)).toBeUndefined();
    await expect(login.finish(ke2, bind())).rejects.toThrow(/already finished/);
  });

  it('a wrong code, another account or another server key is an ordinary undefined', async () => {
    const { pk, bind, server, register } = await fixture();
    const { record } = await register(utf8('right'));
    const run = async (pw: string, b = bind()) => {
      const login = await suite.startLogin(utf8(pw));
      const { ke2 } = await server.startLogin(login.ke1, record, b);
      return login.finish(ke2, b);
    };
    expect(await run('wrong')).toBeUndefined();
    // The vault derives the OPRF key from the account's credential identifier: another account's
    // binding gives another OPRF output, and the client identity is in the envelope MAC.
    expect(await run('right', bind('other'))).toBeUndefined();
    // A server identity naming another key (what a client checks at login) does not open the envelope.
    const other = Uint8Array.from(pk);
    other[other.length - 1]! ^= 1;
    const login = await suite.startLogin(utf8('right'));
    const { ke2 } = await server.startLogin(login.ke1, record, bind());
    expect(await login.finish(ke2, bind('acct', other))).toBeUndefined();
  });

  it('malformed messages are PROTOCOL: lengths, non-canonical and identity elements', async () => {
    const { bind, server, register } = await fixture();
    const { record } = await register(utf8('pw'));
    const reg = await suite.startRegistration(utf8('pw'));
    const zeros = (n: number) => new Uint8Array(n);
    const ff = (n: number) => new Uint8Array(n).fill(0xff);
    expect(await protocolError(server.registrationResponse(reg.request.subarray(1), bind()))).toBe(true);
    expect(await protocolError(server.registrationResponse(zeros(reg.request.length), bind()))).toBe(true);
    expect(await protocolError(server.registrationResponse(ff(reg.request.length), bind()))).toBe(true);
    const response = await server.registrationResponse(reg.request, bind());
    expect(await protocolError(() => reg.serverPublicKey(response.subarray(2)))).toBe(true);
    const badKey = Uint8Array.from(response);
    badKey.fill(0xff, response.length / 2);
    expect(await protocolError(reg.finish(badKey, bind()))).toBe(true);

    const login = await suite.startLogin(utf8('pw'));
    expect(await protocolError(server.startLogin(login.ke1.subarray(1), record, bind()))).toBe(true);
    const badKe1 = Uint8Array.from(login.ke1);
    badKe1.fill(0xff, badKe1.length - 32);
    expect(await protocolError(server.startLogin(badKe1, record, bind()))).toBe(true);
    expect(await protocolError(server.startLogin(login.ke1, record.subarray(1), bind()))).toBe(true);
    const badRecord = Uint8Array.from(record);
    badRecord.fill(0xff, 0, 32);
    expect(await protocolError(() => server.checkRecord(badRecord))).toBe(true);
    const { ke2, expected } = await server.startLogin(login.ke1, record, bind());
    expect(await protocolError(() => server.finishLogin(new Uint8Array(3), expected))).toBe(true);
    expect(await protocolError(login.finish(ke2.subarray(0, ke2.length - 1), bind()))).toBe(true);
    const login2 = await suite.startLogin(utf8('pw'));
    const badKe2 = Uint8Array.from((await server.startLogin(login2.ke1, record, bind())).ke2);
    badKe2.fill(0, 0, 33); // evaluated element: the identity / not canonical
    expect(await protocolError(login2.finish(badKe2, bind()))).toBe(true);
  });

  it('setup: a key pair that does not match is refused; public key is its tail', async () => {
    const { setup, pk } = await fixture();
    expect(toHex(suite.setupPublicKey(setup))).toBe(toHex(pk));
    const bad = Uint8Array.from(setup);
    bad[bad.length - 1]! ^= 1;
    expect(() => suite.server(bad, { serverIdentity: utf8('s') })).toThrow(RangeError);
    expect(() => suite.setupPublicKey(setup.subarray(1))).toThrow(RangeError);
  });

  it('passwords: bytes, not empty, bounded', async () => {
    await expect(suite.startLogin(new Uint8Array(0))).rejects.toThrow(RangeError);
    await expect(suite.startLogin(new Uint8Array(4097))).rejects.toThrow(RangeError);
    await expect(suite.startLogin('pw' as unknown as Uint8Array)).rejects.toThrow(TypeError);
  });
});
