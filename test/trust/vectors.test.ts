// The frozen vectors in test/vectors/trust-bundle.json, checked two ways: the library must
// reproduce every byte, and an independent implementation (node:crypto SHA-256 and Ed25519)
// must accept the digests and signatures as docs/TRUST.md describes them.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createHash, createPublicKey, verify } from 'node:crypto';
import {
  bundleDigest,
  encodeBundle,
  logEntry,
  operatorMessage,
  verifySignedBundle,
  witnessMessage,
  type FleetRole,
} from '../../lib/trust/bundle.js';
import { parseCheckpoint } from '../../lib/trust/checkpoint.js';
import { verifyInclusion } from '../../lib/trust/merkle.js';
import { LABELS } from '../../lib/labels.js';
import { isBackupError } from '../../lib/errors.js';
import { fromHex, toBase64Url, toHex } from '../../lib/util/bytes.js';
import { trustRootsFromJson, type TrustRootsJson } from '../../tools/fleet.js';

const V = JSON.parse(readFileSync(new URL('../vectors/trust-bundle.json', import.meta.url), 'utf8')) as {
  nowMs: number;
  config: TrustRootsJson;
  keys: { witness: { name: string; publicKey: string }; operator: { publicKey: string } };
  bundle: { fields: { namespace: string; epoch: number; notBefore: number; notAfter: number; retired: string[]; fleets: { fleetId: string; suite: string; publicKey: string; roles: FleetRole[]; notBefore: number; notAfter: number }[] }; encoded: string; digest: string };
  witness: { timestamp: number; message: string; signature: string };
  operator: { message: string; signature: string };
  log: { origin: string; entry: string; leafHash: string; leafIndex: number; treeSize: number; checkpoint: string; inclusionProof: string[] };
  signedBundle: string;
  refusals: { name: string; code: string; signedBundle: string; nowMs?: number }[];
};

const sha = (...p: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const x of p) h.update(x);
  return new Uint8Array(h.digest());
};
const nodeVerify = (pkHex: string, msg: Uint8Array, sig: Uint8Array) =>
  verify(null, msg, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(fromHex(pkHex)) }, format: 'jwk' }), sig);
const te = new TextEncoder();

describe('frozen trust vectors', () => {
  const encoded = fromHex(V.bundle.encoded);
  const digest = fromHex(V.bundle.digest);

  it('the library reproduces the bundle bytes, digest, messages and log entry', () => {
    const f = V.bundle.fields;
    expect(toHex(encodeBundle({ ...f, fleets: f.fleets.map((x) => ({ ...x, publicKey: fromHex(x.publicKey) })) }))).toBe(V.bundle.encoded);
    expect(toHex(bundleDigest(encoded))).toBe(V.bundle.digest);
    expect(toHex(witnessMessage(f.namespace, f.epoch, digest, V.witness.timestamp))).toBe(V.witness.message);
    const ws = { publicKey: fromHex(V.keys.witness.publicKey), timestamp: V.witness.timestamp, signature: fromHex(V.witness.signature) };
    expect(toHex(operatorMessage(f.namespace, f.epoch, digest, [ws]))).toBe(V.operator.message);
    expect(toHex(logEntry(encoded))).toBe(V.log.entry);
  });

  it('node:crypto agrees on the digest, both signatures, the leaf hash and the checkpoint signature', () => {
    expect(toHex(sha(te.encode(LABELS.bundleDigest), Uint8Array.of(0), encoded))).toBe(V.bundle.digest);
    // The witness message, rebuilt by hand from the spec.
    const ns = te.encode(V.bundle.fields.namespace);
    const u64 = (n: number) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return b; };
    const wm = Buffer.concat([te.encode(LABELS.witnessSignature), Uint8Array.of(0, ns.length), ns, u64(V.bundle.fields.epoch), digest, u64(V.witness.timestamp)]);
    expect(toHex(wm)).toBe(V.witness.message);
    expect(nodeVerify(V.keys.witness.publicKey, wm, fromHex(V.witness.signature))).toBe(true);
    expect(nodeVerify(V.keys.operator.publicKey, fromHex(V.operator.message), fromHex(V.operator.signature))).toBe(true);
    expect(toHex(sha(Uint8Array.of(0), fromHex(V.log.entry)))).toBe(V.log.leafHash);
    const cp = parseCheckpoint(te.encode(V.log.checkpoint));
    const keyId = sha(te.encode(V.keys.witness.name), Uint8Array.of(0x0a, 0x01), fromHex(V.keys.witness.publicKey)).slice(0, 4);
    const line = cp.signatures.find((s) => toHex(s.keyId) === toHex(keyId))!;
    expect(nodeVerify(V.keys.witness.publicKey, cp.text, line.signature)).toBe(true);
    expect(verifyInclusion(fromHex(V.log.leafHash), V.log.leafIndex, cp.size, V.log.inclusionProof.map(fromHex), cp.root)).toBe(true);
  });

  it('the signed bundle verifies, and every refusal vector gives its code', () => {
    const roots = trustRootsFromJson(V.config);
    expect(verifySignedBundle(fromHex(V.signedBundle), roots, V.nowMs).bundle.epoch).toBe(V.bundle.fields.epoch);
    for (const r of V.refusals) {
      let err: unknown;
      try {
        verifySignedBundle(fromHex(r.signedBundle), roots, r.nowMs ?? V.nowMs);
      } catch (e) {
        err = e;
      }
      expect(isBackupError(err), r.name).toBe(true);
      expect((err as { code: string }).code, r.name).toBe(r.code);
    }
  });
});
