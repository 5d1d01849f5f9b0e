// Writes test/vectors/passkey-envelope-v1.json: one envelope made with a deterministic random
// source (SHA-256 of a counter), with every intermediate value a decoder needs.
// Run: npx tsx test/recovery/generate-passkey-vector.ts > test/vectors/passkey-envelope-v1.json
import { createHash } from 'node:crypto';
import { createKeyring, encodeKeyring } from '../../lib/recovery/keyring.js';
import { createPasskeyEnvelope, encodePasskeyEnvelope } from '../../lib/recovery/passkey.js';
import { toHex } from '../../lib/util/bytes.js';
import { prfOf } from '../support/fake-passkey.js';

let counter = 0;
const draws: string[] = [];
const random = (n: number) => {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 32) out.set(createHash('sha256').update(`passkey-vector/${counter++}`).digest().subarray(0, Math.min(32, n - o)), o);
  draws.push(toHex(out));
  return out;
};
const keyring = createKeyring(random, () => 1_767_225_600_000);
draws.length = 0;
const credentialId = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const secret = new Uint8Array(32).fill(7);
const prfSalt = new Uint8Array(32).fill(0x11);
const prfOutput = prfOf(secret, prfSalt);
const e = createPasskeyEnvelope(keyring, 'user-42', { credentialId, prfSalt, prfOutput, name: 'Laptop', createdAt: 1_767_225_600_000 }, random);
console.log(
  JSON.stringify(
    {
      source: 'e2ee-backup docs/PASSKEYS.md §Envelope; made by test/recovery/generate-passkey-vector.ts (deterministic random)',
      accountId: 'user-42',
      credentialId: toHex(credentialId),
      name: 'Laptop',
      createdAt: 1_767_225_600_000,
      prfSalt: toHex(prfSalt),
      prfOutput: toHex(prfOutput),
      privateKey: draws[0],
      privateKeyNonce: draws[1],
      boxEphemeralSecret: draws[2],
      keyringNonce: draws[3],
      publicKey: toHex(e.publicKey),
      boxEphemeral: toHex(e.boxEphemeral),
      keyringEncoding: toHex(encodeKeyring(keyring)),
      envelope: toHex(encodePasskeyEnvelope(e)),
    },
    null,
    2,
  ),
);
