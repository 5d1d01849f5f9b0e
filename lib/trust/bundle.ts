/**
 * Fleet bundles: the artifact that tells a client which vault fleets (and which OPAQUE server
 * keys) it may talk to, signed by an independent witness, counter-signed by the operator, and
 * logged in the witness's append-only Merkle log. docs/TRUST.md specifies every byte; this file
 * is that spec in code.
 *
 * - {@link encodeBundle} / {@link decodeBundle}: the canonical bundle bytes.
 * - {@link bundleDigest}: `SHA-256(LABELS.bundleDigest ‖ 0x00 ‖ bundle)`.
 * - {@link witnessMessage} / {@link operatorMessage}: what each signature covers.
 * - {@link encodeSignedBundle} / {@link decodeSignedBundle}: bundle + signatures + log proof.
 * - {@link verifySignedBundle}: every stateless client rule; the stateful ones (rollback, split
 *   view) are the trust store's ({@link ./trust-store.ts}).
 *
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { BackupError } from '../errors.js';
import { LABELS } from '../labels.js';
import { abytes, concatBytes, equalBytes, isBytes, utf8 } from '../util/bytes.js';
import { compareBytes, malformed, Reader, Writer } from './codec.js';
import { parseCheckpoint, verifyCheckpoint, type Checkpoint, type NoteKey } from './checkpoint.js';
import { ed25519PublicKey, signEd25519, verifyEd25519 } from './ed25519.js';
import { leafHash, MAX_PROOF_HASHES, verifyInclusion } from './merkle.js';

// ---------------------------------------------------------------------------------------------
// Limits (docs/TRUST.md §Limits). Every count and length an attacker controls is capped here.

/** Largest encoded bundle, in bytes. */
export const MAX_BUNDLE_BYTES = 16384;
/** Largest signed bundle (bundle, signatures, checkpoint, proof), in bytes. */
export const MAX_SIGNED_BUNDLE_BYTES = 32768;
/** Most fleet entries in one bundle. */
export const MAX_FLEETS = 32;
/** Most retired fleet ids in one bundle. */
export const MAX_RETIRED = 64;
/** Most witness or operator signatures on one bundle. */
export const MAX_SIGNATURES = 16;
/** Longest namespace, fleet id or suite id, in bytes. */
export const MAX_NAME_LENGTH = 64;
/** Longest OPAQUE public key, in bytes. */
export const MAX_FLEET_KEY_LENGTH = 256;
/** Tolerated clock skew for "not yet valid" checks, in seconds. */
export const CLOCK_SKEW_SECONDS = 300;

const BUNDLE_MAGIC = utf8('E2TB');
const SIGNED_MAGIC = utf8('E2TS');
const FORMAT_VERSION = 1;

/** Namespace alphabet: lower-case DNS-ish names with `/` and `:` (e.g. `chat.example/backup`). */
const NAMESPACE_RE = /^[a-z0-9._:/-]+$/;
/** Fleet id alphabet. */
const FLEET_ID_RE = /^[A-Za-z0-9._-]+$/;
/** Suite id alphabet: printable ASCII without spaces. */
const SUITE_RE = /^[\x21-\x7e]+$/;

// ---------------------------------------------------------------------------------------------
// Types

/** What a fleet may be used for. A superseded fleet is typically `['recover']` only. */
export type FleetRole = 'enroll' | 'recover';

const ROLE_BITS: Record<FleetRole, number> = { enroll: 0x01, recover: 0x02 };

/** One fleet entry of a bundle. */
export interface BundleFleet {
  /** Fleet name. */
  readonly fleetId: string;
  /** OPAQUE suite id the fleet runs. */
  readonly suite: string;
  /** The fleet's OPAQUE server public key, exactly as the vault presents it. */
  readonly publicKey: Uint8Array;
  /** Allowed uses, sorted, non-empty. */
  readonly roles: readonly FleetRole[];
  /** Unix seconds from which the entry is valid. */
  readonly notBefore: number;
  /** Unix seconds from which the entry is no longer valid (exclusive end). */
  readonly notAfter: number;
}

/** A decoded bundle. */
export interface Bundle {
  /** The app's namespace; a client refuses bundles for any other. */
  readonly namespace: string;
  /** Strictly increasing bundle number (the client's high-water mark). */
  readonly epoch: number;
  /** Unix seconds before which the bundle must not be applied. */
  readonly notBefore: number;
  /** Unix seconds from which the bundle must not be applied any more. */
  readonly notAfter: number;
  /** Fleets, sorted by (fleetId, publicKey). */
  readonly fleets: readonly BundleFleet[];
  /** Retired fleet ids, sorted: never trusted again while this bundle stands, pins included. */
  readonly retired: readonly string[];
}

/** A witness's signature over (namespace, epoch, digest, timestamp). */
export interface WitnessSignature {
  /** Witness Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** Unix seconds at which the witness signed. */
  readonly timestamp: number;
  /** Ed25519 signature over the witness message (docs/TRUST.md §3). */
  readonly signature: Uint8Array;
}

/** The operator's counter-signature over the witness signatures. */
export interface OperatorSignature {
  /** Operator Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** Ed25519 signature over the operator message (docs/TRUST.md §3). */
  readonly signature: Uint8Array;
}

/** Everything a client receives: the bundle, its signatures and its audit-log proof. */
export interface SignedBundle {
  /** Canonical bundle bytes (docs/TRUST.md §2; parse them with {@link decodeBundle}). */
  readonly bundle: Uint8Array;
  /** Witness signatures, any order (encoded sorted by key). */
  readonly witnessSignatures: readonly WitnessSignature[];
  /** Operator counter-signatures, any order (encoded sorted by key). */
  readonly operatorSignatures: readonly OperatorSignature[];
  /** The witness-signed checkpoint note (C2SP shape). */
  readonly checkpoint: Uint8Array;
  /** Index of the bundle's log entry (docs/TRUST.md §4) in the log. */
  readonly leafIndex: number;
  /** RFC 9162 inclusion proof of that entry in the checkpoint's tree. */
  readonly inclusionProof: readonly Uint8Array[];
}

/** An Ed25519 trust root: a witness or operator key with its validity window. */
export interface SignerKey {
  /** Ed25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
  /** Unix seconds from which the key is trusted. */
  readonly notBefore: number;
  /** Unix seconds from which the key is no longer trusted; open-ended when absent. */
  readonly notAfter?: number;
}

/** A witness key: also signs log checkpoints under `name`. */
export interface WitnessKey extends SignerKey {
  /** The key name on checkpoint signature lines (c2sp signed-note), e.g. `"witness.example/log"`. */
  readonly name: string;
}

/** k-of-n thresholds. */
export interface TrustThresholds {
  /** Distinct current witness keys that must sign the bundle. */
  readonly witnesses: number;
  /** Distinct current operator keys that must counter-sign. */
  readonly operators: number;
  /** Distinct current witness keys that must sign the checkpoint (default 1). */
  readonly checkpoint?: number;
}

/** The trust roots an app ships in its config (bundle mode). */
export interface TrustRoots {
  /** The app's namespace. */
  readonly namespace: string;
  /** Origin line of the audit log's checkpoints; defaults to `namespace`. */
  readonly logOrigin?: string;
  /** Witness keys. */
  readonly witnessKeys: readonly WitnessKey[];
  /** Operator keys. */
  readonly operatorKeys: readonly SignerKey[];
  /** Thresholds. */
  readonly thresholds: TrustThresholds;
}

/** A signed bundle that passed {@link verifySignedBundle}. */
export interface VerifiedBundle {
  /** The decoded bundle. */
  readonly bundle: Bundle;
  /** Its digest. */
  readonly digest: Uint8Array;
  /** The parsed, verified checkpoint. */
  readonly checkpoint: Checkpoint;
  /** The checkpoint's whole signed note, as received. */
  readonly checkpointNote: Uint8Array;
  /** The signed-bundle bytes as received. */
  readonly bytes: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Canonical bundle bytes

function rolesToBits(roles: readonly FleetRole[]): number {
  let bits = 0;
  for (const r of roles) {
    const b = ROLE_BITS[r];
    if (b === undefined) throw new RangeError(`unknown fleet role ${String(r)}`);
    bits |= b;
  }
  return bits;
}

function bitsToRoles(bits: number): FleetRole[] {
  if (bits === 0 || (bits & ~0x03) !== 0) throw malformed('fleet roles has unknown bits or is empty');
  const out: FleetRole[] = [];
  if (bits & ROLE_BITS.enroll) out.push('enroll');
  if (bits & ROLE_BITS.recover) out.push('recover');
  return out;
}

const isTime = (t: unknown): t is number => typeof t === 'number' && Number.isSafeInteger(t) && t >= 0;

function compareFleets(a: BundleFleet, b: BundleFleet): number {
  return compareBytes(utf8(a.fleetId), utf8(b.fleetId)) || compareBytes(a.publicKey, b.publicKey);
}

/**
 * Encode a bundle canonically: fields in a fixed order, fleets sorted by (fleetId, publicKey),
 * retired ids sorted. Misuse (a bad field) throws `TypeError`/`RangeError` naming it.
 *
 * @example
 * ```ts
 * const bytes = encodeBundle({ namespace: 'chat.example', epoch: 2, notBefore, notAfter,
 *   fleets: [{ fleetId: 'eu-2', suite, publicKey, roles: ['enroll', 'recover'], notBefore, notAfter }],
 *   retired: ['eu-1'] });
 * ```
 */
export function encodeBundle(bundle: Bundle): Uint8Array {
  const { namespace, epoch, notBefore, notAfter, fleets, retired } = bundle;
  if (typeof namespace !== 'string' || !NAMESPACE_RE.test(namespace) || namespace.length > MAX_NAME_LENGTH) {
    throw new RangeError('namespace must be 1..64 chars of [a-z0-9._:/-]');
  }
  if (!isTime(epoch) || epoch < 1) throw new RangeError('epoch must be a positive safe integer');
  if (!isTime(notBefore) || !isTime(notAfter) || notAfter <= notBefore) {
    throw new RangeError('notBefore/notAfter must be Unix seconds with notBefore < notAfter');
  }
  if (!Array.isArray(fleets) || fleets.length > MAX_FLEETS) throw new RangeError(`fleets must have at most ${MAX_FLEETS} entries`);
  if (!Array.isArray(retired) || retired.length > MAX_RETIRED) throw new RangeError(`retired must have at most ${MAX_RETIRED} ids`);
  const w = new Writer().bytes(BUNDLE_MAGIC).u8(FORMAT_VERSION).ascii(namespace).u64(epoch).u64(notBefore).u64(notAfter);
  const sorted = [...fleets].sort(compareFleets);
  w.u8(sorted.length);
  for (let i = 0; i < sorted.length; i++) {
    const f = sorted[i]!;
    if (typeof f.fleetId !== 'string' || !FLEET_ID_RE.test(f.fleetId) || f.fleetId.length > MAX_NAME_LENGTH) {
      throw new RangeError('fleetId must be 1..64 chars of [A-Za-z0-9._-]');
    }
    if (typeof f.suite !== 'string' || !SUITE_RE.test(f.suite) || f.suite.length > MAX_NAME_LENGTH) {
      throw new RangeError('suite must be 1..64 printable ASCII chars');
    }
    if (!isBytes(f.publicKey)) throw new TypeError('publicKey must be a Uint8Array');
    if (f.publicKey.length < 1 || f.publicKey.length > MAX_FLEET_KEY_LENGTH) throw new RangeError('publicKey must be 1..256 bytes');
    if (!isTime(f.notBefore) || !isTime(f.notAfter) || f.notAfter <= f.notBefore) {
      throw new RangeError('fleet notBefore/notAfter must be Unix seconds with notBefore < notAfter');
    }
    const bits = rolesToBits(f.roles);
    if (bits === 0) throw new RangeError('roles must not be empty');
    if (i > 0 && compareFleets(sorted[i - 1]!, f) === 0) throw new RangeError('duplicate fleet entry');
    w.ascii(f.fleetId).ascii(f.suite).u16(f.publicKey.length).bytes(f.publicKey).u8(bits).u64(f.notBefore).u64(f.notAfter);
  }
  const ret = [...retired].sort((a, b) => compareBytes(utf8(a), utf8(b)));
  w.u8(ret.length);
  for (let i = 0; i < ret.length; i++) {
    const id = ret[i]!;
    if (typeof id !== 'string' || !FLEET_ID_RE.test(id) || id.length > MAX_NAME_LENGTH) throw new RangeError('retired ids must be fleet ids');
    if (i > 0 && ret[i - 1] === id) throw new RangeError('duplicate retired id');
    if (sorted.some((f) => f.fleetId === id)) throw new RangeError(`fleet ${id} is both listed and retired`);
    w.ascii(id);
  }
  const out = w.finish();
  if (out.length > MAX_BUNDLE_BYTES) throw new RangeError(`bundle is over ${MAX_BUNDLE_BYTES} bytes`);
  return out;
}

/**
 * Decode canonical bundle bytes strictly: wrong magic or version, any field out of its alphabet or
 * cap, unsorted or duplicate entries, or trailing bytes are `TRUST_MALFORMED`. So exactly one byte
 * string encodes each bundle, and `encodeBundle(decodeBundle(b))` equals `b`.
 *
 * @example
 * ```ts
 * const { epoch, fleets } = decodeBundle(bytes);
 * ```
 */
export function decodeBundle(bytes: Uint8Array): Bundle {
  if (!isBytes(bytes)) throw new TypeError('bytes must be a Uint8Array');
  if (bytes.length > MAX_BUNDLE_BYTES) throw malformed('bundle is too long', MAX_BUNDLE_BYTES);
  const r = new Reader(bytes);
  if (!equalBytes(r.bytes(4, 'bundle magic'), BUNDLE_MAGIC)) throw malformed('not a fleet bundle');
  if (r.u8('bundle version') !== FORMAT_VERSION) throw malformed('unsupported bundle version');
  const namespace = r.ascii('namespace', MAX_NAME_LENGTH, NAMESPACE_RE);
  const epoch = r.u64('epoch');
  if (epoch < 1) throw malformed('epoch must be positive');
  const notBefore = r.u64('notBefore');
  const notAfter = r.u64('notAfter');
  if (notAfter <= notBefore) throw malformed('bundle notAfter is not after notBefore');
  const nFleets = r.u8('fleet count');
  if (nFleets > MAX_FLEETS) throw malformed('too many fleets', MAX_FLEETS);
  const fleets: BundleFleet[] = [];
  for (let i = 0; i < nFleets; i++) {
    const fleetId = r.ascii('fleetId', MAX_NAME_LENGTH, FLEET_ID_RE);
    const suite = r.ascii('suite', MAX_NAME_LENGTH, SUITE_RE);
    const keyLen = r.u16('public key length');
    if (keyLen < 1 || keyLen > MAX_FLEET_KEY_LENGTH) throw malformed('fleet public key length', MAX_FLEET_KEY_LENGTH);
    const publicKey = r.bytes(keyLen, 'fleet public key');
    const roles = bitsToRoles(r.u8('roles'));
    const fNotBefore = r.u64('fleet notBefore');
    const fNotAfter = r.u64('fleet notAfter');
    if (fNotAfter <= fNotBefore) throw malformed('fleet notAfter is not after notBefore');
    const f: BundleFleet = { fleetId, suite, publicKey, roles, notBefore: fNotBefore, notAfter: fNotAfter };
    if (i > 0 && compareFleets(fleets[i - 1]!, f) >= 0) throw malformed('fleets are not strictly sorted');
    fleets.push(f);
  }
  const nRetired = r.u8('retired count');
  if (nRetired > MAX_RETIRED) throw malformed('too many retired fleets', MAX_RETIRED);
  const retired: string[] = [];
  for (let i = 0; i < nRetired; i++) {
    const id = r.ascii('retired fleetId', MAX_NAME_LENGTH, FLEET_ID_RE);
    if (i > 0 && compareBytes(utf8(retired[i - 1]!), utf8(id)) >= 0) throw malformed('retired ids are not strictly sorted');
    if (fleets.some((f) => f.fleetId === id)) throw malformed('a fleet is both listed and retired');
    retired.push(id);
  }
  r.end('bundle');
  return { namespace, epoch, notBefore, notAfter, fleets, retired };
}

/**
 * The bundle digest: `SHA-256(utf8(LABELS.bundleDigest) ‖ 0x00 ‖ bundle)`. The label and the zero
 * byte keep this hash from ever equalling a hash computed for another purpose over the same bytes.
 *
 * @example
 * ```ts
 * const digest = bundleDigest(encodeBundle(bundle));
 * ```
 */
export function bundleDigest(bundle: Uint8Array): Uint8Array {
  abytes(bundle, 'bundle');
  return sha256(concatBytes(utf8(LABELS.bundleDigest), Uint8Array.of(0), bundle));
}

function statement(label: string, namespace: string, epoch: number, digest: Uint8Array): Writer {
  return new Writer().bytes(utf8(label)).u8(0).ascii(namespace).u64(epoch).bytes(digest);
}

/**
 * What a witness signs: `utf8(LABELS.witnessSignature) ‖ 0x00 ‖ u8 len ‖ namespace ‖ u64 epoch ‖
 * digest ‖ u64 timestamp` (integers big-endian).
 *
 * @example
 * ```ts
 * const msg = witnessMessage('chat.example', 2, digest, 1767225600);
 * ```
 */
export function witnessMessage(namespace: string, epoch: number, digest: Uint8Array, timestamp: number): Uint8Array {
  abytes(digest, 'digest', 32);
  return statement(LABELS.witnessSignature, namespace, epoch, digest).u64(timestamp).finish();
}

function encodeWitnessSection(sigs: readonly WitnessSignature[]): Uint8Array {
  if (sigs.length > MAX_SIGNATURES) throw new RangeError(`at most ${MAX_SIGNATURES} witness signatures`);
  const sorted = [...sigs].sort((a, b) => compareBytes(a.publicKey, b.publicKey));
  const w = new Writer().u8(sorted.length);
  for (let i = 0; i < sorted.length; i++) {
    const s = sorted[i]!;
    abytes(s.publicKey, 'witness publicKey', 32);
    abytes(s.signature, 'witness signature', 64);
    if (!isTime(s.timestamp)) throw new RangeError('witness timestamp must be Unix seconds');
    if (i > 0 && equalBytes(sorted[i - 1]!.publicKey, s.publicKey)) throw new RangeError('duplicate witness signature');
    w.bytes(s.publicKey).u64(s.timestamp).bytes(s.signature);
  }
  return w.finish();
}

/**
 * What an operator counter-signs: `utf8(LABELS.operatorSignature) ‖ 0x00 ‖ u8 len ‖ namespace ‖
 * u64 epoch ‖ digest ‖ witness section`, where the witness section is the signed bundle's own
 * encoding of every witness signature (count, then key ‖ timestamp ‖ signature, sorted by key).
 * So the operator vouches for the bundle *and* for exactly these witness signatures.
 *
 * @example
 * ```ts
 * const msg = operatorMessage('chat.example', 2, digest, [witnessSignature]);
 * ```
 */
export function operatorMessage(
  namespace: string,
  epoch: number,
  digest: Uint8Array,
  witnessSignatures: readonly WitnessSignature[],
): Uint8Array {
  abytes(digest, 'digest', 32);
  return statement(LABELS.operatorSignature, namespace, epoch, digest).bytes(encodeWitnessSection(witnessSignatures)).finish();
}

/**
 * The audit-log entry for a bundle: `utf8(LABELS.logEntry) ‖ 0x00 ‖ u8 len ‖ namespace ‖ u64 epoch
 * ‖ digest`. Its RFC 9162 leaf hash is what the inclusion proof proves.
 *
 * @example
 * ```ts
 * tree.append(logEntry(bundleBytes));
 * ```
 */
export function logEntry(bundle: Uint8Array): Uint8Array {
  const b = decodeBundle(bundle);
  return statement(LABELS.logEntry, b.namespace, b.epoch, bundleDigest(bundle)).finish();
}

/**
 * Witness-sign a bundle (tools and the reference witness; clients never sign).
 *
 * @example
 * ```ts
 * const ws = witnessSign(bundleBytes, witnessSecretKey, Math.floor(Date.now() / 1000));
 * ```
 */
export function witnessSign(bundle: Uint8Array, secretKey: Uint8Array, timestamp: number): WitnessSignature {
  if (!isTime(timestamp)) throw new RangeError('timestamp must be Unix seconds');
  const b = decodeBundle(bundle);
  const msg = witnessMessage(b.namespace, b.epoch, bundleDigest(bundle), timestamp);
  return { publicKey: ed25519PublicKey(secretKey), timestamp, signature: signEd25519(msg, secretKey) };
}

/**
 * Operator-counter-sign a bundle and its witness signatures.
 *
 * @example
 * ```ts
 * const os = operatorSign(bundleBytes, [ws], operatorSecretKey);
 * ```
 */
export function operatorSign(
  bundle: Uint8Array,
  witnessSignatures: readonly WitnessSignature[],
  secretKey: Uint8Array,
): OperatorSignature {
  const b = decodeBundle(bundle);
  const msg = operatorMessage(b.namespace, b.epoch, bundleDigest(bundle), witnessSignatures);
  return { publicKey: ed25519PublicKey(secretKey), signature: signEd25519(msg, secretKey) };
}

// ---------------------------------------------------------------------------------------------
// Signed bundle envelope

/**
 * Encode a signed bundle (docs/TRUST.md §Signed bundle).
 *
 * @example
 * ```ts
 * const bytes = encodeSignedBundle({ bundle, witnessSignatures: [ws], operatorSignatures: [os],
 *   checkpoint, leafIndex, inclusionProof });
 * ```
 */
export function encodeSignedBundle(sb: SignedBundle): Uint8Array {
  abytes(sb.bundle, 'bundle');
  if (sb.bundle.length > MAX_BUNDLE_BYTES) throw new RangeError('bundle is too long');
  abytes(sb.checkpoint, 'checkpoint');
  if (sb.checkpoint.length < 1 || sb.checkpoint.length > 8192) throw new RangeError('checkpoint must be 1..8192 bytes');
  if (!isTime(sb.leafIndex)) throw new RangeError('leafIndex must be a non-negative safe integer');
  if (sb.inclusionProof.length > MAX_PROOF_HASHES) throw new RangeError('inclusionProof is too long');
  if (sb.operatorSignatures.length > MAX_SIGNATURES) throw new RangeError('too many operator signatures');
  const w = new Writer().bytes(SIGNED_MAGIC).u8(FORMAT_VERSION).u32(sb.bundle.length).bytes(sb.bundle);
  w.bytes(encodeWitnessSection(sb.witnessSignatures));
  const ops = [...sb.operatorSignatures].sort((a, b) => compareBytes(a.publicKey, b.publicKey));
  w.u8(ops.length);
  for (let i = 0; i < ops.length; i++) {
    abytes(ops[i]!.publicKey, 'operator publicKey', 32);
    abytes(ops[i]!.signature, 'operator signature', 64);
    if (i > 0 && equalBytes(ops[i - 1]!.publicKey, ops[i]!.publicKey)) throw new RangeError('duplicate operator signature');
    w.bytes(ops[i]!.publicKey).bytes(ops[i]!.signature);
  }
  w.u16(sb.checkpoint.length).bytes(sb.checkpoint).u64(sb.leafIndex).u8(sb.inclusionProof.length);
  for (const h of sb.inclusionProof) w.bytes(abytes(h, 'inclusionProof hash', 32));
  return w.finish();
}

/**
 * Decode a signed bundle strictly (caps, sort order, no trailing bytes); `TRUST_MALFORMED`
 * otherwise. Verifies nothing: see {@link verifySignedBundle}.
 *
 * @example
 * ```ts
 * const { bundle, leafIndex } = decodeSignedBundle(bytes);
 * ```
 */
export function decodeSignedBundle(bytes: Uint8Array): SignedBundle {
  if (!isBytes(bytes)) throw new TypeError('bytes must be a Uint8Array');
  if (bytes.length > MAX_SIGNED_BUNDLE_BYTES) throw malformed('signed bundle is too long', MAX_SIGNED_BUNDLE_BYTES);
  const r = new Reader(bytes);
  if (!equalBytes(r.bytes(4, 'signed bundle magic'), SIGNED_MAGIC)) throw malformed('not a signed fleet bundle');
  if (r.u8('signed bundle version') !== FORMAT_VERSION) throw malformed('unsupported signed bundle version');
  const bundleLen = r.u32('bundle length');
  if (bundleLen > MAX_BUNDLE_BYTES) throw malformed('bundle is too long', MAX_BUNDLE_BYTES);
  const bundle = r.bytes(bundleLen, 'bundle');
  const nw = r.u8('witness signature count');
  if (nw > MAX_SIGNATURES) throw malformed('too many witness signatures', MAX_SIGNATURES);
  const witnessSignatures: WitnessSignature[] = [];
  for (let i = 0; i < nw; i++) {
    const publicKey = r.bytes(32, 'witness key');
    const timestamp = r.u64('witness timestamp');
    const signature = r.bytes(64, 'witness signature');
    if (i > 0 && compareBytes(witnessSignatures[i - 1]!.publicKey, publicKey) >= 0) {
      throw malformed('witness signatures are not strictly sorted');
    }
    witnessSignatures.push({ publicKey, timestamp, signature });
  }
  const no = r.u8('operator signature count');
  if (no > MAX_SIGNATURES) throw malformed('too many operator signatures', MAX_SIGNATURES);
  const operatorSignatures: OperatorSignature[] = [];
  for (let i = 0; i < no; i++) {
    const publicKey = r.bytes(32, 'operator key');
    const signature = r.bytes(64, 'operator signature');
    if (i > 0 && compareBytes(operatorSignatures[i - 1]!.publicKey, publicKey) >= 0) {
      throw malformed('operator signatures are not strictly sorted');
    }
    operatorSignatures.push({ publicKey, signature });
  }
  const cpLen = r.u16('checkpoint length');
  if (cpLen < 1 || cpLen > 8192) throw malformed('checkpoint length', 8192);
  const checkpoint = r.bytes(cpLen, 'checkpoint');
  const leafIndex = r.u64('leaf index');
  const np = r.u8('proof length');
  if (np > MAX_PROOF_HASHES) throw malformed('inclusion proof is too long', MAX_PROOF_HASHES);
  const inclusionProof: Uint8Array[] = [];
  for (let i = 0; i < np; i++) inclusionProof.push(r.bytes(32, 'proof hash'));
  r.end('signed bundle');
  return { bundle, witnessSignatures, operatorSignatures, checkpoint, leafIndex, inclusionProof };
}

// ---------------------------------------------------------------------------------------------
// Verification

/** @internal Check a TrustRoots config (misuse: TypeError/RangeError). */
export function checkTrustRoots(roots: TrustRoots): void {
  if (typeof roots !== 'object' || roots === null) throw new TypeError('config must be an object');
  if (typeof roots.namespace !== 'string' || !NAMESPACE_RE.test(roots.namespace) || roots.namespace.length > MAX_NAME_LENGTH) {
    throw new RangeError('config.namespace must be 1..64 chars of [a-z0-9._:/-]');
  }
  const checkKeys = (keys: readonly SignerKey[], name: string) => {
    if (!Array.isArray(keys)) throw new TypeError(`config.${name} must be an array`);
    for (const [i, k] of keys.entries()) {
      abytes(k.publicKey, `config.${name}[].publicKey`, 32);
      // A root listed twice (or, for witnesses, under two names) would let one signer count twice
      // toward a k-of-n threshold (issue 13, finding 6).
      if (keys.slice(0, i).some((o) => equalBytes(o.publicKey, k.publicKey))) {
        throw new RangeError(`config.${name}[${i}].publicKey is listed twice`);
      }
      if (!isTime(k.notBefore)) throw new RangeError(`config.${name}[].notBefore must be Unix seconds`);
      if (k.notAfter !== undefined && (!isTime(k.notAfter) || k.notAfter <= k.notBefore)) {
        throw new RangeError(`config.${name}[].notAfter must be Unix seconds after notBefore`);
      }
    }
  };
  checkKeys(roots.witnessKeys, 'witnessKeys');
  checkKeys(roots.operatorKeys, 'operatorKeys');
  for (const k of roots.witnessKeys) {
    if (typeof k.name !== 'string' || !/^[^\s+\u2014]{1,256}$/u.test(k.name)) {
      throw new RangeError('config.witnessKeys[].name must be a key name without spaces or +');
    }
  }
  const t = roots.thresholds;
  const checkT = (v: number | undefined, n: number, name: string) => {
    if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > n) {
      throw new RangeError(`config.thresholds.${name} must be an integer in [1, ${n}]`);
    }
  };
  if (typeof t !== 'object' || t === null) throw new TypeError('config.thresholds must be an object');
  checkT(t.witnesses, roots.witnessKeys.length, 'witnesses');
  checkT(t.operators, roots.operatorKeys.length, 'operators');
  if (t.checkpoint !== undefined) checkT(t.checkpoint, roots.witnessKeys.length, 'checkpoint');
}

type KeyState = 'current' | 'not-yet-valid' | 'expired';
function keyState(k: SignerKey, nowSec: number): KeyState {
  if (k.notBefore > nowSec + CLOCK_SKEW_SECONDS) return 'not-yet-valid';
  if (k.notAfter !== undefined && nowSec >= k.notAfter) return 'expired';
  return 'current';
}

function countSigners(
  who: 'witness' | 'operator',
  sigs: readonly { publicKey: Uint8Array; signature: Uint8Array; timestamp?: number }[],
  keys: readonly SignerKey[],
  threshold: number,
  nowSec: number,
  message: (s: { timestamp?: number }) => Uint8Array,
): void {
  let valid = 0;
  let notYet = 0;
  for (const s of sigs) {
    const key = keys.find((k) => equalBytes(k.publicKey, s.publicKey));
    // Unknown keys are ignored, as on signed notes: a bundle may carry signatures for other
    // clients' roots.
    if (key === undefined) continue;
    const state = keyState(key, nowSec);
    if (state === 'not-yet-valid') {
      notYet++;
      continue;
    }
    if (state === 'expired') continue;
    if (s.timestamp !== undefined) {
      if (s.timestamp > nowSec + CLOCK_SKEW_SECONDS) {
        throw new BackupError('TRUST_NOT_YET_VALID', `${who} signature is dated in the future`);
      }
      // A witness signature must fall inside its key's own validity window.
      if (s.timestamp < key.notBefore || (key.notAfter !== undefined && s.timestamp >= key.notAfter)) continue;
    }
    if (!verifyEd25519(s.signature, message(s), key.publicKey)) {
      throw new BackupError('TRUST_BAD_SIGNATURE', `a ${who} signature does not verify`);
    }
    valid++;
  }
  if (valid >= threshold) return;
  if (notYet > 0) throw new BackupError('TRUST_NOT_YET_VALID', `a ${who} key is not valid yet`);
  if (valid === 0) throw new BackupError('TRUST_BAD_SIGNATURE', `no ${who} signature from a current root`);
  throw new BackupError('TRUST_THRESHOLD', `${valid} of ${threshold} required ${who} signatures`, { limit: threshold });
}

/**
 * Verify a signed bundle against the app's trust roots at time `nowMs` (milliseconds, as
 * `Date.now()`): every stateless client rule of docs/TRUST.md, in this order, each with its own
 * error code:
 *
 * 1. strict decoding (`TRUST_MALFORMED`);
 * 2. namespace (`TRUST_WRONG_NAMESPACE`);
 * 3. witness signatures from current witness roots, k of n (`TRUST_BAD_SIGNATURE`,
 *    `TRUST_THRESHOLD`, `TRUST_NOT_YET_VALID`);
 * 4. operator counter-signatures, k of n (same codes);
 * 5. the bundle's window (`TRUST_NOT_YET_VALID`, `TRUST_EXPIRED`);
 * 6. the checkpoint: origin (`TRUST_WRONG_NAMESPACE`), witness signatures (`TRUST_BAD_SIGNATURE`,
 *    `TRUST_THRESHOLD`);
 * 7. the log entry's inclusion in the checkpoint's tree (`TRUST_BAD_INCLUSION_PROOF`).
 *
 * @example
 * ```ts
 * const { bundle, checkpoint } = verifySignedBundle(bytes, roots, Date.now());
 * ```
 */
export function verifySignedBundle(bytes: Uint8Array, roots: TrustRoots, nowMs: number): VerifiedBundle {
  return verifyBundleAt(bytes, roots, nowMs, false).verified;
}

/**
 * @internal Every rule of {@link verifySignedBundle} at `nowMs`; with `allowExpired`, a bundle whose
 * window has passed (and only that) is reported as `expired` instead of refused. The trust store
 * uses it to re-check its stored record against the current clock (docs/TRUST.md §Persisted state).
 */
export function verifyBundleAt(
  bytes: Uint8Array,
  roots: TrustRoots,
  nowMs: number,
  allowExpired: boolean,
): { verified: VerifiedBundle; expired: boolean } {
  checkTrustRoots(roots);
  if (!Number.isFinite(nowMs)) throw new TypeError('nowMs must be a number');
  const nowSec = Math.floor(nowMs / 1000);
  const sb = decodeSignedBundle(bytes);
  const bundle = decodeBundle(sb.bundle);
  if (bundle.namespace !== roots.namespace) {
    throw new BackupError('TRUST_WRONG_NAMESPACE', 'the bundle is for another namespace');
  }
  const digest = bundleDigest(sb.bundle);
  countSigners('witness', sb.witnessSignatures, roots.witnessKeys, roots.thresholds.witnesses, nowSec, (s) =>
    witnessMessage(bundle.namespace, bundle.epoch, digest, s.timestamp!),
  );
  const opMsg = operatorMessage(bundle.namespace, bundle.epoch, digest, sb.witnessSignatures);
  countSigners('operator', sb.operatorSignatures, roots.operatorKeys, roots.thresholds.operators, nowSec, () => opMsg);
  if (bundle.notBefore > nowSec + CLOCK_SKEW_SECONDS) throw new BackupError('TRUST_NOT_YET_VALID', 'the bundle is not valid yet');
  const expired = nowSec >= bundle.notAfter;
  if (expired && !allowExpired) throw new BackupError('TRUST_EXPIRED', 'the bundle has expired');
  const checkpoint = verifyLogCheckpoint(sb.checkpoint, roots, nowSec);
  const leaf = leafHash(logEntry(sb.bundle));
  if (!verifyInclusion(leaf, sb.leafIndex, checkpoint.size, sb.inclusionProof, checkpoint.root)) {
    throw new BackupError('TRUST_BAD_INCLUSION_PROOF', 'the bundle is not proven to be in the audit log');
  }
  return { verified: { bundle, digest, checkpoint, checkpointNote: sb.checkpoint, bytes: Uint8Array.from(bytes) }, expired };
}

/**
 * Parse a checkpoint note and verify it is from the configured log and signed by enough current
 * witness keys.
 *
 * @example
 * ```ts
 * const cp = verifyLogCheckpoint(note, roots, Math.floor(Date.now() / 1000));
 * ```
 */
export function verifyLogCheckpoint(note: Uint8Array, roots: TrustRoots, nowSec: number): Checkpoint {
  checkTrustRoots(roots);
  const cp = parseCheckpoint(note);
  if (cp.origin !== (roots.logOrigin ?? roots.namespace)) {
    throw new BackupError('TRUST_WRONG_NAMESPACE', 'the checkpoint is from another log');
  }
  const keys: NoteKey[] = roots.witnessKeys.filter((k) => keyState(k, nowSec) === 'current');
  verifyCheckpoint(cp, keys, roots.thresholds.checkpoint ?? 1);
  return cp;
}
