// The whole flow once over real HTTP (node:http on 127.0.0.1, globalThis.fetch), with the
// default scrypt suite and the file store: enroll, a wrong code, recover, change code, recover
// with the new code, status, remove.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { pinnedFleets } from '../../lib/recovery/fleet-trust.js';
import { createKeyring } from '../../lib/recovery/keyring.js';
import { RFC9807_DEFAULT_SUITE_ID } from '../../lib/recovery/opaque/rfc9807.js';
import { createVaultClient } from '../../lib/recovery/vault-client.js';
import { createFileVaultStore, createVaultHandler, generateVaultSetup, serveHandler } from '../../lib/server/index.js';
import { toHex, utf8 } from '../../lib/util/bytes.js';

const dir = await mkdtemp(join(tmpdir(), 'vault-http-'));
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('vault over real HTTP', () => {
  it('enroll → wrong code → recover → change code → recover → remove, default suite (RFC 9807, Argon2id), file store', async () => {
    const { setup, publicKey } = await generateVaultSetup();
    const handler = createVaultHandler({
      fleetId: 'fleet-http',
      setup,
      store: createFileVaultStore({ dir }),
      verifyToken: async (t) => (t === 'token-for-carol' ? 'carol' : undefined),
    });
    const served = await serveHandler(handler, { port: 0 });
    try {
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const vault = createVaultClient({
        fleetId: 'fleet-http',
        accountId: 'carol',
        baseUrl: served.url,
        fetch: (r) => fetch(r),
        getToken: async () => 'token-for-carol',
        trust: pinnedFleets([{ fleetId: 'fleet-http', suite: RFC9807_DEFAULT_SUITE_ID, publicKey }]),
      });
      const keyring = createKeyring();
      expect(await vault.enroll({ password: utf8('first code'), keyring })).toEqual({ guessLimit: 10 });
      const wrong = await vault.recover({ password: utf8('not it') }).catch((e: unknown) => e);
      expect(isBackupError(wrong, 'WRONG_CODE') && wrong.guessesRemaining).toBe(9);
      expect(toHex((await vault.recover({ password: utf8('first code') })).current.key)).toBe(toHex(keyring.current.key));
      await vault.changeCode({ oldPassword: utf8('first code'), newPassword: utf8('second code') });
      expect(toHex((await vault.recover({ password: utf8('second code') })).current.key)).toBe(toHex(keyring.current.key));
      expect(await vault.status()).toEqual({ fleetId: 'fleet-http', state: 'enrolled', guessesRemaining: 10, guessLimit: 10 });
      await vault.remove();
      expect((await vault.status()).state).toBe('not-enrolled');
      // A raw GET is refused with a typed protocol error body, not a crash.
      expect((await fetch(`${served.url}/v1/vault`)).status).toBe(400);
    } finally {
      await served.close();
    }
  });
});
