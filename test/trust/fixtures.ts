// Shared fixtures for the trust tests: fixed keys, a config, and a witness log that publishes
// bundles through the same library functions the tools use.
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeBundle, operatorSign, type Bundle, type BundleFleet } from '../../lib/trust/bundle.js';
import { ed25519PublicKey } from '../../lib/trust/ed25519.js';
import type { TrustStoreConfig } from '../../lib/trust/trust-store.js';
import { createWitnessLog, type WitnessLog } from '../../lib/server/witness.js';
import { utf8 } from '../../lib/util/bytes.js';

export const T0 = 1_800_000_000; // Unix seconds
export const NOW_MS = T0 * 1000;
export const NS = 'chat.example';
export const ORIGIN = 'witness.example/chat-fleet-log';

export const seed = (s: string): Uint8Array => sha256(utf8(s));
export const W1 = seed('witness-1');
export const W2 = seed('witness-2');
export const OP1 = seed('operator-1');
export const OP2 = seed('operator-2');
export const W1_NAME = 'witness.example/w1';
export const W2_NAME = 'witness.example/w2';

export const fleetKey = (name: string): Uint8Array => Uint8Array.of(0x04, ...seed(`fleet-${name}`), ...seed(`fleet-${name}-y`));

export const SUITE = 'opaque-ts/P256-SHA256-scrypt/v1';

export function config(over: Partial<TrustStoreConfig> = {}): TrustStoreConfig {
  return {
    namespace: NS,
    logOrigin: ORIGIN,
    witnessKeys: [
      { name: W1_NAME, publicKey: ed25519PublicKey(W1), notBefore: T0 - 1_000_000 },
      { name: W2_NAME, publicKey: ed25519PublicKey(W2), notBefore: T0 - 1_000_000 },
    ],
    operatorKeys: [
      { publicKey: ed25519PublicKey(OP1), notBefore: T0 - 1_000_000 },
      { publicKey: ed25519PublicKey(OP2), notBefore: T0 - 1_000_000 },
    ],
    thresholds: { witnesses: 1, operators: 1 },
    ...over,
  };
}

export function fleet(id: string, over: Partial<BundleFleet> = {}): BundleFleet {
  return {
    fleetId: id,
    suite: SUITE,
    publicKey: fleetKey(id),
    roles: ['enroll', 'recover'],
    notBefore: T0 - 86_400,
    notAfter: T0 + 365 * 86_400,
    ...over,
  };
}

export function bundle(epoch: number, fleets: BundleFleet[], over: Partial<Bundle> = {}): Bundle {
  return { namespace: NS, epoch, notBefore: T0 - 3600, notAfter: T0 + 30 * 86_400, fleets, retired: [], ...over };
}

/** A witness log (W1) with a clock, and a publish() that witnesses + counter-signs (OP1). */
export function witnessLog(opts: { namespace?: string; nowMs?: () => number; secret?: Uint8Array; name?: string } = {}): {
  log: WitnessLog;
  publish(b: Bundle, operators?: Uint8Array[]): Uint8Array;
} {
  const log = createWitnessLog({
    origin: ORIGIN,
    namespace: opts.namespace ?? NS,
    signer: { name: opts.name ?? W1_NAME, secretKey: opts.secret ?? W1 },
    now: opts.nowMs ?? (() => NOW_MS),
  });
  return {
    log,
    publish(b, operators = [OP1]) {
      const bytes = encodeBundle(b);
      const { signature } = log.witness(bytes);
      for (const op of operators) log.addOperatorSignature(b.epoch, operatorSign(bytes, [signature], op));
      return log.signedBundle(b.epoch)!;
    },
  };
}
