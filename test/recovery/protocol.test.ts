// Vault wire messages: frozen vectors, fast-check round trips, and the parser on hostile bytes
// (every failure a typed PROTOCOL error). The escrow transport is cross-checked against
// node:crypto's HKDF and libsodium's XChaCha20-Poly1305.
import { ECDH, createECDH, createHash, createHmac, hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { LABELS } from '../../lib/labels.js';
import {
  ATTEMPT_ID_BYTES,
  encodeHeader,
  encodeVaultMessage,
  opaqueBinding,
  openEscrowTransport,
  parseVaultMessage,
  PROTOCOL_VERSION,
  registrationKeys,
  sealEscrowTransport,
  verifyRegistrationMac,
  type VaultMessage,
} from '../../lib/recovery/protocol.js';
import { concatBytes, fromHex, fromUtf8, toHex, utf8 } from '../../lib/util/bytes.js';
import messages from '../vectors/protocol-messages.json' with { type: 'json' };
import binding from '../vectors/protocol-binding.json' with { type: 'json' };

const BYTE_FIELDS = new Set(['ticket', 'attemptId', 'request', 'record', 'escrow', 'grant', 'ke1', 'ke2', 'ke3', 'response', 'serverPublicKey', 'sealed', 'ephemeralKey', 'mac']);

function fromJson(m: Record<string, unknown>): VaultMessage {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, BYTE_FIELDS.has(k) ? fromHex(v as string) : v])) as unknown as VaultMessage;
}

function toJson(m: VaultMessage): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v instanceof Uint8Array ? toHex(v) : v]));
}

const direction = (m: VaultMessage) => (['register-init', 'register-finish', 'login-init', 'login-finish', 'status', 'remove'].includes(m.type) ? 'request' : 'response');

function expectProtocol(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    expect(isBackupError(e, 'PROTOCOL')).toBe(true);
    return;
  }
  throw new Error('expected a PROTOCOL error');
}

describe('vault messages: frozen vectors', () => {
  it('encodes every vector to its bytes and parses them back', () => {
    expect(messages.vectors.length).toBe(18);
    for (const v of messages.vectors) {
      const m = fromJson(v.message);
      expect(toHex(encodeVaultMessage(m))).toBe(v.encoded);
      expect(toJson(parseVaultMessage(fromHex(v.encoded), direction(m)))).toEqual(v.message);
      // A response is never accepted where a request is expected, and the reverse.
      expectProtocol(() => parseVaultMessage(fromHex(v.encoded), direction(m) === 'request' ? 'response' : 'request'));
    }
  });

  it('every strict prefix and every extension of every vector is PROTOCOL', () => {
    for (const v of messages.vectors) {
      const b = fromHex(v.encoded);
      for (let n = 0; n < b.length; n++) expectProtocol(() => parseVaultMessage(b.subarray(0, n), direction(fromJson(v.message))));
      expectProtocol(() => parseVaultMessage(concatBytes(b, Uint8Array.of(0)), direction(fromJson(v.message))));
    }
  });

  it('a message of another protocol version (v1 included) is PROTOCOL, saying which version', () => {
    expect(PROTOCOL_VERSION).toBe(2);
    for (const v of messages.vectors) {
      for (const version of [0, 1, 3, 255]) {
        const b = fromHex(v.encoded);
        b[4] = version;
        expect(() => parseVaultMessage(b, direction(fromJson(v.message)))).toThrow(new RegExp(`unsupported protocol version ${version}\\b`));
        expectProtocol(() => parseVaultMessage(b, direction(fromJson(v.message))));
      }
    }
  });

  it('a parsed view with a non-zero byte offset reads the same', () => {
    const v = messages.vectors[11]!;
    const buf = new Uint8Array(fromHex(v.encoded).length + 7);
    buf.set(fromHex(v.encoded), 7);
    expect(toJson(parseVaultMessage(buf.subarray(7), 'response'))).toEqual(v.message);
  });

  it('OPAQUE binding strings match the vector', () => {
    const b = binding.binding;
    const out = opaqueBinding(b.fleetId, b.suite, b.accountId, fromHex(b.serverPublicKey), fromHex(b.credentialSalt));
    expect(fromUtf8(out.context)).toBe(b.context);
    // The login intent is part of the AKE context (issue 13, finding 5); nothing else depends on it.
    const change = opaqueBinding(b.fleetId, b.suite, b.accountId, fromHex(b.serverPublicKey), fromHex(b.credentialSalt), 'change');
    expect(fromUtf8(change.context)).toBe(b.contextChange);
    expect(fromUtf8(change.clientIdentity)).toBe(b.clientIdentity);
    expect(JSON.parse(b.context).at(-1)).toBe('recover');
    expect(fromUtf8(out.clientIdentity)).toBe(b.clientIdentity);
    expect(fromUtf8(out.serverIdentity)).toBe(b.serverIdentity);
    expect(fromUtf8(out.credentialIdentifier)).toBe(b.credentialIdentifier);
    expect(JSON.parse(b.context)[0]).toBe(LABELS.opaqueContext);
  });
});

describe('registration authentication (docs/PROTOCOL.md §3.1)', () => {
  const a = messages.registrationAuth;
  const init = fromJson(messages.vectors[0]!.message);
  const response = fromJson(messages.vectors[9]!.message);
  const finishes = [fromJson(messages.vectors[1]!.message), fromJson(messages.vectors[2]!.message)];

  it('matches the vector, and node:crypto ECDH (P-256), HKDF-SHA-256 and HMAC-SHA-256', () => {
    if (init.type !== 'register-init' || response.type !== 'register-response') throw new Error('vector order');
    // DH: both sides of the exchange give the same point; its x-coordinate is node's ECDH secret.
    const client = ECDH.convertKey(toHex(init.ephemeralKey), 'prime256v1', 'hex', 'hex', 'compressed');
    expect(client).toBe(toHex(init.ephemeralKey));
    const server = createECDH('prime256v1');
    server.setPrivateKey(Buffer.from(a.serverSecret, 'hex'));
    expect(toHex(Uint8Array.from(server.getPublicKey(null, 'compressed')))).toBe(a.serverPublicKey);
    const x = toHex(Uint8Array.from(server.computeSecret(Buffer.from(init.ephemeralKey))));
    expect(a.dh.slice(2)).toBe(x);
    expect(['02', '03']).toContain(a.dh.slice(0, 2));
    // Keys: HKDF-SHA-256 with an empty salt and the documented info strings.
    const initHash = createHashHex(encodeVaultMessage(init));
    const label = utf8(LABELS.vaultRegistrationAuth);
    const info = (role: string, ...rest: Uint8Array[]) => concatBytes(label, Uint8Array.of(0), utf8(role), Uint8Array.of(0), fromHex(initHash), ...rest);
    const rk = new Uint8Array(hkdfSync('sha256', fromHex(a.dh), new Uint8Array(0), info('response'), 32));
    const fk = new Uint8Array(hkdfSync('sha256', fromHex(a.dh), new Uint8Array(0), info('finish', fromHex(createHashHex(response.response))), 32));
    expect([toHex(rk), toHex(fk)]).toEqual([a.responseKey, a.finishKey]);
    const keys = registrationKeys(fromHex(a.dh), init, response.response);
    expect([toHex(keys.responseKey), toHex(keys.finishKey)]).toEqual([a.responseKey, a.finishKey]);
    // MACs: HMAC-SHA-256 over every encoded byte before the 4-byte length and the 32-byte MAC.
    const mac = (key: Uint8Array, m: VaultMessage) => {
      const b = encodeVaultMessage(m);
      return createHmac('sha256', key).update(b.subarray(0, b.length - 36)).digest('hex');
    };
    expect(mac(rk, response)).toBe(toHex(response.mac));
    expect(verifyRegistrationMac(keys.responseKey, response)).toBe(true);
    for (const f of finishes) {
      if (f.type !== 'register-finish') throw new Error('vector order');
      expect(mac(fk, f)).toBe(toHex(f.mac));
      expect(verifyRegistrationMac(keys.finishKey, f)).toBe(true);
      // Any other byte before the MAC (the mode, say) fails it.
      expect(verifyRegistrationMac(keys.finishKey, { ...f, mode: f.mode === 'reset' ? 'new' : 'reset', grant: new Uint8Array(0) })).toBe(false);
    }
    // Another response (another evaluation) gives another finish key; the response key is the init's.
    const other = registrationKeys(fromHex(a.dh), init, Uint8Array.from(response.response, (v, i) => (i === 0 ? v ^ 1 : v)));
    expect(toHex(other.responseKey)).toBe(a.responseKey);
    expect(toHex(other.finishKey)).not.toBe(a.finishKey);
  });
});

function createHashHex(b: Uint8Array): string {
  return toHex(Uint8Array.from(createHash('sha256').update(b).digest()));
}

describe('escrow transport', () => {
  const t = binding.escrowTransport;
  const header = { ...t.header, attemptId: fromHex(t.header.attemptId) };

  it('matches the vector, node:crypto HKDF and libsodium XChaCha20-Poly1305', async () => {
    const sealed = sealEscrowTransport(fromHex(t.sessionKey), header, fromHex(t.escrow), fromHex(t.grant), () => fromHex(t.nonce));
    expect(toHex(sealed)).toBe(t.sealed);
    // Independent: HKDF-SHA-256 (RFC 5869) from node:crypto, AEAD from libsodium.
    await sodium.ready;
    const hdr = encodeHeader('login-result', header);
    const info = concatBytes(utf8(LABELS.escrowTransport), Uint8Array.of(0), hdr);
    const key = new Uint8Array(hkdfSync('sha256', fromHex(t.sessionKey), new Uint8Array(0), info, 32));
    const plain = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed.subarray(24), hdr, sealed.subarray(0, 24), key);
    const len = new DataView(plain.buffer, plain.byteOffset).getUint32(0);
    expect(toHex(plain.subarray(4, 4 + len))).toBe(t.escrow);
    expect(toHex(plain.subarray(4 + len))).toBe(t.grant);
    expect(toHex(openEscrowTransport(fromHex(t.sessionKey), header, sealed).escrow)).toBe(t.escrow);
  });

  it('any flipped bit, another attempt id or another session key is PROTOCOL', () => {
    const sealed = fromHex(t.sealed);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: sealed.length * 8 - 1 }), (bit) => {
        const b = Uint8Array.from(sealed);
        b[bit >> 3]! ^= 1 << (bit & 7);
        expectProtocol(() => openEscrowTransport(fromHex(t.sessionKey), header, b));
      }),
      { numRuns: 200 },
    );
    expectProtocol(() => openEscrowTransport(fromHex(t.sessionKey), { ...header, attemptId: new Uint8Array(16) }, sealed));
    expectProtocol(() => openEscrowTransport(new Uint8Array(32), header, sealed));
    expectProtocol(() => openEscrowTransport(fromHex(t.sessionKey), header, sealed.subarray(0, 30)));
  });
});

// --- properties -----------------------------------------------------------------------------

const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/);
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const count = fc.integer({ min: 0, max: 1000 });
const header = fc.record({
  fleetId: name,
  suite: name,
  accountId: fc.stringMatching(/^[\x21-\x7e]{1,40}$/),
  attemptId: bytes(ATTEMPT_ID_BYTES, ATTEMPT_ID_BYTES),
});
const body: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ type: fc.constant('register-init'), mode: fc.constantFrom('new', 'replace', 'reset'), request: bytes(1, 80), ephemeralKey: bytes(1, 65) }),
  fc.constantFrom('new', 'reset').chain((mode) =>
    fc.record({
      type: fc.constant('register-finish'),
      mode: fc.constant(mode),
      record: bytes(1, 200),
      escrow: bytes(1, 300),
      grant: fc.constant(new Uint8Array(0)),
      ticket: bytes(1, 256),
      mac: bytes(32, 32),
    }),
  ),
  fc.record({ type: fc.constant('register-finish'), mode: fc.constant('replace'), record: bytes(1, 200), escrow: bytes(1, 300), grant: bytes(32, 32), ticket: bytes(1, 256), mac: bytes(32, 32) }),
  fc.record({ type: fc.constant('login-init'), intent: fc.constantFrom('recover', 'change'), ke1: bytes(1, 120) }),
  fc.record({ type: fc.constantFrom('login-finish'), intent: fc.constantFrom('recover', 'change'), ke3: bytes(1, 64) }),
  fc.record({ type: fc.constant('login-finish'), intent: fc.constant('abort'), ke3: fc.constant(new Uint8Array(0)) }),
  fc.record({ type: fc.constantFrom('status', 'remove', 'removed') }),
  fc.record({ type: fc.constant('register-response'), response: bytes(1, 100), ticket: bytes(1, 256), mac: bytes(32, 32) }),
  fc.record({ type: fc.constant('registered'), guessLimit: count }),
  fc.record({ type: fc.constant('login-response'), guessesRemaining: count, serverPublicKey: bytes(1, 65), ke2: bytes(1, 300) }),
  fc.record({ type: fc.constant('login-result'), guessesRemaining: count, sealed: bytes(44, 200) }),
  fc.record({ type: fc.constant('status-result'), state: fc.constantFrom('not-enrolled', 'enrolled', 'locked-out'), guessesRemaining: count, guessLimit: count }),
  fc.record(
    { type: fc.constant('error'), code: fc.constantFrom('WRONG_CODE', 'LOCKED_OUT', 'PROTOCOL'), guessesRemaining: count, retryAfterMs: fc.nat(86_400_000) },
    { requiredKeys: ['type', 'code'] },
  ),
);
const message = fc.tuple(header, body).map(([h, b]) => ({ ...h, ...b }) as VaultMessage);

describe('vault messages: properties', () => {
  it('parse(encode(m)) = m for every well-formed message', () => {
    fc.assert(
      fc.property(message, (m) => {
        const back = parseVaultMessage(encodeVaultMessage(m), direction(m));
        expect(toJson(back)).toEqual(toJson(m));
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes and mutated messages only ever fail with PROTOCOL', () => {
    fc.assert(
      fc.property(message, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (m, flips) => {
        const b = encodeVaultMessage(m);
        for (const [i, x] of flips) b[i % b.length]! ^= x;
        for (const dir of ['request', 'response'] as const) {
          try {
            parseVaultMessage(b, dir);
          } catch (e) {
            expect(isBackupError(e, 'PROTOCOL')).toBe(true);
          }
        }
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(bytes(0, 400), (b) => {
        try {
          parseVaultMessage(b, 'request');
        } catch (e) {
          expect(isBackupError(e, 'PROTOCOL')).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('caps: an over-limit length field is refused before any allocation, with the limit', () => {
    const m = { ...fromJson(messages.vectors[3]!.message) } as VaultMessage;
    const b = encodeVaultMessage(m);
    const off = b.length - 98 - 4; // the ke1 length field
    b[off] = 0x7f; // 2 GiB claimed
    try {
      parseVaultMessage(b, 'request');
      throw new Error('accepted');
    } catch (e) {
      expect(isBackupError(e, 'PROTOCOL')).toBe(true);
      expect((e as { details: { limit?: number } }).details.limit).toBe(1024);
    }
    expect(() => parseVaultMessage(new Uint8Array(200_000), 'request')).toThrow(/over its limit/);
  });

  it('the encoder refuses what the parser would refuse, naming the field', () => {
    const h = fromJson(messages.vectors[0]!.message);
    expect(() => encodeVaultMessage({ ...h, type: 'status', fleetId: 'bad fleet' } as VaultMessage)).toThrow(RangeError);
    expect(() => encodeVaultMessage({ ...h, type: 'status', attemptId: new Uint8Array(15) } as VaultMessage)).toThrow(/attemptId/);
    expect(() => encodeVaultMessage({ ...h, type: 'login-finish', intent: 'abort', ke3: new Uint8Array(1) } as VaultMessage)).toThrow(/ke3/);
    expect(() => encodeVaultMessage({ ...h, type: 'registered', guessLimit: 1001 } as VaultMessage)).toThrow(/guessLimit/);
    expect(() => encodeVaultMessage({ ...h, type: 'login-init', intent: 'recover', ke1: 'x' } as unknown as VaultMessage)).toThrow(TypeError);
    expect(() => encodeVaultMessage({ ...h, type: 'login-init', intent: 'abort', ke1: new Uint8Array(1) } as unknown as VaultMessage)).toThrow(/intent/);
    expect(() => encodeVaultMessage({ ...fromJson(messages.vectors[9]!.message), mac: new Uint8Array(31) } as VaultMessage)).toThrow(/mac/);
  });
});
