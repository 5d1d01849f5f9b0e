/**
 * Wycheproof XChaCha20-Poly1305 (C2SP/wycheproof testvectors_v1, test/vectors/wycheproof) through the
 * archive's chunk primitive: engine.create(key, nonce[0:16]) then seal/open(nonce[16:24]).
 * Every `valid` case must round trip to the exact bytes; every `invalid` case must be refused
 * (open returns undefined, or a nonce that cannot be split into 16 + 8 bytes is a RangeError).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nobleEngine } from '../../lib/archive/engines/noble.js';
import { equalBytes, fromHex } from '../../lib/util/bytes.js';
import { offsetView } from './support.js';
import { sharedVector } from '../support/shared-vectors.js';

interface Case { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string }
const file = JSON.parse(readFileSync(sharedVector('wycheproof', 'xchacha20_poly1305_test.json'), 'utf8')) as {
  numberOfTests: number;
  testGroups: { tests: Case[] }[];
};
const cases = file.testGroups.flatMap((g) => g.tests);

describe('chunk primitive vs Wycheproof xchacha20_poly1305_test.json', () => {
  it('has every case', () => {
    expect(cases.length).toBe(file.numberOfTests);
    expect(cases.length).toBe(315);
  });

  it('accepts every valid case, refuses every invalid one', () => {
    const engine = nobleEngine();
    let valid = 0;
    let invalid = 0;
    for (const t of cases) {
      const key = fromHex(t.key);
      const iv = fromHex(t.iv);
      const aad = fromHex(t.aad);
      const msg = fromHex(t.msg);
      const sealed = fromHex(t.ct + t.tag);
      if (iv.length !== 24) {
        // Our nonces are always 24 bytes; any other size cannot be split into prefix + tail.
        expect(t.result, `tcId ${t.tcId}`).toBe('invalid');
        expect(() => {
          const c = engine.create(key, iv.subarray(0, 16));
          c.seal(iv.subarray(16), msg, aad);
        }, `tcId ${t.tcId}`).toThrow(RangeError);
        invalid++;
        continue;
      }
      const opener = engine.create(offsetView(key), offsetView(iv.subarray(0, 16)));
      const opened = opener.open(offsetView(iv.subarray(16)), offsetView(sealed), offsetView(aad)) as Uint8Array | undefined;
      opener.dispose();
      if (t.result === 'valid') {
        expect(opened && equalBytes(opened, msg), `tcId ${t.tcId}`).toBe(true);
        const sealer = engine.create(key, iv.subarray(0, 16));
        expect(equalBytes(sealer.seal(iv.subarray(16), msg, aad) as Uint8Array, sealed), `tcId ${t.tcId}`).toBe(true);
        valid++;
      } else {
        expect(t.result, `tcId ${t.tcId}`).toBe('invalid');
        expect(opened, `tcId ${t.tcId}`).toBeUndefined();
        invalid++;
      }
    }
    expect(valid + invalid).toBe(315);
    expect(valid).toBeGreaterThan(0);
    expect(invalid).toBeGreaterThan(0);
  });
});
