/**
 * Client side of the witness log's HTTP API (lib/server/witness.ts), shaped to plug straight into
 * {@link createTrustStore}'s `fetchBundle` and `fetchConsistencyProof`. `fetch` is injected.
 *
 * Everything read here is untrusted: the trust store verifies it. This file only caps sizes and
 * shapes, so a hostile endpoint cannot make the device buffer or parse unbounded data.
 *
 * @module
 */
import { BackupError } from '../errors.js';
import { fromBase64, fromUtf8 } from '../util/bytes.js';
import { MAX_SIGNED_BUNDLE_BYTES } from './bundle.js';
import { MAX_PROOF_HASHES } from './merkle.js';
import { readBodyCapped } from '../util/body.js';

/** Options of {@link witnessLogClient}. */
export interface WitnessLogClientOptions {
  /** Base URL of the witness endpoints, e.g. `https://witness.example/chat`. */
  readonly baseUrl: string;
  /** The `fetch` to use (required: no globals). */
  readonly fetch: (input: Request) => Promise<Response>;
}

/** The two callbacks the trust store needs. */
export interface WitnessLogClient {
  /** The newest signed bundle (the witness serves its latest; the arguments are ignored hints). */
  fetchBundle(fleetId?: string, publicKey?: Uint8Array): Promise<Uint8Array | undefined>;
  /** An RFC 9162 consistency proof between two tree sizes. */
  fetchConsistencyProof(fromSize: number, toSize: number): Promise<readonly Uint8Array[]>;
}

const MAX_JSON_BYTES = 16384;

async function readCapped(res: Response, cap: number): Promise<Uint8Array> {
  const buf = await readBodyCapped(res, cap);
  if (buf === undefined) throw new BackupError('TRUST_MALFORMED', 'witness response is too large', { limit: cap });
  return buf;
}

function unavailable(status: number): BackupError {
  return new BackupError('VAULT_UNAVAILABLE', `witness log answered HTTP ${status}`, { status });
}

/**
 * Create the witness-log client.
 *
 * @example
 * ```ts
 * const log = witnessLogClient({ baseUrl: 'https://witness.example/chat', fetch: (r) => fetch(r) });
 * const trust = createTrustStore({ config, store, ...log });
 * ```
 */
export function witnessLogClient(options: WitnessLogClientOptions): WitnessLogClient {
  if (typeof options?.baseUrl !== 'string') throw new TypeError('options.baseUrl must be a string');
  if (typeof options.fetch !== 'function') throw new TypeError('options.fetch must be a function');
  const base = options.baseUrl.replace(/\/+$/, '');
  return {
    async fetchBundle() {
      const res = await options.fetch(new Request(`${base}/bundle`));
      if (res.status === 404) return undefined;
      if (!res.ok) throw unavailable(res.status);
      return readCapped(res, MAX_SIGNED_BUNDLE_BYTES);
    },
    async fetchConsistencyProof(fromSize, toSize) {
      if (!Number.isSafeInteger(fromSize) || !Number.isSafeInteger(toSize) || fromSize < 0 || toSize < fromSize) {
        throw new RangeError('fromSize/toSize must be integers with 0 ≤ fromSize ≤ toSize');
      }
      const res = await options.fetch(new Request(`${base}/proof/consistency?from=${fromSize}&to=${toSize}`));
      if (!res.ok) throw unavailable(res.status);
      let body: unknown;
      try {
        body = JSON.parse(fromUtf8(await readCapped(res, MAX_JSON_BYTES)));
      } catch (e) {
        if (e instanceof BackupError) throw e;
        throw new BackupError('TRUST_MALFORMED', 'consistency proof is not JSON');
      }
      const proof = (body as { proof?: unknown } | null)?.proof;
      if (!Array.isArray(proof) || proof.length > MAX_PROOF_HASHES || !proof.every((h) => typeof h === 'string')) {
        throw new BackupError('TRUST_MALFORMED', 'consistency proof has the wrong shape', { limit: MAX_PROOF_HASHES });
      }
      try {
        return proof.map((h: string) => fromBase64(h));
      } catch {
        throw new BackupError('TRUST_MALFORMED', 'consistency proof is not base64');
      }
    },
  };
}
