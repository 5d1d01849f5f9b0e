/**
 * Passkey flows over an envelope store: add a passkey, unlock with one (rotating its salt in the
 * same prompt), re-seal every envelope after a keyring change with no prompt, list and remove.
 * The envelope crypto is in `passkey.ts`, the ceremonies in `passkey-webauthn.ts`.
 *
 * @module
 */
import { BackupError, isBackupError } from '../errors.js';
import type { BlobStore } from '../storage/blob/types.js';
import { equalBytes, secureRandom, wipe, type RandomSource } from '../util/bytes.js';
import type { Keyring } from './keyring.js';
import {
  createPasskeyEnvelope,
  decodePasskeyEnvelope,
  encodePasskeyEnvelope,
  openPasskeyEnvelope,
  resealPasskeyEnvelope,
  PASSKEY_PRF_LENGTH,
  type PasskeyEnvelope,
  type PasskeyInfo,
} from './passkey.js';
import type { PasskeyAuthenticator } from './passkey-webauthn.js';

/** Most passkeys per account (each unlock offers them all to the browser). */
export const MAX_PASSKEYS = 32;
/** Longest stored envelope the store reads back. */
const MAX_ENVELOPE_BYTES = 80 * 1024;

/**
 * Where envelopes live: the blob store ({@link blobPasskeyStore}) or the app's own backend. An
 * envelope holds no secret in the clear; the store still should be the account's own.
 */
export interface PasskeyEnvelopeStore {
  /** Every envelope of the account, as stored. */
  list(options?: { readonly signal?: AbortSignal }): Promise<Uint8Array[]>;
  /** Store (or replace) the envelope of passkey `id`. */
  put(id: string, envelope: Uint8Array, options?: { readonly signal?: AbortSignal }): Promise<void>;
  /** Remove the envelope of passkey `id` (no error when absent). */
  delete(id: string, options?: { readonly signal?: AbortSignal }): Promise<void>;
}

/**
 * Envelopes as blobs under `<prefix>passkeys/<id>` in a {@link BlobStore}.
 *
 * @example
 * ```ts
 * const envelopes = blobPasskeyStore(blobStore, 'accounts/user-42/');
 * ```
 */
export function blobPasskeyStore(store: BlobStore, prefix = ''): PasskeyEnvelopeStore {
  const dir = `${prefix}passkeys/`;
  return {
    async list(options) {
      const signal = options?.signal === undefined ? {} : { signal: options.signal };
      // maxEntries: the store refuses (PROTOCOL) a listing longer than an account may hold.
      const entries = await store.list(dir, { maxEntries: MAX_PASSKEYS, ...signal });
      const out: Uint8Array[] = [];
      for (const e of entries) {
        // A ranged read: a store that lies about the size still cannot make us hold more than the cap.
        const bytes = await store.get(e.key, { range: { offset: 0, length: MAX_ENVELOPE_BYTES + 1 }, ...signal }).catch((err: unknown) => {
          // An empty object answers a range starting at its end with INVALID_ARGUMENT; no envelope is empty.
          throw isBackupError(err, 'INVALID_ARGUMENT') ? new BackupError('KEYRING_MALFORMED', 'a stored passkey envelope is empty', { cause: err }) : err;
        });
        if (bytes.length > MAX_ENVELOPE_BYTES) throw new BackupError('KEYRING_MALFORMED', 'a stored passkey envelope is over its size limit');
        out.push(bytes);
      }
      return out;
    },
    async put(id, envelope, options) {
      await store.put(`${dir}${id}`, envelope, options?.signal === undefined ? {} : { signal: options.signal });
    },
    async delete(id, options) {
      await store.delete(`${dir}${id}`, options?.signal === undefined ? {} : { signal: options.signal });
    },
  };
}

/** What the flows need. */
export interface PasskeyContext {
  readonly accountId: string;
  readonly authenticator: PasskeyAuthenticator;
  readonly envelopes: PasskeyEnvelopeStore;
  readonly now?: () => number;
  readonly random?: RandomSource;
  readonly signal?: AbortSignal;
}

async function loadEnvelopes(ctx: Pick<PasskeyContext, 'envelopes' | 'signal'>): Promise<PasskeyEnvelope[]> {
  const raw = await ctx.envelopes.list(ctx.signal === undefined ? {} : { signal: ctx.signal });
  if (raw.length > MAX_PASSKEYS) throw new BackupError('KEYRING_MALFORMED', `more than ${MAX_PASSKEYS} passkey envelopes are stored`);
  return raw.map((b) => decodePasskeyEnvelope(b));
}

const info = (e: PasskeyEnvelope): PasskeyInfo =>
  Object.freeze({ credentialId: Uint8Array.from(e.credentialId), id: e.id, name: e.name, createdAt: e.createdAt });

/** The account's passkeys (no ceremony). */
export async function listPasskeys(ctx: Pick<PasskeyContext, 'envelopes' | 'signal'>): Promise<PasskeyInfo[]> {
  return (await loadEnvelopes(ctx)).map(info);
}

/**
 * Add a passkey: a creation ceremony (evaluating PRF at creation where the authenticator can,
 * else a second prompt), then the envelope sealed to it is stored.
 *
 * @throws BackupError `PASSKEY_PRF_UNSUPPORTED`, `PASSKEY_CANCELLED`, `ABORTED`; nothing is stored then.
 */
export async function addPasskey(
  ctx: PasskeyContext,
  keyring: Keyring,
  options: { readonly name: string; readonly userName: string },
): Promise<PasskeyInfo> {
  const random = ctx.random ?? secureRandom;
  const existing = await loadEnvelopes(ctx);
  if (existing.length >= MAX_PASSKEYS) throw new BackupError('INVALID_ARGUMENT', `an account holds at most ${MAX_PASSKEYS} passkeys`);
  const prfSalt = Uint8Array.from(random(PASSKEY_PRF_LENGTH));
  const signal = ctx.signal === undefined ? {} : { signal: ctx.signal };
  const made = await ctx.authenticator.create({ accountId: ctx.accountId, userName: options.userName, prfSalt, ...signal });
  let prfOutput = made.prfOutput;
  try {
    if (prfOutput === undefined) {
      // The authenticator does not evaluate PRF at creation (most security keys, some platforms):
      // a second prompt with the new credential only.
      const got = await ctx.authenticator.get({ credentials: [{ credentialId: made.credentialId, first: prfSalt }], ...signal });
      prfOutput = got.first;
      wipe(got.second);
      if (!equalBytes(got.credentialId, made.credentialId)) throw new BackupError('PASSKEY_CANCELLED', 'another passkey was chosen');
    }
    const envelope = createPasskeyEnvelope(
      keyring,
      ctx.accountId,
      { credentialId: made.credentialId, prfSalt, prfOutput, name: options.name, createdAt: (ctx.now ?? Date.now)() },
      random,
    );
    await ctx.envelopes.put(envelope.id, encodePasskeyEnvelope(envelope), signal);
    return info(envelope);
  } finally {
    wipe(prfOutput);
  }
}

/**
 * Unlock with any of the account's passkeys: one prompt; the salt of the passkey used rotates
 * through the second PRF output when `rotateSalt` (the default), and its envelope is replaced.
 *
 * @returns the keyring (the caller owns and wipes it) and the passkey that opened it.
 * @throws BackupError `PASSKEY_NOT_FOUND` (no envelope, or none for the chosen passkey),
 *   `PASSKEY_AUTH_FAILED` (a changed PRF output), `PASSKEY_PRF_UNSUPPORTED`, `PASSKEY_CANCELLED`.
 */
export async function unlockWithPasskey(
  ctx: PasskeyContext,
  options: { readonly rotateSalt?: boolean } = {},
): Promise<{ readonly keyring: Keyring; readonly passkey: PasskeyInfo }> {
  const random = ctx.random ?? secureRandom;
  const envelopes = await loadEnvelopes(ctx);
  if (envelopes.length === 0) throw new BackupError('PASSKEY_NOT_FOUND', 'no passkey protects this account yet');
  const rotate = options.rotateSalt !== false;
  const next = new Map(envelopes.map((e) => [e.id, rotate ? Uint8Array.from(random(PASSKEY_PRF_LENGTH)) : undefined]));
  const got = await ctx.authenticator.get({
    credentials: envelopes.map((e) => {
      const second = next.get(e.id);
      return { credentialId: e.credentialId, first: e.prfSalt, ...(second === undefined ? {} : { second }) };
    }),
    ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
  });
  try {
    const envelope = envelopes.find((e) => equalBytes(e.credentialId, got.credentialId));
    if (envelope === undefined) throw new BackupError('PASSKEY_NOT_FOUND', 'the chosen passkey does not protect this account');
    const nextSalt = next.get(envelope.id);
    const opened = openPasskeyEnvelope(
      envelope,
      got.first,
      ctx.accountId,
      nextSalt !== undefined && got.second !== undefined ? { prfSalt: nextSalt, prfOutput: got.second } : undefined,
      random,
    );
    if (opened.rotated !== undefined) {
      // A failed write keeps the old envelope, which the old salt still opens: nothing is lost.
      await ctx.envelopes
        .put(envelope.id, encodePasskeyEnvelope(opened.rotated), ctx.signal === undefined ? {} : { signal: ctx.signal })
        .catch(() => undefined);
    }
    return { keyring: opened.keyring, passkey: info(envelope) };
  } finally {
    wipe(got.first, got.second);
  }
}

/**
 * Re-seal the keyring to every passkey of the account, with no prompt: after a keyring rotation
 * or reset, every passkey opens the new keyring.
 *
 * @returns how many envelopes were re-sealed.
 */
export async function resealPasskeys(ctx: Pick<PasskeyContext, 'accountId' | 'envelopes' | 'random' | 'signal'>, keyring: Keyring): Promise<number> {
  const envelopes = await loadEnvelopes(ctx);
  for (const e of envelopes) {
    const updated = resealPasskeyEnvelope(e, keyring, ctx.accountId, ctx.random ?? secureRandom);
    await ctx.envelopes.put(e.id, encodePasskeyEnvelope(updated), ctx.signal === undefined ? {} : { signal: ctx.signal });
  }
  return envelopes.length;
}

/** Remove a passkey's envelope (the credential itself stays in the user's password manager). */
export async function removePasskey(ctx: Pick<PasskeyContext, 'envelopes' | 'signal'>, id: string): Promise<void> {
  const envelopes = await loadEnvelopes(ctx);
  if (!envelopes.some((e) => e.id === id)) throw new BackupError('PASSKEY_NOT_FOUND', 'no such passkey for this account');
  await ctx.envelopes.delete(id, ctx.signal === undefined ? {} : { signal: ctx.signal });
}

/** Options of {@link passkeySupport}. */
export interface PasskeySupportOptions {
  /** The ceremonies: `createWebAuthnAuthenticator({ rp: { name } })` in browsers. */
  readonly authenticator: PasskeyAuthenticator;
  /** Where envelopes live; the client's blob store under `<keyPrefix>passkeys/` by default ({@link blobPasskeyStore}). */
  readonly envelopes?: PasskeyEnvelopeStore;
}

/** What a `BackupClient` hands the passkey flows on each call. */
export interface PasskeyCallContext {
  /** The client's account. */
  readonly accountId: string;
  /** The client's blob store: where envelopes live unless the support was given `envelopes`. */
  readonly store: BlobStore;
  /** The client's key prefix (envelopes under `<keyPrefix>passkeys/`). */
  readonly keyPrefix: string;
  /** The client's clock. */
  readonly now: () => number;
  /** The client's randomness. */
  readonly random: RandomSource;
  /** The operation's signal. */
  readonly signal?: AbortSignal;
}

/**
 * The passkey flows a `BackupClient` runs (`createBackupClient({ passkeys })`), bound to an
 * authenticator and an envelope store: made by {@link passkeySupport}. An app calls the client's
 * methods (`addPasskey`, `unlockWithPasskey`, …), not these.
 */
export interface PasskeySupport {
  /** The account's passkeys (no ceremony). */
  list(ctx: PasskeyCallContext): Promise<PasskeyInfo[]>;
  /** Add a passkey sealing `keyring` (one or two prompts). */
  add(ctx: PasskeyCallContext, keyring: Keyring, options: { readonly name: string; readonly userName: string }): Promise<PasskeyInfo>;
  /** Remove a passkey's envelope. */
  remove(ctx: PasskeyCallContext, id: string): Promise<void>;
  /** Unlock with any of the account's passkeys (one prompt): the caller owns and wipes the keyring. */
  unlock(
    ctx: PasskeyCallContext,
    options: { readonly rotateSalt?: boolean },
  ): Promise<{
    /** The keyring the envelope held. */
    readonly keyring: Keyring;
    /** The passkey that opened it. */
    readonly passkey: PasskeyInfo;
  }>;
  /** Re-seal `keyring` to every envelope (no prompt); how many. */
  reseal(ctx: PasskeyCallContext, keyring: Keyring): Promise<number>;
}

/**
 * Passkeys for a `BackupClient`: `createBackupClient({ passkeys: passkeySupport({ authenticator }) })`.
 * Opt-in so that apps without passkeys never download the envelope code or X25519 (docs/SIZE.md);
 * a client without it refuses the passkey methods with `INVALID_ARGUMENT` naming this function.
 *
 * @throws BackupError `INVALID_ARGUMENT` when `authenticator` lacks create() and get().
 *
 * @example
 * ```ts
 * const passkeys = passkeySupport({ authenticator: createWebAuthnAuthenticator({ rp: { name: 'Chat' } }) });
 * ```
 */
export function passkeySupport(options: PasskeySupportOptions): PasskeySupport {
  const a = (options as Partial<PasskeySupportOptions> | null | undefined)?.authenticator;
  if (typeof a?.create !== 'function' || typeof a.get !== 'function') {
    throw new BackupError('INVALID_ARGUMENT', 'passkeySupport: options.authenticator must have create() and get(); pass createWebAuthnAuthenticator({ rp: { name } })', {
      option: 'authenticator',
    });
  }
  if (options.envelopes !== undefined && typeof options.envelopes?.list !== 'function') {
    throw new BackupError('INVALID_ARGUMENT', 'passkeySupport: options.envelopes must be a PasskeyEnvelopeStore (list, put, delete), e.g. blobPasskeyStore(store)', {
      option: 'envelopes',
    });
  }
  const full = (ctx: PasskeyCallContext): PasskeyContext => ({
    accountId: ctx.accountId,
    authenticator: a,
    envelopes: options.envelopes ?? blobPasskeyStore(ctx.store, ctx.keyPrefix),
    now: ctx.now,
    random: ctx.random,
    ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
  });
  return Object.freeze({
    list: (ctx: PasskeyCallContext) => listPasskeys(full(ctx)),
    add: (ctx: PasskeyCallContext, keyring: Keyring, o: { readonly name: string; readonly userName: string }) => addPasskey(full(ctx), keyring, o),
    remove: (ctx: PasskeyCallContext, id: string) => removePasskey(full(ctx), id),
    unlock: (ctx: PasskeyCallContext, o: { readonly rotateSalt?: boolean }) => unlockWithPasskey(full(ctx), o),
    reseal: (ctx: PasskeyCallContext, keyring: Keyring) => resealPasskeys(full(ctx), keyring),
  });
}
