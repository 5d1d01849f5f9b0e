/**
 * The reference vault's guarantees under faults (issue 7): three vault processes (separate Node
 * processes serving createVaultHandler over node:http) in front of one 3-member etcd cluster, all
 * on 127.0.0.1, driven over the wire protocol.
 *
 * - kill the Raft leader in the middle of a stream of recover attempts: no counter lost or reset,
 *   no escrow lost, the vault keeps serving;
 * - kill two members: the vault refuses with VAULT_UNAVAILABLE and hands out no KE2; bring them
 *   back and the same attempts complete with exact counts;
 * - concurrent wrong-code attempts spread over the vault processes: guesses spent == attempts;
 * - kill a vault process between spending a guess and answering: the guess stays spent, and the
 *   client's retry of that attempt does not spend another.
 *
 * The OPAQUE suite uses the identity KSF (tests only) so the run stays short; the store, the
 * counter logic and the processes are the real ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateVaultSetup } from '../../lib/server/vault.js';
import { equalBytes, secureRandom, toHex, utf8 } from '../../lib/util/bytes.js';
import {
  describeWithEtcd,
  NoAnswer,
  startEtcdCluster,
  startVaultProcess,
  suiteFor,
  vaultProbe,
  type EtcdCluster,
  type VaultProbe,
  type VaultProcess,
  type VaultProcessConfig,
} from '../support/etcd-cluster.js';

const GUESS_LIMIT = 100;
const RIGHT = utf8('correct horse battery staple');
const WRONG = utf8('not the code');

describeWithEtcd({ describe, it }, 'reference vault on etcd, under faults', () => {
  let cluster: EtcdCluster;
  let vaults: VaultProcess[] = [];
  /** A fourth process that SIGKILLs itself right after its first durable write. */
  let crashing: VaultProcess;
  let config: VaultProcessConfig;
  let probe: VaultProbe;
  let turn = 0;
  /** Round-robin over the vault processes: consecutive tries land on different processes. */
  const anyVault = () => vaults[turn++ % vaults.length]!.url;
  const escrows = new Map<string, Uint8Array>();

  async function enroll(accountId: string): Promise<void> {
    const escrow = secureRandom(80);
    escrows.set(accountId, escrow);
    await probe.enroll(anyVault, accountId, RIGHT, escrow);
  }

  async function expectRecovers(accountId: string): Promise<void> {
    const got = await probe.recover(anyVault, accountId, RIGHT);
    expect(equalBytes(got.escrow, escrows.get(accountId)!)).toBe(true);
    expect(await probe.status(anyVault, accountId)).toEqual({ state: 'enrolled', guessesRemaining: GUESS_LIMIT });
  }

  beforeAll(async () => {
    cluster = await startEtcdCluster();
    const suite = suiteFor('insecure');
    const { setup, publicKey } = await generateVaultSetup(suite);
    config = {
      hosts: cluster.endpoints,
      namespace: `faults/${Date.now()}/`,
      fleetId: 'fleet-etcd-test',
      setupHex: toHex(setup),
      guessLimit: GUESS_LIMIT,
      ksf: 'insecure',
      storeTimeoutMs: 1500,
    };
    setup.fill(0);
    [crashing, ...vaults] = await Promise.all([
      // What the crash test waits for is the spend's compare-and-swap to commit: only then does this
      // process kill itself. With the fleet's 1.5 s store timeout, a loaded machine (load 10) let the
      // CAS time out first, and the vault answered VAULT_UNAVAILABLE instead of dying (issue 19).
      // A long timeout here makes the wait explicit: the write commits, then the process dies.
      startVaultProcess({ ...config, crashAfterFirstWrite: true, storeTimeoutMs: 60_000 }),
      ...[0, 1, 2].map(() => startVaultProcess(config)),
    ]);
    probe = vaultProbe({ fleetId: config.fleetId, suite, publicKey });
  });

  afterAll(async () => {
    await Promise.all([...vaults, crashing].filter(Boolean).map((v) => v.kill()));
    await cluster?.stop();
  });

  it('kill the Raft leader mid-stream: no counter lost or reset, no escrow lost, the vault keeps serving', async () => {
    const accounts = ['kill1-a', 'kill1-b'];
    await Promise.all(accounts.map(enroll));
    const perAccount = 5;
    const announced = new Map<string, number[]>(accounts.map((a) => [a, []]));
    const stats = { retries: 0 };
    let completed = 0;
    let completedAfterKill = 0;
    let killed = false;

    const stream = Promise.all(
      accounts.map(async (acct) => {
        for (let i = 0; i < perAccount; i++) {
          announced.get(acct)!.push(await probe.wrongAttempt(anyVault, acct, WRONG, stats));
          completed++;
          if (killed) completedAfterKill++;
        }
      }),
    );
    while (completed < 3) await new Promise((r) => setTimeout(r, 20));
    const leader = (await cluster.leader()) ?? 0;
    await cluster.kill(leader);
    killed = true;
    await stream;

    // Every attempt got its answer, and some were answered after the leader died.
    expect(completedAfterKill).toBeGreaterThan(0);
    for (const acct of accounts) {
      // Each attempt spent exactly one guess, in order: nothing lost, nothing reset.
      expect(announced.get(acct)).toEqual(Array.from({ length: perAccount }, (_, i) => GUESS_LIMIT - 1 - i));
      expect(await probe.status(anyVault, acct)).toEqual({ state: 'enrolled', guessesRemaining: GUESS_LIMIT - perAccount });
    }
    // The escrows survived on the two remaining members.
    for (const acct of accounts) await expectRecovers(acct);
    console.log(`kill-leader: ${accounts.length * perAccount} attempts, ${stats.retries} client retries during the failover`);

    await cluster.restart(leader);
    await cluster.waitHealthy();
  });

  it('kill two members: VAULT_UNAVAILABLE and no KE2; bring them back and the same attempts complete exactly', async () => {
    const acct = 'kill2';
    await enroll(acct);
    for (let i = 0; i < 2; i++) await probe.wrongAttempt(anyVault, acct, WRONG);

    const leader = (await cluster.leader()) ?? 0;
    const other = (leader + 1) % 3;
    await cluster.kill(leader);
    await cluster.kill(other);
    const held = await Promise.all([0, 1, 2].map(() => probe.newAttempt(acct, WRONG)));
    try {
      const [st, ...answers] = await Promise.all([
        probe.send(vaults[0]!.url, probe.statusRequest(acct)),
        ...held.map((a, i) => probe.send(vaults[i % vaults.length]!.url, probe.loginInit(a))),
      ]);
      for (const r of answers) {
        // Refused: no KE2 (which would let the client test a guess) without a durable spend.
        expect(r.type).toBe('error');
        expect(r.type === 'error' && r.code).toBe('VAULT_UNAVAILABLE');
      }
      expect(st.type === 'error' && st.code).toBe('VAULT_UNAVAILABLE');
    } finally {
      await cluster.restart(leader);
      await cluster.restart(other);
      await cluster.waitHealthy();
    }

    // The client retries the same attempts (same attempt id, same KE1). A refused write may have
    // committed once the quorum came back; the attempt id makes the retry find it, not spend again.
    const remaining: number[] = [];
    for (const a of held) {
      const r = probe.expectType(await probe.untilAnswered(anyVault, probe.loginInit(a)), 'login-response');
      remaining.push(r.guessesRemaining);
      await probe.untilAnswered(anyVault, probe.abort(a));
    }
    expect(new Set(remaining).size).toBe(held.length);
    expect(await probe.status(anyVault, acct)).toEqual({ state: 'enrolled', guessesRemaining: GUESS_LIMIT - 2 - held.length });
    await expectRecovers(acct);
  });

  it('concurrent wrong-code attempts over three vault processes: guesses spent == attempts, exactly', async () => {
    const acct = 'concurrent';
    await enroll(acct);
    const workers = 8;
    const perWorker = 3;
    const stats = { retries: 0 };
    const announced: number[] = [];
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        // Each worker sticks to one vault process, so all three race on the same account.
        const pin = () => vaults[w % vaults.length]!.url;
        for (let i = 0; i < perWorker; i++) announced.push(await probe.wrongAttempt(pin, acct, WRONG, stats));
      }),
    );
    const attempts = workers * perWorker;
    // Every decrement happened exactly once: the announced counts are a permutation of
    // GUESS_LIMIT-1 ... GUESS_LIMIT-attempts (a lost update would repeat a value).
    expect([...announced].sort((a, b) => b - a)).toEqual(Array.from({ length: attempts }, (_, i) => GUESS_LIMIT - 1 - i));
    expect(await probe.status(anyVault, acct)).toEqual({ state: 'enrolled', guessesRemaining: GUESS_LIMIT - attempts });
    console.log(`concurrent: ${attempts} attempts over ${vaults.length} processes, ${stats.retries} retries (contention)`);
  });

  it('kill a vault process after it spent a guess and before it answered: the guess stays spent', async () => {
    const acct = 'crash';
    await enroll(acct);
    const attempt = await probe.newAttempt(acct, WRONG);
    const outcome = await probe.send(crashing.url, probe.loginInit(attempt)).then(
      (r) => r,
      (e: unknown) => e,
    );
    // An answer here means the spend did not commit before the vault gave up (it dies only after a
    // committed write): say what it answered.
    expect(outcome, `the crashing vault answered ${JSON.stringify(outcome)}`).toBeInstanceOf(NoAnswer);
    expect(await crashing.exited).toBe('SIGKILL');

    // The spend was durable before the crash.
    expect(await probe.status(anyVault, acct)).toEqual({ state: 'enrolled', guessesRemaining: GUESS_LIMIT - 1 });
    // The client retries the same attempt elsewhere: it gets its KE2, no second guess is spent.
    const again = probe.expectType(await probe.untilAnswered(anyVault, probe.loginInit(attempt)), 'login-response');
    expect(again.guessesRemaining).toBe(GUESS_LIMIT - 1);
    expect(await probe.status(anyVault, acct)).toEqual({ state: 'enrolled', guessesRemaining: GUESS_LIMIT - 1 });
    await probe.untilAnswered(anyVault, probe.abort(attempt));
    await expectRecovers(acct);
  });
});
