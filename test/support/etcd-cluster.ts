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
import { delimiter, join } from 'node:path';
// Types only: the soak script imports this file outside vitest.
import type { describe as Describe, it as It } from 'vitest';

/** Where the etcd binary is, or `undefined` when it is not installed. */
export function findEtcd(): string | undefined {
  const candidates = [process.env.ETCD_BIN, '/usr/bin/etcd', '/usr/local/bin/etcd'];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'etcd'));
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
    describe.skip(name, () => body(''));
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
