// Finding (issue 16): a passkey envelope's keyring box is sealed to the public key the envelope
// itself carries, so whoever can write envelopes (the storage operator included) could seal a
// keyring of their own into it and the victim's passkey would "open" the attacker's keyring. Fixed:
// the box carries an HMAC under a key that only the PRF output (inside the sealed private key) or
// the account's keyring (its first generation) gives (docs/PASSKEYS.md). This test opened the
// attacker's keyring before the fix.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { createKeyring, encodeKeyring } from '../../lib/recovery/keyring.js';
import { createPasskeyEnvelope, decodePasskeyEnvelope, encodePasskeyEnvelope, openPasskeyEnvelope, resealPasskeyEnvelope } from '../../lib/recovery/passkey.js';
import { equalBytes } from '../../lib/util/bytes.js';

describe('passkey envelope: keyring box substitution', () => {
  it('an envelope whose box was re-sealed by someone without the keyring or the PRF output is refused', () => {
    const account = 'user-42';
    const victim = createKeyring();
    const prfOutput = crypto.getRandomValues(new Uint8Array(32));
    const stored = encodePasskeyEnvelope(
      createPasskeyEnvelope(victim, account, {
        credentialId: Uint8Array.of(1, 2, 3, 4),
        prfSalt: crypto.getRandomValues(new Uint8Array(32)),
        prfOutput,
        name: 'Laptop',
        createdAt: 1_767_225_600_000,
      }),
    );

    // The attacker reads the stored envelope (public data) and re-seals a keyring of their own to
    // its public key: no PRF output, no victim keyring needed.
    const attackers = createKeyring();
    const forged = encodePasskeyEnvelope(resealPasskeyEnvelope(decodePasskeyEnvelope(stored), attackers, account));

    let outcome: string;
    try {
      const { keyring } = openPasskeyEnvelope(decodePasskeyEnvelope(forged), prfOutput, account);
      outcome = equalBytes(encodeKeyring(keyring), encodeKeyring(attackers)) ? "opened the attacker's keyring" : 'opened another keyring';
    } catch (e) {
      outcome = isBackupError(e) ? e.code : String(e);
    }
    expect(outcome).toBe('PASSKEY_AUTH_FAILED');
  });
});
