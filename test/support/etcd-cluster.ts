/**
 * A throwaway etcd cluster on 127.0.0.1 for tests and the soak run: N members (3 by default), random
 * free ports, one temporary data directory, and the faults the vault must survive — SIGKILL a
 * member, restart it on its data directory, wait for a quorum.
 *
 * Loopback only: every client and peer URL is `http://127.0.0.1:<port>`. Bounded in time: every wait
 * has a deadline, and every member is SIGKILLed when the Node process exits, so a crashed test run
 * cannot leave etcd behind.
 *
 * etcd itself comes from Debian's `etcd-server` package (3.4, `/usr/bin/etcd`); `.ci/run` installs it.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveHandler } from '../../lib/server/index.js';
import { createEtcdVaultStore } from '../../lib/server/stores/etcd.js';
import { createFileVaultStore } from '../../lib/server/stores/file.js';
import { createVaultHandler } from '../../lib/server/vault.js';
import type { VaultStore } from '../../lib/server/vault-store.js';
import { INSECURE_IDENTITY_KSF, OpaqueTsSuite, opaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import type { OpaqueLoginStart, OpaqueSuite } from '../../lib/recovery/opaque/suite.js';
import {
  encodeVaultMessage,
  opaqueBinding,
  openEscrowTransport,
  parseVaultMessage,
  type VaultRequest,
  type VaultResponse,
} from '../../lib/recovery/protocol.js';
import { fromHex, secureRandom } from '../../lib/util/bytes.js';
// Types only: the soak script imports this file outside vitest.
import { registrationAuth } from './vault-registration.js';
import type { describe as Describe, it as It } from 'vitest';

/**
 * Where the etcd binary is, or `undefined` when it is not installed. `ETCD_BIN`, when set, is
 * the only place looked at (so `ETCD_BIN=/nonexistent CI=1` shows what CI does without etcd).
 */
export function findEtcd(): string | undefined {
  const candidates = process.env.ETCD_BIN ? [process.env.ETCD_BIN] : ['/usr/bin/etcd', '/usr/local/bin/etcd'];
  if (!process.env.ETCD_BIN) for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'etcd'));
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here; try the next one
    }
  }
  return undefined;
}

/**
 * `describe` for suites that need etcd: skipped with a clear message when etcd is missing on a
 * developer machine, but a FAILING test in CI (`process.env.CI` set), so `.ci/run` cannot pass by
 * silently skipping the fault tests.
 */
export function describeWithEtcd(
  t: { describe: typeof Describe; it: typeof It },
  name: string,
  body: (etcdBin: string) => void,
): void {
  const { describe, it } = t;
  const bin = findEtcd();
  if (bin) {
    describe(name, () => body(bin));
    return;
  }
  const message =
    'etcd is not installed (apt-get install etcd-server etcd-client, or set ETCD_BIN); ' +
    `the suite "${name}" needs it`;
  if (process.env.CI) {
    describe(name, () => {
      it('has etcd installed (required in CI)', () => {
        throw new Error(message);
      });
    });
  } else {
    console.warn(`skipping: ${message}`);
    describe.skipIf(true)(name, () => body(''));
  }
}

/** One member as the harness sees it. */
export interface EtcdMemberInfo {
  readonly name: string;
  /** `http://127.0.0.1:<port>`, the gRPC + HTTP client endpoint. */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The member's own log file (stdout + stderr), for post-mortems. */
  readonly logFile: string;
}

/** A running cluster; every method is bounded in time. */
export interface EtcdCluster {
  readonly members: readonly EtcdMemberInfo[];
  /** Client URLs of every member, in member order (for the store's `hosts`). */
  readonly endpoints: readonly string[];
  /** Whether member `i`'s process is currently running. */
  isRunning(i: number): boolean;
  /** SIGKILL member `i` (a crash: no graceful shutdown) and wait for the process to exit. */
  kill(i: number): Promise<void>;
  /**
   * Freeze member `i` (SIGSTOP): it holds its sockets but answers nothing, like a member cut off
   * by a partition. {@link EtcdCluster.resume} (SIGCONT) brings it back with whatever it missed.
   */
  pause(i: number): void;
  resume(i: number): void;
  /** Start member `i` again on its existing data directory (it rejoins from its WAL). */
  restart(i: number): Promise<void>;
  /**
   * Wait until member `i` (or, without `i`, every running member) answers `/health` as healthy:
   * it sees a leader and can serve a quorum read.
   */
  waitHealthy(i?: number, timeoutMs?: number): Promise<void>;
  /** Index of the current Raft leader, as the running members report it (etcd's status API). */
  leader(): Promise<number | undefined>;
  /** Kill every member and delete the data directory. */
  stop(): Promise<void>;
}

/** Options for {@link startEtcdCluster}. */
export interface EtcdClusterOptions {
  /** Number of members (default 3). */
  readonly size?: number;
  /** Path of the etcd binary (default: {@link findEtcd}). */
  readonly etcdBin?: string;
  /**
   * Raft heartbeat and election timeout in ms (default 100 / 1000). Short enough that a failover
   * takes about a second, long enough that two shared, busy CPU cores do not cause spurious
   * elections (etcd's tuning guide: election timeout ≥ 10 × heartbeat).
   */
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
  /** How long to wait for the first quorum (default 30 s). */
  readonly startTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last resort: a test that crashes or times out must not leave etcd running.
  process.on('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * A free TCP port on 127.0.0.1, chosen below the kernel's ephemeral range: a killed member's
 * port must still be free when it restarts, and ports from the ephemeral range are handed out to
 * outgoing connections (our own gRPC clients) in between.
 */
export async function freePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the usual default
  }
  const min = 10_000;
  const max = Math.max(min + 1000, low) - 1;
  for (let tries = 0; tries < 200; tries++) {
    const port = min + Math.floor(Math.random() * (max - min));
    if (handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port below the ephemeral range');
}

/** Ports this process already gave to a member (so two clusters never share one). */
const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Go's GOARCH for this machine: etcd 3.4 refuses arches other than amd64/ppc64le without a flag. */
function goArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ppc64: 'ppc64le', ia32: '386', arm: 'arm', s390x: 's390x' };
  return map[process.arch] ?? process.arch;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Start an N-member etcd cluster on 127.0.0.1 and wait until it has a leader and every member is
 * healthy.
 *
 * @example
 * ```ts
 * const cluster = await startEtcdCluster();
 * try {
 *   const store = createEtcdVaultStore({ hosts: cluster.endpoints });
 *   await cluster.kill(0); // the two others still form a quorum
 * } finally {
 *   await cluster.stop();
 * }
 * ```
 */
export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  // A port can be taken by another process between our probe and etcd's bind: try fresh ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (e) {
      if (attempt >= 3) throw e;
      console.warn(`etcd cluster start failed (attempt ${attempt}), retrying with new ports: ${(e as Error).message.split('\n')[0]}`);
    }
  }
}

async function startOnce(options: EtcdClusterOptions): Promise<EtcdCluster> {
  const size = options.size ?? 3;
  const bin = options.etcdBin ?? findEtcd();
  if (!bin) throw new Error('etcd is not installed');
  const heartbeat = options.heartbeatMs ?? 100;
  const election = options.electionMs ?? 1000;
  installExitHook();

  const root = mkdtempSync(join(tmpdir(), 'e2ee-etcd-'));
  const members: EtcdMemberInfo[] = [];
  for (let i = 0; i < size; i++) {
    const [cp, pp] = [await freePort(), await freePort()];
    const dataDir = join(root, `m${i}`);
    mkdirSync(dataDir);
    members.push({
      name: `m${i}`,
      clientUrl: `http://127.0.0.1:${cp}`,
      peerUrl: `http://127.0.0.1:${pp}`,
      dataDir: join(dataDir, 'data'),
      logFile: join(dataDir, 'etcd.log'),
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const token = `e2ee-test-${Math.random().toString(36).slice(2)}`;
  const procs: (ChildProcess | undefined)[] = new Array(size).fill(undefined);
  const exited: (Promise<void> | undefined)[] = new Array(size).fill(undefined);

  const env: NodeJS.ProcessEnv = { ...process.env };
  const arch = goArch();
  if (arch !== 'amd64' && arch !== 'ppc64le') env.ETCD_UNSUPPORTED_ARCH = arch;
  // Never pick up an operator's ETCD_* configuration from the environment.
  for (const k of Object.keys(env)) if (k.startsWith('ETCD_') && k !== 'ETCD_UNSUPPORTED_ARCH') delete env[k];

  function launch(i: number): void {
    const m = members[i]!;
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      // On a restart the WAL in data-dir wins and these two are ignored.
      '--initial-cluster-state=new',
      `--heartbeat-interval=${heartbeat}`,
      `--election-timeout=${election}`,
      '--logger=zap',
      '--log-outputs=stderr',
    ];
    const fd = openSync(m.logFile, 'a');
    const p = spawn(bin!, args, { env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    live.add(p);
    procs[i] = p;
    exited[i] = new Promise<void>((resolve) => {
      p.once('exit', () => {
        live.delete(p);
        if (procs[i] === p) procs[i] = undefined;
        resolve();
      });
      p.once('error', () => resolve());
    });
  }

  async function healthy(i: number): Promise<boolean> {
    try {
      const res = await fetch(`${members[i]!.clientUrl}/health`, { signal: AbortSignal.timeout(1500) });
      const body = (await res.json()) as { health?: unknown };
      return res.ok && body.health === 'true';
    } catch {
      return false;
    }
  }

  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    isRunning: (i) => procs[i] !== undefined,
    async kill(i) {
      const p = procs[i];
      if (!p) return;
      p.kill('SIGKILL');
      await Promise.race([exited[i], sleep(10_000)]);
    },
    pause(i) {
      procs[i]?.kill('SIGSTOP');
    },
    resume(i) {
      procs[i]?.kill('SIGCONT');
    },
    async restart(i) {
      if (procs[i]) throw new Error(`member ${i} is running`);
      launch(i);
      // Give the process a moment to fail fast (bad flags, port taken) before callers rely on it.
      await sleep(50);
      if (!procs[i]) throw new Error(`member ${i} exited at start; see ${members[i]!.logFile}`);
    },
    async waitHealthy(i, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      const which = i === undefined ? members.map((_, k) => k).filter((k) => procs[k]) : [i];
      for (const k of which) {
        while (!(await healthy(k))) {
          if (!procs[k]) throw new Error(`member ${k} is not running; see ${members[k]!.logFile}`);
          if (Date.now() > deadline) {
            throw new Error(`member ${k} not healthy after ${timeoutMs} ms; see ${members[k]!.logFile}`);
          }
          await sleep(100);
        }
      }
    },
    async leader() {
      // etcd's gRPC gateway (v3 API over HTTP/JSON): Maintenance.Status names this member and
      // the leader it follows.
      const ids: (string | undefined)[] = [];
      let leaderId: string | undefined;
      for (let i = 0; i < size; i++) {
        if (!procs[i]) continue;
        try {
          const res = await fetch(`${members[i]!.clientUrl}/v3/maintenance/status`, {
            method: 'POST',
            body: '{}',
            signal: AbortSignal.timeout(1500),
          });
          const body = (await res.json()) as { header?: { member_id?: string }; leader?: string };
          ids[i] = body.header?.member_id;
          if (body.leader && body.leader !== '0') leaderId = body.leader;
        } catch {
          // not answering: not the leader we can use
        }
      }
      const i = ids.findIndex((id) => id !== undefined && id === leaderId);
      return i < 0 ? undefined : i;
    },
    async stop() {
      await Promise.all(members.map((_, i) => cluster.kill(i)));
      rmSync(root, { recursive: true, force: true });
    },
  };

  for (let i = 0; i < size; i++) launch(i);
  try {
    await cluster.waitHealthy(undefined, options.startTimeoutMs ?? 30_000);
  } catch (e) {
    const tail = members.map((m) => `--- ${m.name}\n${readTail(m.logFile)}`).join('\n');
    await cluster.stop();
    throw new Error(`etcd cluster did not start: ${(e as Error).message}\n${tail}`, { cause: e });
  }
  return cluster;
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-8).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------------------------------------
// Reference vault processes in front of the cluster.
//
// Each is a separate Node process (this file run with `--vault-process` under tsx) serving
// B2's `createVaultHandler` over node:http on 127.0.0.1, on the etcd store. Separate processes
// make "kill a vault" a real crash: no shared memory, no finally blocks, no flushed buffers.

/** What a vault process is started with (sent over stdin: the setup is a secret). */
export interface VaultProcessConfig {
  /** etcd client URLs. */
  readonly hosts: readonly string[];
  /** etcd key prefix shared by every process of one fleet. */
  readonly namespace: string;
  readonly fleetId: string;
  /** The fleet's OPAQUE server setup, hex. */
  readonly setupHex: string;
  readonly guessLimit: number;
  /** `insecure`: the identity KSF (fast, tests only); `scrypt`: the production suite. */
  readonly ksf: 'insecure' | 'scrypt';
  /** The store's per-call bound, ms. */
  readonly storeTimeoutMs: number;
  /**
   * Test-only fault: SIGKILL this process right after its first successful compare-and-swap, so
   * the write is durable in etcd but no answer ever leaves the vault.
   */
  readonly crashAfterFirstWrite?: boolean;
  /** Serve from a file vault store in this directory instead of etcd (`hosts` is then ignored). */
  readonly fileDir?: string;
}

/** A running vault process. */
export interface VaultProcess {
  readonly url: string;
  readonly pid: number;
  /** Resolves with the exit code or signal when the process ends. */
  readonly exited: Promise<string>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

const THIS_FILE = fileURLToPath(import.meta.url);

/** The OPAQUE suite a vault process and its test clients use. */
export function suiteFor(ksf: VaultProcessConfig['ksf']): OpaqueSuite {
  return ksf === 'scrypt' ? opaqueTsSuite() : new OpaqueTsSuite(INSECURE_IDENTITY_KSF);
}

/**
 * Start one vault process and wait until it listens.
 *
 * @example
 * ```ts
 * const v = await startVaultProcess({ hosts: cluster.endpoints, namespace: 'v/', fleetId: 'f', setupHex, guessLimit: 10, ksf: 'insecure', storeTimeoutMs: 3000 });
 * await fetch(`${v.url}/v1/vault`, { method: 'POST', body });
 * await v.kill();
 * ```
 */
export async function startVaultProcess(
  config: VaultProcessConfig,
  startTimeoutMs = 30_000,
  options: { /** Run it in its own PID namespace (`unshare --pid --fork`, root): it is pid 1 there. */ pidNamespace?: boolean } = {},
): Promise<VaultProcess> {
  installExitHook();
  const node = [process.execPath, '--import', 'tsx', THIS_FILE, '--vault-process'];
  // --kill-child: SIGKILL of unshare takes the namespace's pid 1 (the vault) with it.
  const [cmd, ...args] = options.pidNamespace ? ['unshare', '--pid', '--fork', '--kill-child', ...node] : node;
  const p = spawn(cmd!, args, {
    stdio: ['pipe', 'pipe', 'inherit'],
    cwd: dirname(dirname(dirname(THIS_FILE))),
  });
  live.add(p);
  const exited = new Promise<string>((resolve) => {
    p.once('exit', (code, signal) => {
      live.delete(p);
      resolve(signal ?? String(code));
    });
    p.once('error', (e) => resolve(`error: ${e.message}`));
  });
  p.stdin!.end(JSON.stringify(config));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('vault process did not start in time')), startTimeoutMs);
    p.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const m = /READY (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`vault process exited at start (${how})`));
    });
  });
  return {
    url,
    pid: p.pid!,
    exited,
    async kill() {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      await exited;
    },
  };
}

async function vaultProcessMain(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const config = JSON.parse(Buffer.concat(chunks).toString('utf8')) as VaultProcessConfig;
  const etcd =
    config.fileDir === undefined
      ? createEtcdVaultStore({ hosts: config.hosts, namespace: config.namespace, timeoutMs: config.storeTimeoutMs })
      : { ...createFileVaultStore({ dir: config.fileDir }), close: async () => undefined };
  let store: VaultStore = etcd;
  if (config.crashAfterFirstWrite) {
    store = {
      get: (key) => etcd.get(key),
      async compareAndSwap(key, expected, value) {
        const ok = await etcd.compareAndSwap(key, expected, value);
        // The write is durable (a quorum has it); die before the handler can answer.
        if (ok) process.kill(process.pid, 'SIGKILL');
        return ok;
      },
    };
  }
  const handler = createVaultHandler({
    fleetId: config.fleetId,
    setup: fromHex(config.setupHex),
    store,
    suite: suiteFor(config.ksf),
    guessLimit: config.guessLimit,
    // Test tokens: "test-token:<accountId>" authorizes that account.
    verifyToken: async (t) => (t.startsWith('test-token:') ? t.slice('test-token:'.length) : undefined),
  });
  const served = await serveHandler(handler, { port: 0 });
  process.stdout.write(`READY ${served.url}\n`);
  process.once('SIGTERM', () => {
    void served.close().finally(() => etcd.close().finally(() => process.exit(0)));
  });
}

if (process.argv.includes('--vault-process') && process.argv[1] && resolve(process.argv[1]) === THIS_FILE) {
  vaultProcessMain().catch((e: unknown) => {
    console.error('vault process failed:', e);
    process.exit(1);
  });
}

// ---------------------------------------------------------------------------------------------
// A minimal wire-protocol client for the fault tests and the soak: every message explicit, so a
// test can hold an attempt, retry it with the same attempt id on another vault process, or stop
// between KE1 and KE3. (The SDK's vault client is the product; this is a probe.)

/** No answer at all: the connection failed or the vault process died. */
export class NoAnswer extends Error {}

/**
 * A login whose KE3 was processed but whose answer was lost (the vault process died, say): the
 * retry finds the attempt closed. `announced` is what KE2 said before.
 */
export class AnswerLost extends Error {
  constructor(readonly announced: number) {
    super('the answer to KE3 was lost and the attempt is closed');
  }
}

/** Options for {@link vaultProbe}. */
export interface VaultProbeOptions {
  readonly fleetId: string;
  readonly suite: OpaqueSuite;
  /** The fleet's OPAQUE public key (what a real client pins). */
  readonly publicKey: Uint8Array;
  /** Per-request timeout, ms (default 20 000). */
  readonly timeoutMs?: number;
}

/** One recover attempt that has sent (or will send) KE1. */
export interface LoginAttempt {
  readonly accountId: string;
  readonly attemptId: Uint8Array;
  readonly start: OpaqueLoginStart;
}

/**
 * A wire-level vault client for tests.
 *
 * @example
 * ```ts
 * const probe = vaultProbe({ fleetId, suite, publicKey });
 * await probe.enroll(() => vault.url, 'alice', utf8('right code'), escrow);
 * const r = await probe.send(vault.url, probe.loginInit(await probe.newAttempt('alice', utf8('wrong'))));
 * ```
 */
export function vaultProbe(options: VaultProbeOptions) {
  const { fleetId, suite, publicKey } = options;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const header = (accountId: string, attemptId: Uint8Array) => ({ fleetId, suite: suite.id, accountId, attemptId });
  const binding = (accountId: string) => opaqueBinding(fleetId, suite.id, accountId, publicKey);
  const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  /** Send one request; an HTTP answer (errors included) is returned, no answer throws NoAnswer. */
  async function send(url: string, req: VaultRequest): Promise<VaultResponse> {
    // Encoded outside the try: a request we cannot encode is a bug, not a lost answer.
    const body = encodeVaultMessage(req) as Uint8Array<ArrayBuffer>;
    let bytes: Uint8Array;
    try {
      const res = await fetch(`${url}/v1/vault`, {
        method: 'POST',
        headers: { authorization: `Bearer test-token:${req.accountId}`, 'content-type': 'application/octet-stream' },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw new NoAnswer(`no answer from ${url}`, { cause: e });
    }
    return parseVaultMessage(bytes, 'response');
  }

  const unavailable = (r: VaultResponse) => r.type === 'error' && r.code === 'VAULT_UNAVAILABLE';

  /**
   * Send the same request until a vault answers with something other than VAULT_UNAVAILABLE
   * (what a client does with its idempotency key). `pick` chooses the vault for each try.
   */
  async function untilAnswered(
    pick: () => string,
    req: VaultRequest,
    stats?: { retries: number },
    deadlineMs = 60_000,
  ): Promise<VaultResponse> {
    const end = Date.now() + deadlineMs;
    for (let i = 0; ; i++) {
      try {
        const r = await send(pick(), req);
        if (!unavailable(r)) return r;
      } catch (e) {
        if (!(e instanceof NoAnswer)) throw e;
      }
      if (stats) stats.retries++;
      if (Date.now() > end) throw new Error(`no answer for ${req.type} within ${deadlineMs} ms`);
      await sleepMs(Math.min(500, 50 * 2 ** Math.min(i, 4)));
    }
  }

  function expectType<T extends VaultResponse['type']>(r: VaultResponse, type: T): Extract<VaultResponse, { type: T }> {
    if (r.type !== type) {
      const detail = r.type === 'error' ? ` ${r.code}` : '';
      throw new Error(`expected ${type}, got ${r.type}${detail}`);
    }
    return r as Extract<VaultResponse, { type: T }>;
  }

  return {
    send,
    untilAnswered,
    expectType,

    /** Enroll `accountId` (mode `new`) with `password`, storing `escrow`. Retries until done. */
    async enroll(pick: () => string, accountId: string, password: Uint8Array, escrow: Uint8Array): Promise<void> {
      const attemptId = secureRandom(16);
      const start = await suite.startRegistration(password);
      const h = header(accountId, attemptId);
      const auth = await registrationAuth(suite);
      const init = { ...h, type: 'register-init' as const, mode: 'new' as const, request: start.request, ephemeralKey: auth.ephemeralKey };
      const resp = expectType(await untilAnswered(pick, init), 'register-response');
      auth.accept(init, resp, publicKey);
      const { record, exportKey } = await start.finish(resp.response, binding(accountId));
      exportKey.fill(0);
      const req: VaultRequest = auth.sign({ ...h, type: 'register-finish', mode: 'new', record, escrow, grant: new Uint8Array(0), ticket: resp.ticket });
      expectType(await untilAnswered(pick, req), 'registered');
    },

    /** A fresh login attempt (KE1 made, nothing sent). */
    async newAttempt(accountId: string, password: Uint8Array): Promise<LoginAttempt> {
      return { accountId, attemptId: secureRandom(16), start: await suite.startLogin(password) };
    },

    loginInit(a: LoginAttempt): VaultRequest {
      return { ...header(a.accountId, a.attemptId), type: 'login-init', intent: 'recover', ke1: a.start.ke1 };
    },

    /** The client found the code wrong: close the attempt (its guess stays spent). */
    abort(a: LoginAttempt): VaultRequest {
      return { ...header(a.accountId, a.attemptId), type: 'login-finish', intent: 'abort', ke3: new Uint8Array(0) };
    },

    /**
     * Run a whole wrong-code attempt: KE1 (the vault spends a guess), then abort. Returns the
     * guesses remaining the vault announced with KE2.
     */
    async wrongAttempt(pick: () => string, accountId: string, password: Uint8Array, stats?: { retries: number }): Promise<number> {
      const a = await this.newAttempt(accountId, password);
      const ke2 = expectType(await untilAnswered(pick, this.loginInit(a), stats), 'login-response');
      const fin = await untilAnswered(pick, this.abort(a), stats);
      // A retried abort whose first try landed finds no pending login: PROTOCOL, and that is fine.
      if (fin.type !== 'error' || (fin.code !== 'WRONG_CODE' && fin.code !== 'PROTOCOL' && fin.code !== 'LOCKED_OUT')) {
        throw new Error(`abort answered ${fin.type}`);
      }
      return ke2.guessesRemaining;
    },

    /**
     * Recover with the right code: the released escrow and the guesses remaining the vault
     * announced with KE2. Throws {@link AnswerLost} when the KE3 answer was lost and the retry
     * found the attempt already finished (the vault reset the counter; the escrow went nowhere).
     */
    async recover(
      pick: () => string,
      accountId: string,
      password: Uint8Array,
      stats?: { retries: number },
    ): Promise<{ escrow: Uint8Array; announced: number }> {
      const a = await this.newAttempt(accountId, password);
      const ke2 = expectType(await untilAnswered(pick, this.loginInit(a), stats), 'login-response');
      const done = await a.start.finish(ke2.ke2, binding(accountId));
      if (!done) throw new Error('the right code did not open the envelope');
      done.exportKey.fill(0);
      const h = header(accountId, a.attemptId);
      const req: VaultRequest = { ...h, type: 'login-finish', intent: 'recover', ke3: done.ke3 };
      try {
        const before = stats?.retries ?? 0;
        const fin = await untilAnswered(pick, req, stats);
        if (fin.type === 'error' && fin.code === 'PROTOCOL' && (stats?.retries ?? 0) > before) {
          throw new AnswerLost(ke2.guessesRemaining);
        }
        const res = expectType(fin, 'login-result');
        return { escrow: openEscrowTransport(done.sessionKey, h, res.sealed).escrow, announced: ke2.guessesRemaining };
      } finally {
        done.sessionKey.fill(0);
      }
    },

    statusRequest(accountId: string): VaultRequest {
      return { ...header(accountId, secureRandom(16)), type: 'status' };
    },

    /** Status, retried until answered. */
    async status(pick: () => string, accountId: string): Promise<{ state: string; guessesRemaining: number }> {
      const r = expectType(await untilAnswered(pick, this.statusRequest(accountId)), 'status-result');
      return { state: r.state, guessesRemaining: r.guessesRemaining };
    },
  };
}

/** The probe's type. */
export type VaultProbe = ReturnType<typeof vaultProbe>;
