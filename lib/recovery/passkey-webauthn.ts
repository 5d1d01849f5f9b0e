/**
 * The passkey ceremonies: a small {@link PasskeyAuthenticator} interface (so the envelope logic is
 * tested anywhere) and its WebAuthn implementation with the `prf` extension (WebAuthn Level 3
 * §10.1.4). The passkey is used only as a PRF here: nothing is sent to a server, so the challenge
 * is random and no assertion needs verifying (docs/PASSKEYS.md §Ceremonies).
 *
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { BackupError } from '../errors.js';
import { abytes, secureRandom, toBase64Url, utf8, wipe, type RandomSource } from '../util/bytes.js';
import { PASSKEY_PRF_LENGTH } from './passkey.js';

/** What {@link PasskeyAuthenticator.create} is asked to make. */
export interface PasskeyCreateRequest {
  /** Account the passkey protects (its hash is the WebAuthn user handle, never the id itself). */
  readonly accountId: string;
  /** Shown by the browser and the password manager ("alice@example.com"). */
  readonly userName: string;
  /** PRF input to evaluate at creation where the authenticator can. */
  readonly prfSalt: Uint8Array;
  /** Aborts the prompt (`ABORTED`). */
  readonly signal?: AbortSignal;
}

/** The result of a creation ceremony. */
export interface PasskeyCreateResult {
  /** The new credential's raw id. */
  readonly credentialId: Uint8Array;
  /** PRF output for `prfSalt`, when the authenticator evaluated it at creation (else a get follows). */
  readonly prfOutput?: Uint8Array;
}

/** One credential the user may choose in {@link PasskeyAuthenticator.get}, with its PRF inputs. */
export interface PasskeyPrfInputs {
  /** The credential's raw id (goes to `allowCredentials` and `evalByCredential`). */
  readonly credentialId: Uint8Array;
  /** PRF input `first`: the salt the envelope is sealed under. */
  readonly first: Uint8Array;
  /** A second input (the next salt): the authenticator evaluates both in the same prompt. */
  readonly second?: Uint8Array;
}

/** The result of an assertion ceremony. */
export interface PasskeyGetResult {
  /** The credential the user chose. */
  readonly credentialId: Uint8Array;
  /** PRF output for `first` (32 bytes, secret: the caller wipes it). */
  readonly first: Uint8Array;
  /** PRF output for `second`, when one was asked and the authenticator gave it (secret). */
  readonly second?: Uint8Array;
}

/**
 * The two ceremonies the SDK needs. {@link createWebAuthnAuthenticator} implements them with the
 * browser's WebAuthn; tests and native shells may bring their own.
 *
 * Implementations throw `BackupError` `PASSKEY_PRF_UNSUPPORTED` when no PRF output can be had,
 * `PASSKEY_CANCELLED` when the user dismissed the prompt, `ABORTED` when `signal` aborted.
 */
export interface PasskeyAuthenticator {
  /** Create a passkey (WebAuthn `navigator.credentials.create`), evaluating PRF where possible. */
  create(request: PasskeyCreateRequest): Promise<PasskeyCreateResult>;
  /** One assertion among `credentials` (WebAuthn `navigator.credentials.get`) with their PRF inputs. */
  get(request: { readonly credentials: readonly PasskeyPrfInputs[]; readonly signal?: AbortSignal }): Promise<PasskeyGetResult>;
}

/** Options of {@link createWebAuthnAuthenticator}. */
export interface WebAuthnAuthenticatorOptions {
  /** The relying party: `id` is the site's registrable domain (defaults to the page's host). */
  readonly rp: {
    /** The app's name, shown in the prompt. */
    readonly name: string;
    /** The RP id (registrable domain); the page's host by default. */
    readonly id?: string;
  };
  /** `navigator.credentials` by default. */
  readonly credentials?: CredentialsContainer;
  /** Prompt timeout, ms (default 120 000). */
  readonly timeoutMs?: number;
  /** Platform authenticator only, cross-device too (`undefined`, default), or security keys. */
  readonly attachment?: AuthenticatorAttachment;
  /** Source of PRF salts and challenges (WebCrypto by default). */
  readonly random?: RandomSource;
}

const unsupported = (why: string, cause?: unknown) =>
  new BackupError('PASSKEY_PRF_UNSUPPORTED', `passkeys cannot protect backups here: ${why}; use the recovery code`, cause === undefined ? {} : { cause });

/** Map a WebAuthn DOMException to the SDK's typed errors. */
function ceremonyError(e: unknown, signal: AbortSignal | undefined): BackupError {
  const name = typeof e === 'object' && e !== null && 'name' in e ? String((e as { name: unknown }).name) : '';
  if (signal?.aborted || name === 'AbortError') return new BackupError('ABORTED', 'the passkey prompt was aborted', { cause: e });
  if (name === 'NotAllowedError') return new BackupError('PASSKEY_CANCELLED', 'the passkey prompt was cancelled or timed out', { cause: e });
  if (name === 'NotSupportedError' || name === 'SecurityError') return unsupported(`the browser refused the ceremony (${name})`, e);
  if (e instanceof BackupError) return e;
  return new BackupError('PASSKEY_CANCELLED', `the passkey ceremony failed (${name || 'unknown error'})`, { cause: e });
}

type PrfResults = { enabled?: boolean; results?: { first?: BufferSource; second?: BufferSource } };

const prfOf = (cred: PublicKeyCredential): PrfResults | undefined =>
  (cred.getClientExtensionResults() as { prf?: PrfResults }).prf;

function outputBytes(v: BufferSource | undefined): Uint8Array | undefined {
  if (v === undefined) return undefined;
  const b = ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
  if (b.length !== PASSKEY_PRF_LENGTH) throw unsupported(`the authenticator returned a ${b.length}-byte PRF output`);
  return Uint8Array.from(b);
}

/**
 * The browser's WebAuthn as a {@link PasskeyAuthenticator}, with the `prf` extension.
 *
 * @example
 * ```ts
 * const authenticator = createWebAuthnAuthenticator({ rp: { name: 'Chat' } });
 * const client = createBackupClient({ vault, store: blobStore, storage: kv, accountId, passkeys: passkeySupport({ authenticator }) });
 * ```
 */
export function createWebAuthnAuthenticator(options: WebAuthnAuthenticatorOptions): PasskeyAuthenticator {
  if (typeof options !== 'object' || options === null || typeof options.rp?.name !== 'string') {
    throw new BackupError('INVALID_ARGUMENT', 'createWebAuthnAuthenticator: options.rp.name must be a string', {
      option: 'rp.name',
    });
  }
  const random = options.random ?? secureRandom;
  const timeout = options.timeoutMs ?? 120_000;
  const container = (): CredentialsContainer => {
    const c = options.credentials ?? (typeof navigator === 'undefined' ? undefined : navigator.credentials);
    if (c === undefined || typeof PublicKeyCredential === 'undefined') throw unsupported('this browser has no WebAuthn');
    return c;
  };
  const challenge = () => Uint8Array.from(random(32));
  return {
    async create({ accountId, userName, prfSalt, signal }) {
      abytes(prfSalt, 'prfSalt', PASSKEY_PRF_LENGTH);
      const c = container();
      let cred: PublicKeyCredential | null;
      try {
        cred = (await c.create({
          publicKey: {
            rp: options.rp.id === undefined ? { name: options.rp.name } : { name: options.rp.name, id: options.rp.id },
            // The user handle must not be personal data (WebAuthn §14.6.1): a hash of the account id.
            user: { id: sha256(utf8(`e2ee-backup/passkey-user/${accountId}`)), name: userName, displayName: userName },
            challenge: challenge(),
            pubKeyCredParams: [
              { type: 'public-key', alg: -8 },
              { type: 'public-key', alg: -7 },
              { type: 'public-key', alg: -257 },
            ],
            authenticatorSelection: {
              residentKey: 'required',
              userVerification: 'required',
              ...(options.attachment === undefined ? {} : { authenticatorAttachment: options.attachment }),
            },
            timeout,
            extensions: { prf: { eval: { first: Uint8Array.from(prfSalt) } } } as AuthenticationExtensionsClientInputs,
          },
          ...(signal === undefined ? {} : { signal }),
        })) as PublicKeyCredential | null;
      } catch (e) {
        throw ceremonyError(e, signal);
      }
      if (cred === null) throw new BackupError('PASSKEY_CANCELLED', 'no passkey was created');
      const prf = prfOf(cred);
      if (prf === undefined || prf.enabled === false) throw unsupported('the authenticator does not support the PRF extension');
      const first = outputBytes(prf.results?.first);
      return { credentialId: new Uint8Array(cred.rawId), ...(first === undefined ? {} : { prfOutput: first }) };
    },
    async get({ credentials, signal }) {
      if (credentials.length === 0) throw new BackupError('PASSKEY_NOT_FOUND', 'no passkey is registered for this account');
      const c = container();
      const evalByCredential: Record<string, { first: Uint8Array; second?: Uint8Array }> = {};
      for (const x of credentials) {
        evalByCredential[toBase64Url(x.credentialId)] = {
          first: Uint8Array.from(x.first),
          ...(x.second === undefined ? {} : { second: Uint8Array.from(x.second) }),
        };
      }
      let cred: PublicKeyCredential | null;
      try {
        cred = (await c.get({
          publicKey: {
            challenge: challenge(),
            ...(options.rp.id === undefined ? {} : { rpId: options.rp.id }),
            allowCredentials: credentials.map((x) => ({ type: 'public-key' as const, id: Uint8Array.from(x.credentialId) })),
            userVerification: 'required',
            timeout,
            extensions: { prf: { evalByCredential } } as AuthenticationExtensionsClientInputs,
          },
          ...(signal === undefined ? {} : { signal }),
        })) as PublicKeyCredential | null;
      } catch (e) {
        throw ceremonyError(e, signal);
      }
      if (cred === null) throw new BackupError('PASSKEY_CANCELLED', 'no passkey was chosen');
      const results = prfOf(cred)?.results;
      const first = outputBytes(results?.first);
      if (first === undefined) throw unsupported('the authenticator returned no PRF output');
      let second: Uint8Array | undefined;
      try {
        second = outputBytes(results?.second);
      } catch (e) {
        wipe(first);
        throw e;
      }
      return { credentialId: new Uint8Array(cred.rawId), first, ...(second === undefined ? {} : { second }) };
    },
  };
}
