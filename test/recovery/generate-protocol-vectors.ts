/**
 * Writes the frozen vault protocol vectors, test/vectors/protocol-messages.json and
 * test/vectors/protocol-binding.json, from fixed inputs with the reference encoder
 * (docs/PROTOCOL.md §3, §3.1, §4, §5). Run it only when the protocol version changes:
 *
 *   npx tsx test/recovery/generate-protocol-vectors.ts
 *
 * test/recovery/protocol.test.ts checks the files, and cross-checks the registration
 * authentication (P-256 DH, HKDF, HMAC) with node:crypto.
 */
import { writeFileSync } from 'node:fs';
import { p256_hasher } from '@noble/curves/nist.js';
import {
  PROTOCOL_VERSION,
  encodeVaultMessage,
  opaqueBinding,
  registrationKeys,
  registrationMac,
  sealEscrowTransport,
  type VaultMessage,
  type VaultRequest,
} from '../../lib/recovery/protocol.js';
import { concatBytes, fromUtf8, toHex } from '../../lib/util/bytes.js';

/** `len` bytes counting up from `start` (mod 256). */
const seq = (start: number, len: number): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (start + i) & 0xff);
const json = (m: VaultMessage): Record<string, unknown> =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v instanceof Uint8Array ? toHex(v) : v]));

const h = { fleetId: 'fleet-eu-1', suite: 'opaque-ts/P256-SHA256-scrypt/v1', accountId: 'user-42', attemptId: seq(0xa0, 16) };

// Registration authentication on P-256 (the opaque-ts suite's AKE group): fixed scalars.
const Point = p256_hasher.Point;
const clientSecret = seq(0x11, 32);
const serverSecret = seq(0x21, 32);
const ephemeralKey = Point.BASE.multiply(Point.Fn.fromBytes(clientSecret)).toBytes(true);
const serverPublicKey = Point.BASE.multiply(Point.Fn.fromBytes(serverSecret)).toBytes(true);
const dh = Point.fromBytes(serverPublicKey).multiply(Point.Fn.fromBytes(clientSecret)).toBytes(true);

const init = { ...h, type: 'register-init', mode: 'new', request: seq(0x01, 33), ephemeralKey } as const satisfies VaultRequest;
const response = concatBytes(seq(0x07, 33), serverPublicKey);
const ticket = seq(0x30, 121);
const keys = registrationKeys(dh, init, response);
const unsignedResponse = { ...h, type: 'register-response', response, ticket } as const;
const finish = (mode: 'replace' | 'reset') => {
  const m = { ...h, type: 'register-finish', mode, record: seq(0x02, 129), escrow: seq(0x03, 40), grant: mode === 'replace' ? seq(0x04, 32) : new Uint8Array(0), ticket } as const;
  return { ...m, mac: registrationMac(keys.finishKey, m) };
};

const messages: VaultMessage[] = [
  init,
  finish('replace'),
  finish('reset'),
  { ...h, type: 'login-init', intent: 'recover', ke1: seq(0x05, 98) },
  { ...h, type: 'login-init', intent: 'change', ke1: seq(0x05, 98) },
  { ...h, type: 'login-finish', intent: 'recover', ke3: seq(0x06, 32) },
  { ...h, type: 'login-finish', intent: 'abort', ke3: new Uint8Array(0) },
  { ...h, type: 'status' },
  { ...h, type: 'remove' },
  { ...unsignedResponse, mac: registrationMac(keys.responseKey, unsignedResponse) },
  { ...h, type: 'registered', guessLimit: 10 },
  { ...h, type: 'login-response', guessesRemaining: 9, serverPublicKey: seq(0x08, 33), ke2: seq(0x09, 259) },
  { ...h, type: 'login-result', guessesRemaining: 10, sealed: seq(0x0a, 84) },
  { ...h, type: 'status-result', state: 'enrolled', guessesRemaining: 7, guessLimit: 10 },
  { ...h, type: 'removed' },
  { ...h, type: 'error', code: 'WRONG_CODE', guessesRemaining: 3 },
  { ...h, type: 'error', code: 'VAULT_UNAVAILABLE', retryAfterMs: 1000 },
  { ...h, type: 'error', code: 'REPLAYED' },
];

writeFileSync(
  new URL('../vectors/protocol-messages.json', import.meta.url),
  `${JSON.stringify(
    {
      description: `e2ee-backup vault protocol v${PROTOCOL_VERSION} messages (docs/PROTOCOL.md §4): fields (bytes as hex) and their exact encoding. Written by test/recovery/generate-protocol-vectors.ts with the reference encoder, then frozen. The registration MACs are real (see registrationAuth).`,
      direction: 'response types are 0x8x and 0xEE; request types 0x01..0x06',
      registrationAuth: {
        description:
          'docs/PROTOCOL.md §3.1 on P-256: dh = DiffieHellman(clientSecret, serverPublicKey) (SEC1 compressed), keys from dh and vectors[0] (register-init) and the response of vectors[9]; vectors[9].mac under responseKey, vectors[1].mac and vectors[2].mac under finishKey.',
        clientSecret: toHex(clientSecret),
        serverSecret: toHex(serverSecret),
        serverPublicKey: toHex(serverPublicKey),
        dh: toHex(dh),
        responseKey: toHex(keys.responseKey),
        finishKey: toHex(keys.finishKey),
      },
      vectors: messages.map((m) => ({ message: json(m), encoded: toHex(encodeVaultMessage(m)) })),
    },
    null,
    2,
  )}\n`,
);

// OPAQUE binding and escrow transport.
const b = { fleetId: 'fleet-eu-1', suite: 'opaque-ts/P256-SHA256-scrypt/v1', accountId: 'user-42', serverPublicKey: seq(0x20, 33), credentialSalt: seq(0x50, 32) };
const recover = opaqueBinding(b.fleetId, b.suite, b.accountId, b.serverPublicKey, b.credentialSalt, 'recover');
const change = opaqueBinding(b.fleetId, b.suite, b.accountId, b.serverPublicKey, b.credentialSalt, 'change');
const t = { sessionKey: seq(0x40, 32), escrow: seq(0x60, 57), grant: seq(0x90, 32), nonce: seq(0xc0, 24) };
writeFileSync(
  new URL('../vectors/protocol-binding.json', import.meta.url),
  `${JSON.stringify(
    {
      description: `OPAQUE binding (docs/PROTOCOL.md §3) and escrow transport (docs/PROTOCOL.md §5), protocol v${PROTOCOL_VERSION}. Written by test/recovery/generate-protocol-vectors.ts, then frozen.`,
      binding: {
        fleetId: b.fleetId,
        suite: b.suite,
        accountId: b.accountId,
        serverPublicKey: toHex(b.serverPublicKey),
        credentialSalt: toHex(b.credentialSalt),
        context: fromUtf8(recover.context),
        contextChange: fromUtf8(change.context),
        clientIdentity: fromUtf8(recover.clientIdentity),
        serverIdentity: fromUtf8(recover.serverIdentity),
        credentialIdentifier: fromUtf8(recover.credentialIdentifier),
      },
      escrowTransport: {
        header: { ...h, attemptId: toHex(h.attemptId) },
        sessionKey: toHex(t.sessionKey),
        escrow: toHex(t.escrow),
        grant: toHex(t.grant),
        nonce: toHex(t.nonce),
        sealed: toHex(sealEscrowTransport(t.sessionKey, h, t.escrow, t.grant, () => t.nonce)),
      },
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${messages.length} message vectors and the binding vectors (protocol v${PROTOCOL_VERSION})`);
