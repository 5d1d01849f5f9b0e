/**
 * Moving an escrow from a superseded or retired fleet to its successor (docs/TRUST.md
 * §Migration): recover the keyring from the old fleet (or use the device's cached keyring when
 * the old fleet can no longer be reached or trusted), enroll it with the new fleet under the same
 * recovery code, then delete the old record. Archives are untouched: the keyring is the same.
 *
 * Resumable: the step reached is persisted in the {@link KeyValueStore} (no secret in it) after
 * each step, so a run interrupted halfway (tab closed, network down) picks up where it stopped:
 *
 * | persisted step | next run does                                                        |
 * |----------------|----------------------------------------------------------------------|
 * | none/`started` | recover (unless a keyring is given), enroll with the new fleet       |
 * | `enrolled`     | delete the old record                                                |
 * | `done`         | nothing                                                              |
 *
 * The one gap a crash can open, "enrolled with the new fleet but the step not yet recorded", is
 * closed on resume: the new fleet answers `ALREADY_ENROLLED`, and we prove that enrollment holds
 * *our* keyring by recovering it with the same code (a correct code spends no guess) before
 * deleting anything from the old fleet. The old record is deleted only after that proof.
 *
 * @module
 */
import { BackupError, isBackupError, throwIfAborted } from '../errors.js';
import type { FleetTrust } from '../recovery/fleet-trust.js';
import { wipeKeyring, type Keyring } from '../recovery/keyring.js';
import type { VaultClient } from '../recovery/vault-client.js';
import type { KeyValueStore, StoredValue } from '../storage/kv.js';
import { abytes, equalBytes } from '../util/bytes.js';

/** Steps of a migration, in order. */
export type MigrationStep = 'started' | 'enrolled' | 'done';
const ORDER: readonly MigrationStep[] = ['started', 'enrolled', 'done'];

/** Options of {@link migrateFleet}. */
export interface MigrateFleetOptions {
  /** Vault client of the fleet being left. */
  readonly from: VaultClient;
  /** Vault client of the fleet to move to (it checks the new fleet's key against trust). */
  readonly to: VaultClient;
  /** The account; must be the account of both clients. */
  readonly accountId: string;
  /** The recovery code as password bytes (needed to enroll with the new fleet). Not wiped. */
  readonly password: Uint8Array;
  /** The device's cached keyring: when given, the old fleet is not asked to recover. Not wiped. */
  readonly keyring?: Keyring;
  /** Where progress is persisted (the SDK's device store). */
  readonly store: KeyValueStore;
  /** Cancels between and during steps (`ABORTED`). */
  readonly signal?: AbortSignal;
}

/** What {@link migrateFleet} did. */
export interface MigrationResult {
  /** Old fleet id. */
  readonly from: string;
  /** New fleet id. */
  readonly to: string;
  /** The step found persisted when this run started (`undefined`: a fresh migration). */
  readonly resumedFrom: MigrationStep | undefined;
  /** Whether this run recovered the keyring from the old fleet. */
  readonly recoveredFromOldFleet: boolean;
}

/**
 * The KeyValueStore key of a migration's progress record.
 *
 * @example
 * ```ts
 * await kv.get(migrationKey('alice', 'eu-1', 'eu-2'));
 * ```
 */
export function migrationKey(accountId: string, from: string, to: string): string {
  return `migrate/v1/${accountId}/${from}/${to}`;
}

function sameKeyring(a: Keyring, b: Keyring): boolean {
  if (a.generations.length !== b.generations.length) return false;
  let ok = true;
  for (let i = 0; i < a.generations.length; i++) {
    const x = a.generations[i]!;
    const y = b.generations[i]!;
    // Both comparisons always run (constant time per generation, no early exit on a mismatch).
    const sameKey = equalBytes(x.key, y.key);
    const sameId = equalBytes(x.keyId, y.keyId);
    ok = ok && sameKey && sameId;
  }
  return ok;
}

/**
 * Move the escrow of `accountId` from `from`'s fleet to `to`'s fleet; resumable (see module).
 *
 * @example
 * ```ts
 * const plan = await planMigration(trust, 'eu-1', suite.id);
 * if (plan) {
 *   await migrateFleet({
 *     from: createVaultClient({ ...vaultOptions, fleetId: plan.from }),
 *     to: createVaultClient({ ...vaultOptions, fleetId: plan.to }),
 *     accountId, password, store,
 *   });
 * }
 * ```
 */
export async function migrateFleet(options: MigrateFleetOptions): Promise<MigrationResult> {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { from, to, accountId, store, signal } = options;
  if (typeof from?.recover !== 'function' || typeof to?.enroll !== 'function') throw new TypeError('options.from/to must be VaultClients');
  if (typeof accountId !== 'string' || from.accountId !== accountId || to.accountId !== accountId) {
    throw new RangeError('options.accountId must be the account of both vault clients');
  }
  if (from.fleetId === to.fleetId) throw new RangeError('options.from and options.to must be different fleets');
  abytes(options.password, 'options.password');
  if (typeof store?.update !== 'function') throw new TypeError('options.store must be a KeyValueStore');
  const key = migrationKey(accountId, from.fleetId, to.fleetId);

  const readStep = async (): Promise<MigrationStep | undefined> => {
    const rec = await store.get<StoredValue>(key);
    const step = (rec as { step?: unknown } | undefined)?.step;
    return ORDER.includes(step as MigrationStep) ? (step as MigrationStep) : undefined;
  };
  // Atomic, and never backwards (two tabs may run the same migration).
  const writeStep = (step: MigrationStep) =>
    store.update<StoredValue>(key, (old) => {
      const prev = (old as { step?: unknown } | undefined)?.step;
      const i = ORDER.indexOf(prev as MigrationStep);
      if (i >= ORDER.indexOf(step)) return old;
      return { step, from: from.fleetId, to: to.fleetId, accountId };
    });

  const resumedFrom = await readStep();
  let recoveredFromOldFleet = false;
  let step = resumedFrom;
  if (step === undefined) {
    await writeStep('started');
    step = 'started';
  }

  if (step === 'started') {
    throwIfAborted(signal);
    let keyring = options.keyring;
    let owned: Keyring | undefined;
    try {
      if (keyring === undefined) {
        owned = await from.recover({ password: options.password, ...(signal ? { signal } : {}) });
        keyring = owned;
        recoveredFromOldFleet = true;
      }
      try {
        await to.enroll({ password: options.password, keyring, ...(signal ? { signal } : {}) });
      } catch (e) {
        if (!isBackupError(e, 'ALREADY_ENROLLED')) throw e;
        // Interrupted after enrolling: prove the new enrollment holds our keyring before going on.
        const there = await to.recover({ password: options.password, ...(signal ? { signal } : {}) });
        const same = sameKeyring(there, keyring);
        wipeKeyring(there);
        if (!same) {
          throw new BackupError('ALREADY_ENROLLED', 'the new fleet holds a different keyring for this account; not migrating', {
            fleetId: to.fleetId,
          });
        }
      }
    } finally {
      if (owned) wipeKeyring(owned);
    }
    await writeStep('enrolled');
    step = 'enrolled';
  }

  if (step === 'enrolled') {
    throwIfAborted(signal);
    // Idempotent at the vault: removing an absent enrollment succeeds.
    await from.remove(signal ? { signal } : {});
    await writeStep('done');
  }
  return { from: from.fleetId, to: to.fleetId, resumedFrom, recoveredFromOldFleet };
}

/**
 * Decide whether an enrollment at `enrolledFleetId` must move, and where: it must when the fleet
 * is no longer trusted for enrollment (retired, expired, or listed with `recover` only). The
 * target is the first trusted fleet that allows `enroll` (and runs `suite`, when given).
 * Resolves `undefined` when no move is needed; rejects `FLEET_UNTRUSTED` when one is needed but
 * no fleet can take the escrow.
 *
 * @example
 * ```ts
 * const plan = await planMigration(trustStore, 'eu-1', suite.id); // { from: 'eu-1', to: 'eu-2' }
 * ```
 */
export async function planMigration(
  trust: FleetTrust,
  enrolledFleetId: string,
  suite?: string,
): Promise<
  | {
      /** The fleet the escrow must leave (`enrolledFleetId`). */
      readonly from: string;
      /** The trusted fleet to move the escrow to. */
      readonly to: string;
    }
  | undefined
> {
  const fleets = (await trust.trustedFleets()) as readonly (Awaited<ReturnType<FleetTrust['trustedFleets']>>[number] & {
    readonly roles?: readonly string[];
  })[];
  const canEnroll = (f: (typeof fleets)[number]) => (f.roles === undefined || f.roles.includes('enroll')) && (suite === undefined || f.suite === suite);
  if (fleets.some((f) => f.fleetId === enrolledFleetId && canEnroll(f))) return undefined;
  const target = fleets.find((f) => f.fleetId !== enrolledFleetId && canEnroll(f));
  if (!target) throw new BackupError('FLEET_UNTRUSTED', 'no trusted fleet can take the escrow', { fleetId: enrolledFleetId });
  return { from: enrolledFleetId, to: target.fleetId };
}
