// Our Argon2id (lib/recovery/argon2/argon2id.ts) on both compression paths (WebAssembly and the
// JavaScript fallback): RFC 9106 §5.3's vector (test/vectors/rfc9106-argon2id.json, source and
// licence named there), fast-check properties against @noble/hashes' argon2id (an independent
// implementation; devDependency use only, the bundle no longer carries it), libsodium's
// crypto_pwhash (libsodium-wrappers-sumo: the standard build has no pwhash) at the default suite's
// parameters, the fallback when WebAssembly or its memory cannot be had, input checks, yielding,
// and the wipe of the memory on success and on a throw.
import { argon2id as nobleArgon2id } from '@noble/hashes/argon2.js';
import { blake2b } from '@noble/hashes/blake2.js';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers-sumo';
import { afterEach, describe, expect, it, vi } from 'vitest';
import vectors from '../vectors/rfc9106-argon2id.json' with { type: 'json' };
import { argon2id, type Argon2idOptions } from '../../lib/recovery/argon2/argon2id.js';
import { argon2idKsf } from '../../lib/recovery/opaque/rfc9807-ksf.js';
import { fromHex, toHex } from '../../lib/util/bytes.js';
import { isBackupError } from '../../lib/errors.js';
import { errorOf } from '../support/errors.js';

async function expectBackupError(p: Promise<unknown>, code: string): Promise<void> {
  const e = await errorOf(p);
  expect(isBackupError(e) ? e.code : e).toBe(code);
}

const ENGINES = ['wasm', 'js'] as const;
const le32 = (n: number) => Uint8Array.of(n, n >>> 8, n >>> 16, n >>> 24);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('RFC 9106 §5.3 Argon2id vector', () => {
  const v = vectors.vectors[0]!;
  const inputs = { password: fromHex(v.password), salt: fromHex(v.salt), secret: fromHex(v.secret), data: fromHex(v.associatedData) };
  const options = (engine: Argon2idOptions['engine']): Argon2idOptions => ({ m: v.memoryKiB, t: v.passes, p: v.lanes, dkLen: v.tagLength, secret: inputs.secret, data: inputs.data, engine });

  it('the record is what it says: H0 is BLAKE2b-512 of the §3.2 encoding of its inputs, for Argon2id version 0x13', () => {
    expect([v.type, v.version]).toEqual(['Argon2id', 0x13]);
    const h = blake2b.create({ dkLen: 64 });
    for (const n of [v.lanes, v.tagLength, v.memoryKiB, v.passes, v.version, 2]) h.update(le32(n));
    for (const f of [inputs.password, inputs.salt, inputs.secret, inputs.data]) h.update(le32(f.length)).update(f);
    expect(toHex(h.digest())).toBe(v.preHashingDigest);
  });

  for (const engine of [...ENGINES, 'auto'] as const) {
    it(`tag, ${engine} compression`, async () => {
      expect(toHex(await argon2id(inputs.password, inputs.salt, options(engine)))).toBe(v.tag);
    });
  }

  it('inputs as views with a non-zero byteOffset', async () => {
    const at = (b: Uint8Array) => {
      const buf = new Uint8Array(b.length + 3);
      buf.set(b, 3);
      return buf.subarray(3);
    };
    const o = { ...options('wasm'), secret: at(inputs.secret), data: at(inputs.data) };
    expect(toHex(await argon2id(at(inputs.password), at(inputs.salt), o))).toBe(v.tag);
  });

  it('a changed input changes the tag (each of P, S, K, X, m, t, p, T counts)', async () => {
    const base = options('wasm');
    const flip = (b: Uint8Array) => Uint8Array.from(b, (x, i) => (i === 0 ? x ^ 1 : x));
    const variants: [Uint8Array, Uint8Array, Argon2idOptions][] = [
      [flip(inputs.password), inputs.salt, base],
      [inputs.password, flip(inputs.salt), base],
      [inputs.password, inputs.salt, { ...base, secret: flip(inputs.secret) }],
      [inputs.password, inputs.salt, { ...base, data: flip(inputs.data) }],
      [inputs.password, inputs.salt, { ...base, m: 36 }],
      [inputs.password, inputs.salt, { ...base, t: 2 }],
      [inputs.password, inputs.salt, { ...base, p: 2 }],
    ];
    for (const [pw, salt, o] of variants) expect(toHex(await argon2id(pw, salt, o))).not.toBe(v.tag);
    // T is in H0 and H': a shorter tag is not a prefix of the longer one.
    expect(toHex(await argon2id(inputs.password, inputs.salt, { ...base, dkLen: 16 }))).not.toBe(v.tag.slice(0, 32));
  });
});

describe('against @noble/hashes argon2id (independent implementation)', () => {
  const arb = fc.record({
    password: fc.uint8Array({ maxLength: 40 }),
    salt: fc.uint8Array({ minLength: 8, maxLength: 24 }),
    secret: fc.option(fc.uint8Array({ maxLength: 16 }), { nil: undefined }),
    data: fc.option(fc.uint8Array({ maxLength: 16 }), { nil: undefined }),
    p: fc.integer({ min: 1, max: 4 }),
    extra: fc.integer({ min: 0, max: 40 }),
    t: fc.integer({ min: 1, max: 3 }),
    // Over 64 bytes: H' chains BLAKE2b (RFC 9106 §3.3); 65 and 96..128 take its odd tails.
    dkLen: fc.oneof(fc.integer({ min: 4, max: 64 }), fc.integer({ min: 65, max: 200 })),
  });
  for (const engine of ENGINES) {
    it(`random small m, t, p, T, secret and data: same tag (${engine})`, async () => {
      await fc.assert(
        fc.asyncProperty(arb, async ({ password, salt, secret, data, p, extra, t, dkLen }) => {
          const m = 8 * p + extra; // not always a multiple of 4p: m' = 4p·floor(m/4p)
          const ours = await argon2id(password, salt, { m, t, p, dkLen, secret, data, engine });
          const theirs = nobleArgon2id(password, salt, { m, t, p, dkLen, key: secret, personalization: data });
          expect(toHex(ours)).toBe(toHex(theirs));
        }),
        { numRuns: 40 },
      );
    });
  }

  it('more than 128 blocks per segment (several address blocks in a data-independent segment), 2 lanes, 2 passes', async () => {
    const password = Uint8Array.from({ length: 20 }, (_, i) => i);
    const salt = new Uint8Array(16).fill(7);
    const o = { m: 2 * 4 * 300, t: 2, p: 2, dkLen: 32 };
    const theirs = toHex(nobleArgon2id(password, salt, o));
    for (const engine of ENGINES) expect(toHex(await argon2id(password, salt, { ...o, engine }))).toBe(theirs);
  });
});

describe("libsodium's crypto_pwhash (ALG_ARGON2ID13) at the default suite's parameters", () => {
  for (const engine of ENGINES) {
    it(`m = 47104 KiB, t = 1, p = 1, 64-byte tag, 16 zero bytes of salt (${engine})`, async () => {
      await sodium.ready;
      const password = Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff); // an OPRF output's length
      const salt = new Uint8Array(16);
      const theirs = sodium.crypto_pwhash(64, password, salt, 1, 47104 * 1024, sodium.crypto_pwhash_ALG_ARGON2ID13);
      expect(toHex(await argon2id(password, salt, { m: 47104, t: 1, p: 1, dkLen: 64, engine }))).toBe(toHex(theirs));
      // The KSF the default suite runs is this call.
      expect(toHex(await argon2idKsf({ m: 47104, t: 1, p: 1 }).stretch(password, 64))).toBe(toHex(theirs));
    }, 60_000);
  }
});

describe('fallback', () => {
  const password = new Uint8Array(32).fill(1);
  const salt = new Uint8Array(16).fill(2);
  const o = { m: 64, t: 2, p: 1, dkLen: 32 };

  it('a WebAssembly.Memory that cannot be had: auto computes the same tag in JavaScript; wasm alone is ENGINE_UNAVAILABLE', async () => {
    const want = toHex(await argon2id(password, salt, { ...o, engine: 'js' }));
    vi.spyOn(WebAssembly, 'Memory').mockImplementation(() => {
      throw new RangeError('WebAssembly.Memory(): could not allocate memory');
    });
    expect(toHex(await argon2id(password, salt, o))).toBe(want);
    await expectBackupError(argon2id(password, salt, { ...o, engine: 'wasm' }), 'ENGINE_UNAVAILABLE');
  });

  it('an instantiation that fails: auto computes the same tag in JavaScript', async () => {
    const want = toHex(await argon2id(password, salt, { ...o, engine: 'js' }));
    vi.spyOn(WebAssembly, 'instantiate').mockRejectedValue(new WebAssembly.LinkError('refused'));
    expect(toHex(await argon2id(password, salt, o))).toBe(want);
  });

  it('a WebAssembly compression that traps half-way: the call fails with that error, no JavaScript rerun on the dirty memory, which is zeroed', async () => {
    const realInstantiate = WebAssembly.instantiate.bind(WebAssembly) as (m: WebAssembly.Module, i: WebAssembly.Imports) => Promise<WebAssembly.Instance>;
    const trap = new WebAssembly.RuntimeError('unreachable');
    let memory: WebAssembly.Memory | undefined;
    let calls = 0;
    vi.spyOn(WebAssembly, 'instantiate').mockImplementation((async (module: WebAssembly.Module, imports: WebAssembly.Imports) => {
      memory = (imports as { e: { m: WebAssembly.Memory } }).e.m;
      const c = (await realInstantiate(module, imports)).exports.c as (...a: number[]) => void;
      return {
        exports: {
          c: (...a: number[]) => {
            if (++calls === 40) throw trap;
            c(...a);
          },
        },
      };
    }) as unknown as typeof WebAssembly.instantiate);
    await expect(argon2id(password, salt, { ...o, m: 256 })).rejects.toBe(trap);
    expect(calls).toBe(40);
    expect(new Uint8Array(memory!.buffer).every((b) => b === 0)).toBe(true);
  });

  it('neither memory: ENGINE_UNAVAILABLE, never a wrong answer', async () => {
    vi.spyOn(WebAssembly, 'Memory').mockImplementation(() => {
      throw new RangeError('WebAssembly.Memory(): could not allocate memory');
    });
    const Real = Uint32Array;
    // Refuse only the big allocation (BLAKE2b allocates small Uint32Arrays too).
    vi.stubGlobal(
      'Uint32Array',
      new Proxy(Real, {
        construct(target, args: unknown[]) {
          if (typeof args[0] === 'number' && args[0] > 10_000) throw new RangeError('Array buffer allocation failed');
          return Reflect.construct(target, args) as object;
        },
      }),
    );
    try {
      await expectBackupError(argon2id(password, salt, { ...o, m: 47104, t: 1 }), 'ENGINE_UNAVAILABLE');
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('input checks', () => {
  const pw = new Uint8Array(8);
  const salt = new Uint8Array(16);
  const ok: Argon2idOptions = { m: 32, t: 1, p: 1, dkLen: 32 };
  it('TypeError for a non-byte password, salt, secret or data', async () => {
    await expect(argon2id('pw' as unknown as Uint8Array, salt, ok)).rejects.toThrow(TypeError);
    await expect(argon2id(pw, [1, 2, 3, 4, 5, 6, 7, 8] as unknown as Uint8Array, ok)).rejects.toThrow(TypeError);
    await expect(argon2id(pw, salt, { ...ok, secret: 'k' as unknown as Uint8Array })).rejects.toThrow(TypeError);
    await expect(argon2id(pw, salt, { ...ok, data: {} as unknown as Uint8Array })).rejects.toThrow(TypeError);
  });
  it('RangeError for each bound, naming the argument', async () => {
    const bad: [Partial<Argon2idOptions>, string][] = [
      [{ p: 0 }, 'p'],
      [{ p: 17 }, 'p'],
      [{ p: 1.5 }, 'p'],
      [{ m: 7 }, 'm'],
      [{ m: 15, p: 2 }, 'm'],
      [{ m: 2 ** 21 + 1 }, 'm'],
      [{ t: 0 }, 't'],
      [{ t: 11 }, 't'],
      [{ dkLen: 3 }, 'dkLen'],
      [{ dkLen: 1025 }, 'dkLen'],
      [{ m: Number.NaN }, 'm'],
      [{ secret: new Uint8Array(1025) }, 'secret'],
      [{ data: new Uint8Array(1025) }, 'data'],
    ];
    for (const [o, name] of bad) await expect(argon2id(pw, salt, { ...ok, ...o })).rejects.toThrow(new RegExp(`^${name} must be`));
    await expect(argon2id(pw, new Uint8Array(7), ok)).rejects.toThrow(/^salt must be 8\.\./);
  });
});

describe('calls that overlap', () => {
  it('the inputs are read before the first await: changing them after the call starts changes nothing', async () => {
    const password = new Uint8Array(32).fill(1);
    const salt = new Uint8Array(16).fill(2);
    const secret = new Uint8Array(8).fill(3);
    const o = { m: 256, t: 2, p: 2, dkLen: 32 };
    const want = toHex(nobleArgon2id(password, salt, { ...o, key: secret }));
    const running = argon2id(password, salt, { ...o, secret, engine: 'wasm' });
    password.fill(0);
    salt.fill(0);
    secret.fill(0);
    expect(toHex(await running)).toBe(want);
  });

  it('calls on both paths at once, interleaving at their yields, each give their own tag', async () => {
    const pause = () => new Promise<void>((r) => setImmediate(r)); // yield after every 32 blocks
    const cases = [1, 2, 3, 4].map((i) => ({ password: new Uint8Array(16).fill(i), o: { m: 512 + 64 * i, t: 1 + (i % 2), p: i, dkLen: 32 } }));
    const want = cases.map(({ password, o }) => toHex(nobleArgon2id(password, new Uint8Array(16), o)));
    const got = await Promise.all(
      cases.flatMap(({ password, o }) => ENGINES.map((engine) => argon2id(password, new Uint8Array(16), { ...o, engine, pause }).then(toHex))),
    );
    expect(got).toEqual(want.flatMap((w) => [w, w]));
  });
});

describe('event loop and memory', () => {
  const password = new Uint8Array(32).fill(9);
  const salt = new Uint8Array(16);

  it('asks its checkpoint every 32 blocks; the default one lets macrotasks run during a 46 MiB call', async () => {
    let asked = 0;
    await argon2id(password, salt, { m: 4096, t: 1, p: 1, dkLen: 32, pause: () => void asked++ });
    expect(asked).toBe(Math.floor((4096 - 2) / 32));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await argon2id(password, salt, { m: 47104, t: 1, p: 1, dkLen: 64 });
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(5);
  });

  /** Every WebAssembly.Memory made while `f` runs. */
  async function memoriesOf(f: () => Promise<unknown>): Promise<WebAssembly.Memory[]> {
    const made: WebAssembly.Memory[] = [];
    const Real = WebAssembly.Memory;
    // A function, not an arrow: it is called with `new` (and returns the real memory).
    vi.spyOn(WebAssembly, 'Memory').mockImplementation(function (d: WebAssembly.MemoryDescriptor) {
      const m = new Real(d);
      made.push(m);
      return m;
    });
    await f().catch(() => undefined);
    vi.restoreAllMocks();
    return made;
  }
  const zero = (m: WebAssembly.Memory) => new Uint8Array(m.buffer).every((b) => b === 0);

  it('the memory is zeroed when the call returns', async () => {
    const [m, ...more] = await memoriesOf(() => argon2id(password, salt, { m: 4096, t: 2, p: 2, dkLen: 32, engine: 'wasm' }));
    expect(more).toEqual([]);
    expect(m!.buffer.byteLength).toBeGreaterThanOrEqual((4096 + 4) * 1024);
    expect(zero(m!)).toBe(true);
  });

  it('the memory is zeroed when the call throws half-way (its checkpoint throws), and the error is the one thrown', async () => {
    let n = 0;
    const boom = new Error('stop');
    const run = () =>
      argon2id(password, salt, {
        m: 4096,
        t: 2,
        p: 2,
        dkLen: 32,
        engine: 'wasm',
        pause: () => {
          if (++n === 100) throw boom;
          return undefined;
        },
      });
    await expect(run()).rejects.toBe(boom);
    n = 0;
    const [m] = await memoriesOf(run);
    expect(n).toBe(100);
    expect(zero(m!)).toBe(true);
  });

  it('the JavaScript path too: its memory is zeroed when the call returns and when its checkpoint throws half-way', async () => {
    const want = toHex(nobleArgon2id(password, salt, { m: 4096, t: 2, p: 2, dkLen: 32 }));
    const made: Uint32Array[] = [];
    const Real = Uint32Array;
    // Keep the call's memory (the one large Uint32Array; BLAKE2b allocates small ones).
    vi.stubGlobal(
      'Uint32Array',
      new Proxy(Real, {
        construct(target, args: unknown[]) {
          const a = Reflect.construct(target, args) as Uint32Array;
          if (typeof args[0] === 'number' && args[0] > 10_000) made.push(a);
          return a;
        },
      }),
    );
    const boom = new Error('stop');
    let n = 0;
    const o = { m: 4096, t: 2, p: 2, dkLen: 32, engine: 'js' as const };
    try {
      const tag = await argon2id(password, salt, o);
      expect(toHex(tag)).toBe(want);
      const pause = () => {
        if (++n === 100) throw boom;
        return undefined;
      };
      await expect(argon2id(password, salt, { ...o, pause })).rejects.toBe(boom);
    } finally {
      vi.unstubAllGlobals();
    }
    expect(n).toBe(100);
    expect(made.map((w) => w.length)).toEqual([((4096 + 4) * 1024) / 4, ((4096 + 4) * 1024) / 4]);
    for (const w of made) expect(w.every((x) => x === 0)).toBe(true);
  });
});
