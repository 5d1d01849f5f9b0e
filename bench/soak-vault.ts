/**
 * Soak run of the reference vault on etcd (`npm run soak:vault`): a 3-member etcd cluster and
 * three vault processes on 127.0.0.1, many accounts driven through enroll / wrong-code attempts /
 * recover, while a fault injector kills and restarts etcd members (sometimes two at once: quorum
 * lost), and kills vault processes and starts replacements.
 *
 * Bounded: runs `--seconds` (default 60) of load, then a final check of every account, then
 * stops everything; a watchdog exits the process if anything hangs. Loopback only.
 *
 * Prints attempts, guesses spent, lost records. Exits non-zero unless guesses spent == attempts,
 * no record was lost, and every counter the vault reports matches the model.
 *
 *   npm run soak:vault -- --seconds=60 --accounts=24 --workers=6 --ksf=scrypt --seed=1234
 */
import { generateVaultSetup } from '../lib/server/vault.js';
import { equalBytes, secureRandom, toHex, utf8 } from '../lib/util/bytes.js';
import {
  AnswerLost,
  findEtcd,
  startEtcdCluster,
  startVaultProcess,
  suiteFor,
  vaultProbe,
  type VaultProcess,
  type VaultProcessConfig,
} from '../test/support/etcd-cluster.js';
import { mulberry32 } from '../test/support/faulty-fetch.js';

function arg(name: string, fallback: string): string {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : (process.env[`SOAK_${name.toUpperCase()}`] ?? fallback);
}

const SECONDS = Number(arg('seconds', '60'));
const ACCOUNTS = Number(arg('accounts', '24'));
const WORKERS = Number(arg('workers', '6'));
const KSF = arg('ksf', 'scrypt') === 'insecure' ? 'insecure' : 'scrypt';
const SEED = Number(arg('seed', String(1 + (Date.now() % 1_000_000))));
const GUESS_LIMIT = 10;
for (const [k, v] of Object.entries({ SECONDS, ACCOUNTS, WORKERS })) {
  if (!Number.isInteger(v) || v < 1 || v > 100_000) throw new RangeError(`--${k.toLowerCase()} must be an integer in 1..100000`);
}
if (!Number.isSafeInteger(SEED) || SEED < 0) throw new RangeError('--seed must be a non-negative integer');

/** A seeded PRNG for the fault schedule and the workload, so a run can be replayed. */
const rnd = mulberry32(SEED);
const pickInt = (n: number) => Math.floor(rnd() * n);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Account {
  readonly id: string;
  readonly code: Uint8Array;
  readonly escrow: Uint8Array;
  /** Guesses remaining according to the model (the vault's answers must match it). */
  remaining: number;
  busy: boolean;
}

const stats = {
  enrolled: 0,
  attempts: 0,
  wrongAttempts: 0,
  recovers: 0,
  guessesSpent: 0,
  clientRetries: 0,
  lostAnswers: 0,
  mismatches: 0,
  lostRecords: 0,
  memberKills: 0,
  quorumLosses: 0,
  vaultKills: 0,
};

async function main(): Promise<number> {
  if (!findEtcd()) {
    console.error('etcd is not installed (apt-get install etcd-server etcd-client)');
    return 2;
  }
  // Watchdog: load time + a generous allowance for the final check and shutdown.
  const watchdog = setTimeout(() => {
    console.error('soak: watchdog fired, something hung');
    process.exit(3);
  }, (SECONDS + 240) * 1000);
  watchdog.unref();

  console.log(`soak: ${SECONDS} s, ${ACCOUNTS} accounts, ${WORKERS} workers, ksf=${KSF}, seed=${SEED}`);
  const cluster = await startEtcdCluster();
  const suite = suiteFor(KSF);
  const { setup, publicKey } = await generateVaultSetup(suite);
  const config: VaultProcessConfig = {
    hosts: cluster.endpoints,
    namespace: `soak/${SEED}/`,
    fleetId: 'fleet-soak',
    setupHex: toHex(setup),
    guessLimit: GUESS_LIMIT,
    ksf: KSF,
    storeTimeoutMs: 2000,
  };
  setup.fill(0);
  const vaults: VaultProcess[] = await Promise.all([0, 1, 2].map(() => startVaultProcess(config)));
  const probe = vaultProbe({ fleetId: config.fleetId, suite, publicKey, timeoutMs: 15_000 });
  const pick = () => vaults[pickInt(vaults.length)]!.url;

  const accounts: Account[] = [];
  const stopAt = Date.now() + SECONDS * 1000;
  let stopping = false;

  async function faults(): Promise<void> {
    const down = new Set<number>();
    while (!stopping) {
      await sleep(1500 + pickInt(2500));
      if (stopping) break;
      if (down.size > 0) {
        for (const i of down) await cluster.restart(i);
        down.clear();
        await cluster.waitHealthy(undefined, 30_000);
        continue;
      }
      const r = rnd();
      if (r < 0.45) {
        const i = pickInt(3);
        await cluster.kill(i);
        down.add(i);
        stats.memberKills++;
      } else if (r < 0.6) {
        // Quorum lost for a moment: the vault must refuse, not answer.
        const i = pickInt(3);
        const j = (i + 1 + pickInt(2)) % 3;
        await cluster.kill(i);
        await cluster.kill(j);
        down.add(i).add(j);
        stats.memberKills += 2;
        stats.quorumLosses++;
      } else if (r < 0.8) {
        const k = pickInt(vaults.length);
        const victim = vaults[k]!;
        vaults[k] = await startVaultProcess(config);
        await victim.kill();
        stats.vaultKills++;
      }
    }
    for (const i of down) await cluster.restart(i);
    await cluster.waitHealthy(undefined, 30_000);
  }

  function check(ok: boolean, what: string): void {
    if (!ok) {
      stats.mismatches++;
      console.error(`soak: MISMATCH ${what}`);
    }
  }

  /** One login-init answered: the vault's announced count says how many guesses it spent. */
  function countSpend(a: Account, announced: number): void {
    stats.attempts++;
    stats.guessesSpent += a.remaining - announced;
    check(announced === a.remaining - 1, `${a.id}: expected ${a.remaining - 1} guesses left, vault said ${announced}`);
  }

  async function step(): Promise<void> {
    if (accounts.length < ACCOUNTS && (accounts.length < WORKERS || rnd() < 0.3)) {
      const a: Account = { id: `acct-${SEED}-${accounts.length}`, code: secureRandom(16), escrow: secureRandom(64 + pickInt(512)), remaining: GUESS_LIMIT, busy: true };
      accounts.push(a);
      await probe.enroll(pick, a.id, a.code, a.escrow);
      stats.enrolled++;
      a.busy = false;
      return;
    }
    const free = accounts.filter((x) => !x.busy);
    if (free.length === 0) return sleep(20);
    const a = free[pickInt(free.length)]!;
    a.busy = true;
    try {
      const r = { retries: 0 };
      if (a.remaining <= 2 || rnd() < 0.1) {
        // The right code: one guess spent by KE1, then the counter resets and the escrow is released.
        for (;;) {
          try {
            const got = await probe.recover(pick, a.id, a.code, r);
            countSpend(a, got.announced);
            stats.recovers++;
            check(equalBytes(got.escrow, a.escrow), `${a.id}: released escrow differs`);
            break;
          } catch (e) {
            if (!(e instanceof AnswerLost)) throw e;
            // The login succeeded but its answer died with a vault process: the counter was
            // reset, the escrow was not delivered. A client starts a new attempt.
            countSpend(a, e.announced);
            stats.lostAnswers++;
            a.remaining = GUESS_LIMIT;
          }
        }
        a.remaining = GUESS_LIMIT;
      } else {
        const announced = await probe.wrongAttempt(pick, a.id, utf8('wrong code'), r);
        stats.wrongAttempts++;
        countSpend(a, announced);
        a.remaining = announced;
      }
      stats.clientRetries += r.retries;
    } finally {
      a.busy = false;
    }
  }

  const faulting = faults();
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (Date.now() < stopAt) await step();
    }),
  );
  stopping = true;
  await faulting;

  // Final check with every member up: each account still has its record, its counter is what
  // the model says, and its escrow is intact (one last recover).
  for (const a of accounts) {
    const st = await probe.status(pick, a.id);
    if (st.state !== 'enrolled') {
      stats.lostRecords++;
      console.error(`soak: LOST ${a.id}: ${st.state}`);
      continue;
    }
    check(st.guessesRemaining === a.remaining, `${a.id}: status says ${st.guessesRemaining}, model ${a.remaining}`);
    const { escrow } = await probe.recover(pick, a.id, a.code);
    if (!equalBytes(escrow, a.escrow)) {
      stats.lostRecords++;
      console.error(`soak: LOST escrow of ${a.id}`);
    }
  }

  await Promise.all(vaults.map((v) => v.kill()));
  await cluster.stop();
  clearTimeout(watchdog);

  console.log(
    [
      `accounts: ${accounts.length} (enrolled ${stats.enrolled})`,
      `attempts: ${stats.attempts} (wrong code ${stats.wrongAttempts}, right code ${stats.recovers})`,
      `guesses spent: ${stats.guessesSpent}`,
      `lost records: ${stats.lostRecords}`,
      `counter mismatches: ${stats.mismatches}`,
      `faults: ${stats.memberKills} etcd member kills (${stats.quorumLosses} quorum losses), ${stats.vaultKills} vault process kills`,
      `client retries (VAULT_UNAVAILABLE or no answer): ${stats.clientRetries}`,
      `logins whose answer died with a vault process: ${stats.lostAnswers}`,
    ].join('\n'),
  );
  const ok = stats.lostRecords === 0 && stats.mismatches === 0 && stats.guessesSpent === stats.attempts;
  console.log(ok ? 'soak: PASS' : 'soak: FAIL');
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error('soak: crashed', e);
    process.exit(1);
  },
);
