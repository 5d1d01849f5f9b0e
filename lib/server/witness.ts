/**
 * Reference witness: the independent party that signs fleet bundles and keeps the append-only
 * audit log of them (docs/TRUST.md §Witness). Two layers:
 *
 * - {@link createWitnessLog}: the log itself (an RFC 9162 tree of bundle log entries), the
 *   witness's signing rules (one bundle per epoch, epochs strictly increasing, one namespace),
 *   checkpoints in the C2SP shape, proofs, and the latest published signed bundle.
 * - {@link createWitnessHandler}: the same over HTTP as a fetch-style handler
 *   `(Request) => Promise<Response>`, for tests in-process, the Vite dev server or `node:http`.
 *
 * State lives in memory; {@link WitnessLog.exportState} / `initialState` let the tools keep it
 * in a file. A production witness keeps its log in replicated storage and its key in an HSM.
 *
 * @module
 */
import {
  decodeBundle,
  encodeSignedBundle,
  logEntry,
  operatorMessage,
  bundleDigest,
  witnessSign,
  type OperatorSignature,
  type WitnessSignature,
} from '../trust/bundle.js';
import { signCheckpoint } from '../trust/checkpoint.js';
import { ed25519PublicKey, verifyEd25519 } from '../trust/ed25519.js';
import { MerkleTree } from '../trust/merkle-tree.js';
import { readBodyCapped } from '../util/body.js';
import { BackupError } from '../errors.js';
import { abytes, fromBase64, fromUtf8, toBase64 } from '../util/bytes.js';

/** One logged bundle. */
export interface WitnessLogEntry {
  /** Canonical bundle bytes. */
  readonly bundle: Uint8Array;
  /** This witness's signature over it. */
  readonly witnessSignature: WitnessSignature;
  /** Operator counter-signatures received so far. */
  readonly operatorSignatures: readonly OperatorSignature[];
}

/** Serializable log state (JSON-safe: bytes in base64). */
export interface WitnessLogState {
  /** Entries in log order. */
  readonly entries: readonly {
    /** Canonical bundle bytes, base64. */
    readonly bundle: string;
    /** This witness's signature over the bundle. */
    readonly witness: {
      /** Witness Ed25519 public key, base64. */
      readonly publicKey: string;
      /** Unix seconds at which the witness signed. */
      readonly timestamp: number;
      /** Ed25519 signature, base64. */
      readonly signature: string;
    };
    /** Operator counter-signatures received so far. */
    readonly operators: readonly {
      /** Operator Ed25519 public key, base64. */
      readonly publicKey: string;
      /** Ed25519 signature, base64. */
      readonly signature: string;
    }[];
  }[];
}

/** Options of {@link createWitnessLog}. */
export interface WitnessLogOptions {
  /** The log's origin line (clients' `logOrigin`, which defaults to their namespace). */
  readonly origin: string;
  /** The only namespace this witness signs bundles for. */
  readonly namespace: string;
  /** The witness key: signs bundles and checkpoints. `name` is its checkpoint key name. */
  readonly signer: {
    /** Key name in signed checkpoints (C2SP signed-note key name), e.g. `witness.example/log`. */
    readonly name: string;
    /** Ed25519 secret key (32-byte seed). */
    readonly secretKey: Uint8Array;
  };
  /** Clock in milliseconds (`Date.now` by default). */
  readonly now?: () => number;
  /** State to resume from (as exported by {@link WitnessLog.exportState}). */
  readonly initialState?: WitnessLogState;
}

/** The witness log. */
export interface WitnessLog {
  /** Number of entries. */
  readonly size: number;
  /**
   * Witness-sign a bundle and append its log entry. Refuses (`TRUST_WRONG_NAMESPACE`,
   * `TRUST_ROLLBACK`, `TRUST_MALFORMED`) a bundle for another namespace or an epoch not above the
   * last one logged: a witness never signs two histories.
   */
  witness(bundle: Uint8Array): {
    /** Index of the new log entry. */
    readonly leafIndex: number;
    /** This witness's signature over the bundle. */
    readonly signature: WitnessSignature;
  };
  /** Attach an operator counter-signature to the entry of `epoch` (checked against its key). */
  addOperatorSignature(epoch: number, signature: OperatorSignature): void;
  /** The signed checkpoint of the tree at `size` (current size by default). */
  checkpoint(size?: number): Uint8Array;
  /** RFC 9162 inclusion proof of entry `index` in the tree of `size` leaves. */
  inclusionProof(index: number, size?: number): Uint8Array[];
  /** RFC 9162 consistency proof from `from` to `to` leaves. */
  consistencyProof(from: number, to?: number): Uint8Array[];
  /** Entry by epoch. */
  entry(epoch: number):
    | (WitnessLogEntry & {
        /** Index of the entry in the log. */
        readonly leafIndex: number;
      })
    | undefined;
  /**
   * The signed bundle of `epoch` (the newest counter-signed one by default), with the current
   * checkpoint and its inclusion proof; `undefined` when there is none.
   */
  signedBundle(epoch?: number): Uint8Array | undefined;
  /** JSON-safe state for persistence. */
  exportState(): WitnessLogState;
}

/**
 * Create a witness log.
 *
 * @example
 * ```ts
 * const log = createWitnessLog({ origin: 'chat.example', namespace: 'chat.example',
 *   signer: { name: 'witness.example/log', secretKey } });
 * const { signature } = log.witness(bundleBytes);
 * ```
 */
export function createWitnessLog(options: WitnessLogOptions): WitnessLog {
  const { origin, namespace, signer } = options;
  abytes(signer.secretKey, 'signer.secretKey', 32);
  const publicKey = ed25519PublicKey(signer.secretKey);
  const now = options.now ?? Date.now;
  const tree = new MerkleTree();
  const entries: { bundle: Uint8Array; epoch: number; witnessSignature: WitnessSignature; operatorSignatures: OperatorSignature[] }[] = [];
  const signers = [{ name: signer.name, secretKey: signer.secretKey, publicKey }];

  const push = (bundle: Uint8Array, ws: WitnessSignature, ops: OperatorSignature[]) => {
    const b = decodeBundle(bundle);
    tree.append(logEntry(bundle));
    entries.push({ bundle: Uint8Array.from(bundle), epoch: b.epoch, witnessSignature: ws, operatorSignatures: ops });
  };
  for (const e of options.initialState?.entries ?? []) {
    push(
      fromBase64(e.bundle),
      { publicKey: fromBase64(e.witness.publicKey), timestamp: e.witness.timestamp, signature: fromBase64(e.witness.signature) },
      e.operators.map((o) => ({ publicKey: fromBase64(o.publicKey), signature: fromBase64(o.signature) })),
    );
  }

  const find = (epoch: number) => entries.findIndex((e) => e.epoch === epoch);

  const log: WitnessLog = {
    get size() {
      return tree.size;
    },
    witness(bundle) {
      const b = decodeBundle(bundle);
      if (b.namespace !== namespace) throw new BackupError('TRUST_WRONG_NAMESPACE', 'this witness does not sign that namespace');
      const last = entries[entries.length - 1];
      if (last !== undefined && b.epoch <= last.epoch) {
        throw new BackupError('TRUST_ROLLBACK', `epoch ${b.epoch} is not above the last logged epoch ${last.epoch}`);
      }
      const signature = witnessSign(bundle, signer.secretKey, Math.floor(now() / 1000));
      push(bundle, signature, []);
      return { leafIndex: tree.size - 1, signature };
    },
    addOperatorSignature(epoch, sig) {
      const i = find(epoch);
      if (i < 0) throw new BackupError('NOT_FOUND', `no logged bundle for epoch ${epoch}`);
      const e = entries[i]!;
      abytes(sig.publicKey, 'signature.publicKey', 32);
      abytes(sig.signature, 'signature.signature', 64);
      const b = decodeBundle(e.bundle);
      const msg = operatorMessage(b.namespace, b.epoch, bundleDigest(e.bundle), [e.witnessSignature]);
      if (!verifyEd25519(sig.signature, msg, sig.publicKey)) {
        throw new BackupError('TRUST_BAD_SIGNATURE', 'operator signature does not verify');
      }
      e.operatorSignatures = [...e.operatorSignatures.filter((o) => toBase64(o.publicKey) !== toBase64(sig.publicKey)), sig];
    },
    checkpoint(size = tree.size) {
      return signCheckpoint({ origin, size, root: tree.root(size) }, signers);
    },
    inclusionProof(index, size = tree.size) {
      return tree.inclusionProof(index, size);
    },
    consistencyProof(from, to = tree.size) {
      return tree.consistencyProof(from, to);
    },
    entry(epoch) {
      const i = find(epoch);
      if (i < 0) return undefined;
      const e = entries[i]!;
      return { bundle: e.bundle, witnessSignature: e.witnessSignature, operatorSignatures: e.operatorSignatures, leafIndex: i };
    },
    signedBundle(epoch) {
      let i = -1;
      if (epoch === undefined) {
        for (let j = entries.length - 1; j >= 0; j--) {
          if (entries[j]!.operatorSignatures.length > 0) {
            i = j;
            break;
          }
        }
      } else i = find(epoch);
      if (i < 0) return undefined;
      const e = entries[i]!;
      return encodeSignedBundle({
        bundle: e.bundle,
        witnessSignatures: [e.witnessSignature],
        operatorSignatures: e.operatorSignatures,
        checkpoint: log.checkpoint(),
        leafIndex: i,
        inclusionProof: tree.inclusionProof(i, tree.size),
      });
    },
    exportState() {
      return {
        entries: entries.map((e) => ({
          bundle: toBase64(e.bundle),
          witness: {
            publicKey: toBase64(e.witnessSignature.publicKey),
            timestamp: e.witnessSignature.timestamp,
            signature: toBase64(e.witnessSignature.signature),
          },
          operators: e.operatorSignatures.map((o) => ({ publicKey: toBase64(o.publicKey), signature: toBase64(o.signature) })),
        })),
      };
    },
  };
  return log;
}

/** Options of {@link createWitnessHandler}. */
export interface WitnessHandlerOptions {
  /** Path prefix, e.g. `/witness` (default: none). */
  readonly basePath?: string;
  /** Gate for the writing endpoints (`POST`); allow-all when absent (tests only). */
  readonly authorize?: (request: Request) => boolean | Promise<boolean>;
}

const MAX_BODY = 65536;

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function errorResponse(e: unknown): Response {
  if (e instanceof BackupError) {
    const status = e.code === 'NOT_FOUND' ? 404 : e.code === 'TRUST_ROLLBACK' ? 409 : 400;
    return json(status, { error: e.code, message: e.message });
  }
  if (e instanceof RangeError || e instanceof TypeError) return json(400, { error: 'INVALID_ARGUMENT', message: e.message });
  return json(500, { error: 'INTERNAL' });
}

async function readBody(req: Request): Promise<Uint8Array> {
  const buf = await readBodyCapped(req, MAX_BODY);
  if (buf === undefined) throw new RangeError('request body is too large');
  return buf;
}

/**
 * Request text, decoded strictly (issue 13, finding 6): invalid UTF-8 and a leading byte-order
 * mark are refused (TypeError → 400 INVALID_ARGUMENT), never repaired or silently dropped, so the
 * witness reads the same text from the bytes as every other strict parser of them.
 */
function readText(body: Uint8Array): string {
  let text: string;
  try {
    text = fromUtf8(body);
  } catch {
    throw new TypeError('request body is not valid UTF-8');
  }
  if (text.startsWith('\uFEFF')) throw new TypeError('request body starts with a byte-order mark');
  return text;
}

function intParam(url: URL, name: string, fallback?: number): number {
  const v = url.searchParams.get(name);
  if (v === null) {
    if (fallback === undefined) throw new RangeError(`missing ${name}`);
    return fallback;
  }
  if (!/^(0|[1-9][0-9]{0,15})$/.test(v)) throw new RangeError(`${name} must be a non-negative integer`);
  return Number(v);
}

/**
 * The witness log over HTTP. Routes (under `basePath`):
 *
 * - `POST /witness` (body: bundle bytes) → `{ leafIndex, witnessSignature: { publicKey, timestamp, signature } }`
 * - `POST /countersign` (JSON `{ epoch, publicKey, signature }`, base64) → `{ ok: true }`
 * - `GET /checkpoint[?size=n]` → the signed checkpoint note (text/plain)
 * - `GET /bundle[?epoch=n]` → the signed bundle with a proof against the current checkpoint
 * - `GET /proof/inclusion?index=i[&size=n]` → `{ proof: [base64…] }`
 * - `GET /proof/consistency?from=m[&to=n]` → `{ proof: [base64…] }`
 *
 * @example
 * ```ts
 * const handler = createWitnessHandler(log);
 * const res = await handler(new Request('http://witness.test/checkpoint'));
 * ```
 */
export function createWitnessHandler(
  log: WitnessLog,
  options: WitnessHandlerOptions = {},
): (request: Request) => Promise<Response> {
  const base = options.basePath ?? '';
  return async (request) => {
    try {
      const url = new URL(request.url);
      if (!url.pathname.startsWith(base)) return json(404, { error: 'NOT_FOUND' });
      const path = url.pathname.slice(base.length);
      if (request.method === 'POST') {
        if (options.authorize && !(await options.authorize(request))) return json(401, { error: 'UNAUTHORIZED' });
        if (path === '/witness') {
          const { leafIndex, signature } = log.witness(await readBody(request));
          return json(200, {
            leafIndex,
            witnessSignature: {
              publicKey: toBase64(signature.publicKey),
              timestamp: signature.timestamp,
              signature: toBase64(signature.signature),
            },
          });
        }
        if (path === '/countersign') {
          const body = JSON.parse(readText(await readBody(request))) as Record<string, unknown>;
          if (typeof body.epoch !== 'number' || typeof body.publicKey !== 'string' || typeof body.signature !== 'string') {
            throw new TypeError('expected { epoch, publicKey, signature }');
          }
          log.addOperatorSignature(body.epoch, { publicKey: fromBase64(body.publicKey), signature: fromBase64(body.signature) });
          return json(200, { ok: true });
        }
        return json(404, { error: 'NOT_FOUND' });
      }
      if (request.method !== 'GET') return json(405, { error: 'METHOD_NOT_ALLOWED' });
      switch (path) {
        case '/checkpoint':
          return new Response(log.checkpoint(intParam(url, 'size', log.size)) as Uint8Array<ArrayBuffer>, {
            headers: { 'content-type': 'text/plain; charset=utf-8' },
          });
        case '/bundle': {
          const e = url.searchParams.has('epoch') ? intParam(url, 'epoch') : undefined;
          const sb = log.signedBundle(e);
          if (sb === undefined) return json(404, { error: 'NOT_FOUND' });
          return new Response(sb as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream' } });
        }
        case '/proof/inclusion':
          return json(200, { proof: log.inclusionProof(intParam(url, 'index'), intParam(url, 'size', log.size)).map(toBase64) });
        case '/proof/consistency':
          return json(200, { proof: log.consistencyProof(intParam(url, 'from'), intParam(url, 'to', log.size)).map(toBase64) });
        default:
          return json(404, { error: 'NOT_FOUND' });
      }
    } catch (e) {
      if (e instanceof SyntaxError) return json(400, { error: 'INVALID_ARGUMENT', message: 'body is not JSON' });
      return errorResponse(e);
    }
  };
}
