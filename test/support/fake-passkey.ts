// A software passkey authenticator with the WebAuthn PRF extension, for tests outside a browser:
// each credential holds a random 32-byte secret; the PRF output for an input is
// HMAC-SHA-256(secret, SHA-256("WebAuthn PRF" ‖ 0x00 ‖ input)), as a CTAP2 hmac-secret authenticator
// behind the browser's salt hashing (WebAuthn L3 §10.1.4) would give.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { BackupError } from '../../lib/errors.js';
import type { PasskeyAuthenticator } from '../../lib/recovery/passkey-webauthn.js';

export interface FakePasskeyOptions {
  /** Evaluates PRF at create() (most platform authenticators) or not (security keys): default true. */
  readonly prfAtCreate?: boolean;
  /** No PRF support at all. */
  readonly noPrf?: boolean;
}

export interface FakePasskeys extends PasskeyAuthenticator {
  /** Credentials by base64url id: their secret and account. */
  readonly credentials: Map<string, Uint8Array>;
  /** Which credential the next get() picks (default: the first offered). */
  choose: ((offered: readonly Uint8Array[]) => Uint8Array | undefined) | undefined;
  /** Make the next ceremony fail as a user cancel. */
  cancelNext: boolean;
  /** Every PRF output handed out (to search for in storage and requests). */
  readonly outputs: Uint8Array[];
  calls: number;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');

export function prfOf(secret: Uint8Array, input: Uint8Array): Uint8Array {
  const salt = createHash('sha256').update('WebAuthn PRF').update(Buffer.of(0)).update(input).digest();
  return new Uint8Array(createHmac('sha256', secret).update(salt).digest());
}

export function createFakePasskeys(options: FakePasskeyOptions = {}): FakePasskeys {
  const credentials = new Map<string, Uint8Array>();
  const self: FakePasskeys = {
    credentials,
    choose: undefined,
    cancelNext: false,
    outputs: [],
    calls: 0,
    async create({ prfSalt }) {
      self.calls++;
      if (self.cancelNext) {
        self.cancelNext = false;
        throw new BackupError('PASSKEY_CANCELLED', 'cancelled');
      }
      if (options.noPrf === true) throw new BackupError('PASSKEY_PRF_UNSUPPORTED', 'no PRF');
      const id = new Uint8Array(randomBytes(16));
      const secret = new Uint8Array(randomBytes(32));
      credentials.set(b64(id), secret);
      if (options.prfAtCreate === false) return { credentialId: id };
      const out = prfOf(secret, prfSalt);
      self.outputs.push(Uint8Array.from(out));
      return { credentialId: id, prfOutput: out };
    },
    async get({ credentials: offered }) {
      self.calls++;
      if (self.cancelNext) {
        self.cancelNext = false;
        throw new BackupError('PASSKEY_CANCELLED', 'cancelled');
      }
      if (options.noPrf === true) throw new BackupError('PASSKEY_PRF_UNSUPPORTED', 'no PRF');
      const ids = offered.map((c) => c.credentialId);
      const pick = self.choose?.(ids) ?? ids.find((id) => credentials.has(b64(id)));
      const c = offered.find((x) => pick !== undefined && b64(x.credentialId) === b64(pick));
      const secret = pick === undefined ? undefined : credentials.get(b64(pick));
      if (c === undefined || secret === undefined) throw new BackupError('PASSKEY_CANCELLED', 'no matching passkey');
      const first = prfOf(secret, c.first);
      const second = c.second === undefined ? undefined : prfOf(secret, c.second);
      self.outputs.push(Uint8Array.from(first));
      if (second !== undefined) self.outputs.push(Uint8Array.from(second));
      return { credentialId: Uint8Array.from(c.credentialId), first, ...(second === undefined ? {} : { second }) };
    },
  };
  return self;
}
