// Generates test/vectors/trust-bundle.json ONCE (fixed keys, fixed clock). The file is then
// frozen: test/trust/vectors.test.ts checks the library still produces exactly these bytes.
// Run: npx tsx test/trust/gen-vectors.ts   (refuses to overwrite an existing file)
import { existsSync, writeFileSync } from 'node:fs';
import {
  bundleDigest,
  decodeSignedBundle,
  encodeBundle,
  encodeSignedBundle,
  logEntry,
  operatorMessage,
  witnessMessage,
} from '../../lib/trust/bundle.js';
import { leafHash } from '../../lib/trust/merkle.js';
import { ed25519PublicKey } from '../../lib/trust/ed25519.js';
import { toHex } from '../../lib/util/bytes.js';
import { bundle, config, fleet, NOW_MS, ORIGIN, T0, W1, OP1, W1_NAME, witnessLog } from './fixtures.js';

const out = new URL('../vectors/trust-bundle.json', import.meta.url);
if (existsSync(out)) throw new Error('test/vectors/trust-bundle.json exists; vectors are frozen');

const w = witnessLog();
const b1 = bundle(1, [fleet('eu-1')]);
const b2 = bundle(2, [fleet('eu-2'), fleet('eu-1', { roles: ['recover'] })], { retired: ['legacy-1'] });
w.publish(b1);
const signed2 = w.publish(b2);
const bytes2 = encodeBundle(b2);
const sb = decodeSignedBundle(signed2);
const ws = sb.witnessSignatures[0]!;
const digest = bundleDigest(bytes2);
const cfg = config();

const tamper = (f: (s: typeof sb) => typeof sb) => toHex(encodeSignedBundle(f(sb)));
const flip = (b: Uint8Array, i = 0) => Uint8Array.from(b, (x, j) => (j === i ? x ^ 1 : x));

const vectors = {
  description:
    'e2ee-backup fleet-trust vectors (docs/TRUST.md). Keys are Ed25519 seeds = SHA-256(utf8(label)); times are Unix seconds; the client clock is nowMs.',
  nowMs: NOW_MS,
  config: {
    namespace: cfg.namespace,
    logOrigin: ORIGIN,
    witnessKeys: cfg.witnessKeys.map((k) => ({ name: k.name, publicKey: toHex(k.publicKey), notBefore: k.notBefore })),
    operatorKeys: cfg.operatorKeys.map((k) => ({ publicKey: toHex(k.publicKey), notBefore: k.notBefore })),
    thresholds: cfg.thresholds,
  },
  keys: {
    witness: { name: W1_NAME, seedLabel: 'witness-1', seed: toHex(W1), publicKey: toHex(ed25519PublicKey(W1)) },
    operator: { seedLabel: 'operator-1', seed: toHex(OP1), publicKey: toHex(ed25519PublicKey(OP1)) },
  },
  bundle: {
    fields: {
      ...b2,
      fleets: b2.fleets.map((f) => ({ ...f, publicKey: toHex(f.publicKey) })),
    },
    encoded: toHex(bytes2),
    digest: toHex(digest),
  },
  witness: {
    timestamp: ws.timestamp,
    message: toHex(witnessMessage(b2.namespace, b2.epoch, digest, ws.timestamp)),
    signature: toHex(ws.signature),
  },
  operator: {
    message: toHex(operatorMessage(b2.namespace, b2.epoch, digest, [ws])),
    signature: toHex(sb.operatorSignatures[0]!.signature),
  },
  log: {
    origin: ORIGIN,
    entry: toHex(logEntry(bytes2)),
    leafHash: toHex(leafHash(logEntry(bytes2))),
    leafIndex: sb.leafIndex,
    treeSize: w.log.size,
    checkpoint: new TextDecoder().decode(sb.checkpoint),
    inclusionProof: sb.inclusionProof.map(toHex),
  },
  signedBundle: toHex(signed2),
  refusals: [
    { name: 'witness signature altered', code: 'TRUST_BAD_SIGNATURE', signedBundle: tamper((s) => ({ ...s, witnessSignatures: [{ ...ws, signature: flip(ws.signature, 5) }] })) },
    { name: 'operator signature missing', code: 'TRUST_BAD_SIGNATURE', signedBundle: tamper((s) => ({ ...s, operatorSignatures: [] })) },
    { name: 'inclusion proof altered', code: 'TRUST_BAD_INCLUSION_PROOF', signedBundle: tamper((s) => ({ ...s, inclusionProof: s.inclusionProof.map((h) => flip(h)) })) },
    { name: 'wrong leaf index', code: 'TRUST_BAD_INCLUSION_PROOF', signedBundle: tamper((s) => ({ ...s, leafIndex: 0 })) },
    { name: 'trailing byte', code: 'TRUST_MALFORMED', signedBundle: toHex(signed2) + '00' },
    { name: 'expired at nowMs + 31 days', code: 'TRUST_EXPIRED', nowMs: (T0 + 31 * 86_400) * 1000, signedBundle: toHex(signed2) },
  ],
};
writeFileSync(out, JSON.stringify(vectors, null, 2) + '\n');
console.log('wrote', out.pathname);
