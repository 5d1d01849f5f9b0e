// The package entry runs the default RFC 9807 family (ristretto255, Argon2id) only; P-256 and
// scrypt come from e2ee-backup/rfc9807-extras (docs/SIZE.md). Without it: a typed error, not a load.
import { describe, expect, it } from 'vitest';
import { rfc9807Suite } from '../../lib/recovery/opaque/rfc9807.js';
import { scryptKsf } from '../../lib/recovery/opaque/rfc9807-ksf.js';

const err = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

describe('e2ee-backup/rfc9807-extras', () => {
  it('P-256 and scrypt suites are ENGINE_UNAVAILABLE until enabled, then run', async () => {
    const pw = new TextEncoder().encode('correct horse');
    const p256 = rfc9807Suite('rfc9807/P256-SHA256/argon2id-m16384-t1-p1');
    expect(await err(p256.startRegistration(pw))).toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringContaining('enableRfc9807Extras') });
    const scrypt = scryptKsf({ N: 1 << 14, r: 8, p: 1 });
    expect(await err(scrypt.stretch(pw, 32))).toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringContaining('enableRfc9807Extras') });
    // The default suite needs nothing extra.
    await expect(rfc9807Suite().startRegistration(pw)).resolves.toBeDefined();

    // Imported here, not above: evaluating the P-256 and scrypt modules provides them (as the server's static imports do).
    const { enableRfc9807Extras } = await import('../../lib/rfc9807-extras.js');
    enableRfc9807Extras();
    enableRfc9807Extras(); // idempotent
    await expect(p256.startRegistration(pw)).resolves.toBeDefined();
    expect((await scrypt.stretch(pw, 32)).length).toBe(32);
  });
});
