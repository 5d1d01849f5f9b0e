// Interoperability with opaque-ke (RFC 9807) through @serenity-kit/opaque 1.1.0: registration and
// login in both directions (their client with our server, our client with their server), with
// their suite and KSF (ristretto255-SHA512, Argon2id m = 64 MiB, t = 3, p = 4: their default
// "memory-constrained") and with our default suite's Argon2id (m = 46 MiB, t = 1, p = 1, passed
// to them as "argon2id-custom"). Their messages are URL-safe base64 of the RFC's wire bytes; their
// credential identifier is the user identifier's UTF-8 bytes and their AKE context is empty.
import * as opaque from '@serenity-kit/opaque';
import { describe, expect, it } from 'vitest';
import type { OpaqueBinding } from '../../lib/recovery/protocol.js';
import { RFC9807_DEFAULT_SUITE_ID, RFC9807_SERENITY_SUITE_ID, rfc9807Suite } from '../../lib/recovery/opaque/rfc9807.js';
import { fromBase64, toBase64Url, toHex, utf8 } from '../../lib/util/bytes.js';

await opaque.ready;

const PASSWORD = 'correct horse battery staple';
const identifiers = { client: 'alice@fleet-interop', server: 'vault.example' };
const binding: OpaqueBinding = {
  context: new Uint8Array(0),
  clientIdentity: utf8(identifiers.client),
  serverIdentity: utf8(identifiers.server),
  credentialIdentifier: utf8('user-42'),
};
const b64 = (s: string) => fromBase64(s);

const cases = [
  { id: RFC9807_SERENITY_SUITE_ID, keyStretching: 'memory-constrained' as const },
  { id: RFC9807_DEFAULT_SUITE_ID, keyStretching: { 'argon2id-custom': { memory: 47104, iterations: 1, parallelism: 1 } } },
];

describe.each(cases)('opaque-ke interop, $id', ({ id, keyStretching }) => {
  const suite = rfc9807Suite(id);

  it('their client registers and logs in with our server', async () => {
    const setup = await suite.generateServerSetup();
    const server = suite.server(setup, { serverIdentity: binding.serverIdentity });
    const reg = opaque.client.startRegistration({ password: PASSWORD });
    const response = await server.registrationResponse(b64(reg.registrationRequest), binding);
    const fin = opaque.client.finishRegistration({
      password: PASSWORD,
      clientRegistrationState: reg.clientRegistrationState,
      registrationResponse: toBase64Url(response),
      identifiers,
      keyStretching,
    });
    expect(toHex(b64(fin.serverStaticPublicKey))).toBe(toHex(server.publicKey));
    const record = b64(fin.registrationRecord);
    server.checkRecord(record);

    const login = opaque.client.startLogin({ password: PASSWORD });
    const { ke2, expected } = await server.startLogin(b64(login.startLoginRequest), record, binding);
    const done = opaque.client.finishLogin({
      password: PASSWORD,
      clientLoginState: login.clientLoginState,
      loginResponse: toBase64Url(ke2),
      identifiers,
      keyStretching,
    });
    expect(done).toBeDefined();
    expect(done!.exportKey).toBe(fin.exportKey);
    const sessionKey = server.finishLogin(b64(done!.finishLoginRequest), expected);
    expect(sessionKey && toHex(sessionKey)).toBe(toHex(b64(done!.sessionKey)));

    // A wrong password: their client refuses our KE2 (undefined), and nothing verifies.
    const wrong = opaque.client.startLogin({ password: `${PASSWORD}!` });
    const r2 = await server.startLogin(b64(wrong.startLoginRequest), record, binding);
    expect(
      opaque.client.finishLogin({ password: `${PASSWORD}!`, clientLoginState: wrong.clientLoginState, loginResponse: toBase64Url(r2.ke2), identifiers, keyStretching }),
    ).toBeUndefined();
  }, 120_000);

  it('our client registers and logs in with their server', async () => {
    const serverSetup = opaque.server.createSetup();
    const userIdentifier = 'user-42';
    const reg = await suite.startRegistration(utf8(PASSWORD));
    const { registrationResponse } = opaque.server.createRegistrationResponse({
      serverSetup,
      userIdentifier,
      registrationRequest: toBase64Url(reg.request),
    });
    expect(toBase64Url(reg.serverPublicKey(b64(registrationResponse)))).toBe(opaque.server.getPublicKey(serverSetup));
    const { record, exportKey } = await reg.finish(b64(registrationResponse), binding);

    const login = await suite.startLogin(utf8(PASSWORD));
    const started = opaque.server.startLogin({
      serverSetup,
      userIdentifier,
      registrationRecord: toBase64Url(record),
      startLoginRequest: toBase64Url(login.ke1),
      identifiers,
    });
    const out = await login.finish(b64(started.loginResponse), binding);
    expect(out).toBeDefined();
    expect(toHex(out!.exportKey)).toBe(toHex(exportKey));
    const { sessionKey } = opaque.server.finishLogin({
      serverLoginState: started.serverLoginState,
      finishLoginRequest: toBase64Url(out!.ke3),
      identifiers,
    });
    expect(toHex(b64(sessionKey))).toBe(toHex(out!.sessionKey));

    // A wrong password opens nothing at their server either: an ordinary undefined.
    const wrong = await suite.startLogin(utf8(`${PASSWORD}!`));
    const s2 = opaque.server.startLogin({
      serverSetup,
      userIdentifier,
      registrationRecord: toBase64Url(record),
      startLoginRequest: toBase64Url(wrong.ke1),
      identifiers,
    });
    expect(await wrong.finish(b64(s2.loginResponse), binding)).toBeUndefined();
  }, 120_000);
});
