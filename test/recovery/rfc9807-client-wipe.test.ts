// The client-side RFC 9807 suite (what the vault client runs) when starting a registration or a
// login fails: the password copy and the OPRF blind it already holds are wiped, not left to the
// garbage collector. Its own file: P-256 must not be loaded here (ENGINE_UNAVAILABLE case).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { Rfc9807ClientSuite } from '../../lib/recovery/opaque/rfc9807-client.js';
import { INSECURE_IDENTITY_KSF_9807 } from '../../lib/recovery/opaque/rfc9807-ksf.js';
import { utf8 } from '../../lib/util/bytes.js';

const blinds = vi.hoisted(() => [] as Uint8Array[]);
vi.mock('../../lib/recovery/opaque/rfc9807-core.js', async (importOriginal) => {
  const core = await importOriginal<typeof import('../../lib/recovery/opaque/rfc9807-core.js')>();
  return {
    ...core,
    blindRandom: (...args: Parameters<typeof core.blindRandom>) => {
      const r = core.blindRandom(...args);
      blinds.push(r.blind);
      return r;
    },
  };
});

const password = utf8('correct horse battery');
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Every Uint8Array.from copy made while `f` runs that still holds the password afterwards. */
async function passwordCopiesLeft(f: () => Promise<unknown>): Promise<{ left: number; error: unknown }> {
  const spy = vi.spyOn(Uint8Array, 'from');
  let error: unknown;
  try {
    await f();
  } catch (e) {
    error = e;
  }
  const copies = spy.mock.results.map((r) => r.value as unknown).filter((v): v is Uint8Array => v instanceof Uint8Array);
  spy.mockRestore();
  return { left: copies.filter((c) => c !== password && same(c, password)).length, error };
}

afterEach(() => {
  blinds.length = 0;
});

describe('Rfc9807ClientSuite: a failed start wipes what it holds', () => {
  it('startLogin: a RandomSource failing after the blind (key-share seed) leaves no password copy and no blind', async () => {
    let calls = 0;
    const random = (n: number) => {
      if (++calls > 1) throw new Error('entropy source failed');
      return new Uint8Array(n).fill(3);
    };
    const suite = new Rfc9807ClientSuite('ristretto255-SHA512', INSECURE_IDENTITY_KSF_9807, random);
    const { left, error } = await passwordCopiesLeft(() => suite.startLogin(password));
    expect(String(error)).toMatch(/entropy source failed/);
    expect(blinds.length).toBe(1);
    expect(blinds[0]!.every((x) => x === 0)).toBe(true);
    expect(left).toBe(0);
  });

  it('startRegistration and startLogin on P-256 not in this bundle: ENGINE_UNAVAILABLE, no password copy left', async () => {
    const suite = new Rfc9807ClientSuite('P256-SHA256', INSECURE_IDENTITY_KSF_9807);
    for (const start of [() => suite.startRegistration(password), () => suite.startLogin(password)]) {
      const { left, error } = await passwordCopiesLeft(start);
      expect(isBackupError(error, 'ENGINE_UNAVAILABLE'), String(error)).toBe(true);
      expect(left).toBe(0);
    }
  });

  it('the honest path still runs (ristretto255): registration and login start', async () => {
    const suite = new Rfc9807ClientSuite('ristretto255-SHA512', INSECURE_IDENTITY_KSF_9807);
    expect((await suite.startRegistration(password)).request.length).toBe(32);
    expect((await suite.startLogin(password)).ke1.length).toBe(96);
  });
});
