/**
 * `npm run fleet -- <command>`: the operator's and the witness's tool for fleet bundles
 * (docs/TRUST.md §Tools). Every command works on files in one directory (`--dir`, default `.`):
 *
 *   keys/<name>.secret.json   Ed25519 secret seed (hex), mode 0600: witness or operator
 *   keys/<name>.public.json   its public key (hex)
 *   log.json                  the witness log: origin, namespace, witness key name, entries
 *   bundles/<epoch>.bundle    canonical bundle bytes
 *   signed/<epoch>.signed     signed bundle with checkpoint and inclusion proof (what clients get)
 *   client-config.json        trust roots for the app's config
 *
 * Commands:
 *   keygen <witness|operator> <name>
 *   init-log <origin> <namespace> <witness-name>
 *   vault-setup <fleetId> [suite]        a new vault setup (secret, keys/<fleetId>.vault-setup.json,
 *                                          mode 0600) for `suite` (default: the RFC 9807 default
 *                                          suite, docs/PROTOCOL.md §9); prints the public key (base64)
 *   create-bundle <spec.json>            spec: { namespace, epoch, notBefore, notAfter,
 *                                          fleets: [{ fleetId, suite?, publicKey (base64), roles,
 *                                          notBefore, notAfter }], retired: [] }; a fleet's suite
 *                                          defaults to the RFC 9807 default suite, and must be one
 *                                          this SDK runs
 *   witness <epoch>                      witness-sign bundles/<epoch>.bundle and append it to the log
 *   countersign <operator-name> <epoch>  operator counter-signature, recorded in the log
 *   prove <epoch>                        write signed/<epoch>.signed (current checkpoint + proof)
 *   checkpoint [size]                    print the signed checkpoint
 *   consistency <from> [to]              print a consistency proof (JSON, base64 hashes)
 *   client-config <witness-names,...> <operator-names,...> <notBefore> [wThreshold] [oThreshold]
 *   verify <signed-file> [config.json]   verify as a client would (exit 1 on refusal)
 *
 * Options: --dir <path>, --now <unix-seconds> (fixed clock, for reproducible vectors).
 *
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import {
  bundleDigest,
  encodeBundle,
  operatorSign,
  verifySignedBundle,
  type Bundle,
  type FleetRole,
  type TrustRoots,
} from '../lib/trust/bundle.js';
import { ed25519PublicKey } from '../lib/trust/ed25519.js';
import { createWitnessLog, type WitnessLog, type WitnessLogState } from '../lib/server/witness.js';
import { fromBase64, fromHex, toBase64, toHex } from '../lib/util/bytes.js';
import { isBackupError } from '../lib/errors.js';
import { RFC9807_DEFAULT_SUITE_ID } from '../lib/recovery/opaque/rfc9807.js';
import { opaqueSuiteFor } from '../lib/recovery/opaque/suites.js';
import { opaqueTsSuite } from '../lib/recovery/opaque/opaque-ts.js';
import { generateVaultSetup } from '../lib/server/vault.js';

/** The suite an id names, the superseded opaque-ts suite included; a typo is refused. */
function suiteNamed(id: string) {
  const suite = opaqueSuiteFor(id, [opaqueTsSuite()]);
  if (suite === undefined) throw new RangeError(`unknown OPAQUE suite '${id}' (new fleets: ${RFC9807_DEFAULT_SUITE_ID})`);
  return suite;
}

/** Where the tool writes its human-readable output. */
export interface FleetToolIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

interface LogFile extends WitnessLogState {
  readonly origin: string;
  readonly namespace: string;
  readonly witness: string;
}

interface KeyFile {
  readonly role: 'witness' | 'operator';
  readonly name: string;
  readonly secretKey?: string;
  readonly publicKey: string;
}

/** JSON form of {@link TrustRoots}: keys in hex. */
export interface TrustRootsJson {
  readonly namespace: string;
  readonly logOrigin?: string;
  readonly witnessKeys: readonly { name: string; publicKey: string; notBefore: number; notAfter?: number }[];
  readonly operatorKeys: readonly { publicKey: string; notBefore: number; notAfter?: number }[];
  readonly thresholds: { witnesses: number; operators: number; checkpoint?: number };
}

/**
 * Parse the JSON client config the tool writes (`client-config.json`) into {@link TrustRoots}.
 *
 * @example
 * ```ts
 * const roots = trustRootsFromJson(JSON.parse(readFileSync('client-config.json', 'utf8')));
 * ```
 */
export function trustRootsFromJson(j: TrustRootsJson): TrustRoots {
  return {
    namespace: j.namespace,
    ...(j.logOrigin !== undefined ? { logOrigin: j.logOrigin } : {}),
    witnessKeys: j.witnessKeys.map((k) => ({ ...k, publicKey: fromHex(k.publicKey) })),
    operatorKeys: j.operatorKeys.map((k) => ({ ...k, publicKey: fromHex(k.publicKey) })),
    thresholds: j.thresholds,
  };
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
const writeJson = (path: string, v: unknown, mode?: number) =>
  writeFileSync(path, JSON.stringify(v, null, 2) + '\n', mode === undefined ? {} : { mode });

/**
 * Run one command. Returns the process exit code; never calls `process.exit`.
 *
 * @example
 * ```ts
 * await runFleetTool(['--dir', dir, 'keygen', 'witness', 'w1'], { out: console.log, err: console.error });
 * ```
 */
export async function runFleetTool(argv: readonly string[], io: FleetToolIo): Promise<number> {
  const args = [...argv];
  let dir = '.';
  let nowSec: number | undefined;
  for (let i = 0; i < args.length; ) {
    if (args[i] === '--dir') {
      dir = args[i + 1] ?? '.';
      args.splice(i, 2);
    } else if (args[i] === '--now') {
      nowSec = Number(args[i + 1]);
      if (!Number.isSafeInteger(nowSec)) throw new RangeError('--now must be Unix seconds');
      args.splice(i, 2);
    } else i++;
  }
  dir = resolve(dir);
  const nowMs = () => (nowSec !== undefined ? nowSec * 1000 : Date.now());
  const [cmd, ...rest] = args;
  const p = (...parts: string[]) => join(dir, ...parts);
  const secret = (name: string, role: KeyFile['role']): Uint8Array => {
    const k = readJson<KeyFile>(p('keys', `${name}.secret.json`));
    if (k.role !== role || k.secretKey === undefined) throw new Error(`keys/${name} is not a ${role} secret key`);
    return fromHex(k.secretKey);
  };
  const loadLog = (): { file: LogFile; log: WitnessLog } => {
    const file = readJson<LogFile>(p('log.json'));
    const log = createWitnessLog({
      origin: file.origin,
      namespace: file.namespace,
      signer: { name: file.witness, secretKey: secret(file.witness, 'witness') },
      now: nowMs,
      initialState: file,
    });
    return { file, log };
  };
  const saveLog = (file: LogFile, log: WitnessLog) => writeJson(p('log.json'), { ...file, ...log.exportState() });
  const int = (s: string | undefined, what: string): number => {
    const n = Number(s);
    if (s === undefined || !Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer`);
    return n;
  };

  try {
    switch (cmd) {
      case 'keygen': {
        const [role, name] = rest;
        if ((role !== 'witness' && role !== 'operator') || !name) throw new RangeError('usage: keygen <witness|operator> <name>');
        mkdirSync(p('keys'), { recursive: true });
        if (existsSync(p('keys', `${name}.secret.json`))) throw new Error(`keys/${name}.secret.json exists; refusing to overwrite`);
        const sk = new Uint8Array(randomBytes(32));
        const pk = ed25519PublicKey(sk);
        writeJson(p('keys', `${name}.secret.json`), { role, name, secretKey: toHex(sk), publicKey: toHex(pk) }, 0o600);
        writeJson(p('keys', `${name}.public.json`), { role, name, publicKey: toHex(pk) });
        sk.fill(0);
        io.out(`${role} ${name} ${toHex(pk)}`);
        return 0;
      }
      case 'init-log': {
        const [origin, namespace, witness] = rest;
        if (!origin || !namespace || !witness) throw new RangeError('usage: init-log <origin> <namespace> <witness-name>');
        if (existsSync(p('log.json'))) throw new Error('log.json exists; refusing to overwrite');
        secret(witness, 'witness');
        writeJson(p('log.json'), { origin, namespace, witness, entries: [] });
        io.out(`log ${origin} for ${namespace}, witness ${witness}`);
        return 0;
      }
      case 'vault-setup': {
        const [fleetId, suiteId = RFC9807_DEFAULT_SUITE_ID] = rest;
        if (!fleetId) throw new RangeError('usage: vault-setup <fleetId> [suite]');
        const suite = suiteNamed(suiteId);
        mkdirSync(p('keys'), { recursive: true });
        const file = p('keys', `${fleetId}.vault-setup.json`);
        if (existsSync(file)) throw new Error(`keys/${fleetId}.vault-setup.json exists; refusing to overwrite`);
        const { setup, publicKey } = await generateVaultSetup(suite);
        writeJson(file, { fleetId, suite: suite.id, setup: toHex(setup), publicKey: toBase64(publicKey) }, 0o600);
        setup.fill(0);
        io.out(`vault ${fleetId} ${suite.id} ${toBase64(publicKey)}`);
        return 0;
      }
      case 'create-bundle': {
        const spec = readJson<Omit<Bundle, 'fleets'> & { fleets: { fleetId: string; suite?: string; publicKey: string; roles: FleetRole[]; notBefore: number; notAfter: number }[] }>(
          resolve(rest[0] ?? 'spec.json'),
        );
        const fleets = spec.fleets.map((f) => ({ ...f, suite: suiteNamed(f.suite ?? RFC9807_DEFAULT_SUITE_ID).id, publicKey: fromBase64(f.publicKey) }));
        const bytes = encodeBundle({ ...spec, fleets });
        mkdirSync(p('bundles'), { recursive: true });
        writeFileSync(p('bundles', `${spec.epoch}.bundle`), bytes);
        io.out(`bundle epoch ${spec.epoch} digest ${toHex(bundleDigest(bytes))}`);
        return 0;
      }
      case 'witness': {
        const epoch = int(rest[0], 'epoch');
        const { file, log } = loadLog();
        const { leafIndex, signature } = log.witness(new Uint8Array(readFileSync(p('bundles', `${epoch}.bundle`))));
        saveLog(file, log);
        io.out(`witnessed epoch ${epoch} at leaf ${leafIndex}, timestamp ${signature.timestamp}`);
        return 0;
      }
      case 'countersign': {
        const [name, e] = rest;
        const epoch = int(e, 'epoch');
        const { file, log } = loadLog();
        const entry = log.entry(epoch);
        if (!entry) throw new Error(`epoch ${epoch} is not in the log; witness it first`);
        const sig = operatorSign(entry.bundle, [entry.witnessSignature], secret(name ?? '', 'operator'));
        log.addOperatorSignature(epoch, sig);
        saveLog(file, log);
        io.out(`operator ${name} counter-signed epoch ${epoch}`);
        return 0;
      }
      case 'prove': {
        const epoch = int(rest[0], 'epoch');
        const { log } = loadLog();
        const sb = log.signedBundle(epoch);
        if (!sb) throw new Error(`epoch ${epoch} is not in the log`);
        mkdirSync(p('signed'), { recursive: true });
        writeFileSync(p('signed', `${epoch}.signed`), sb);
        io.out(`signed/${epoch}.signed (${sb.length} bytes, tree size ${log.size})`);
        return 0;
      }
      case 'checkpoint': {
        const { log } = loadLog();
        io.out(new TextDecoder().decode(log.checkpoint(rest[0] === undefined ? log.size : int(rest[0], 'size'))).trimEnd());
        return 0;
      }
      case 'consistency': {
        const { log } = loadLog();
        const from = int(rest[0], 'from');
        const to = rest[1] === undefined ? log.size : int(rest[1], 'to');
        io.out(JSON.stringify({ from, to, proof: log.consistencyProof(from, to).map(toBase64) }));
        return 0;
      }
      case 'client-config': {
        const [ws, os, nb, wt, ot] = rest;
        const { file } = loadLog();
        const pub = (n: string) => readJson<KeyFile>(p('keys', `${n}.public.json`));
        const notBefore = int(nb, 'notBefore');
        const cfg: TrustRootsJson = {
          namespace: file.namespace,
          logOrigin: file.origin,
          witnessKeys: (ws ?? '').split(',').filter(Boolean).map((n) => ({ name: n, publicKey: pub(n).publicKey, notBefore })),
          operatorKeys: (os ?? '').split(',').filter(Boolean).map((n) => ({ publicKey: pub(n).publicKey, notBefore })),
          thresholds: { witnesses: wt ? int(wt, 'wThreshold') : 1, operators: ot ? int(ot, 'oThreshold') : 1 },
        };
        trustRootsFromJson(cfg);
        writeJson(p('client-config.json'), cfg);
        io.out('client-config.json written');
        return 0;
      }
      case 'verify': {
        const bytes = new Uint8Array(readFileSync(resolve(dir, rest[0] ?? '')));
        const cfg = trustRootsFromJson(readJson<TrustRootsJson>(resolve(dir, rest[1] ?? 'client-config.json')));
        const v = verifySignedBundle(bytes, cfg, nowMs());
        const b = v.bundle;
        io.out(`OK epoch ${b.epoch} (${b.fleets.length} fleets, ${b.retired.length} retired), log ${v.checkpoint.origin} size ${v.checkpoint.size}`);
        for (const f of v.bundle.fleets) io.out(`  ${f.fleetId} ${f.suite} [${f.roles.join(',')}] ${f.notBefore}..${f.notAfter}`);
        return 0;
      }
      default:
        io.err('usage: fleet [--dir D] [--now S] <keygen|init-log|create-bundle|witness|countersign|prove|checkpoint|consistency|client-config|verify> ...');
        return 2;
    }
  } catch (e) {
    if (isBackupError(e)) io.err(`refused: ${e.code}: ${e.message}`);
    else io.err(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runFleetTool(process.argv.slice(2), { out: (l) => console.log(l), err: (l) => console.error(l) }).then((code) => {
    process.exitCode = code;
  });
}
