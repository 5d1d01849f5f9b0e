/**
 * The vault wire protocol (docs/PROTOCOL.md): binary messages between the vault client and a vault
 * fleet, with one encoder and one parser per direction. Every length and count an attacker controls
 * is capped before it is used; every malformed, truncated or over-limit message fails with a
 * `BackupError` of code `PROTOCOL`.
 *
 * Every message, in both directions, starts with the same header: magic, protocol version, message
 * type, `fleetId`, OPAQUE suite id, `accountId` and a 16-byte attempt id. The same four names are
 * bound into OPAQUE's context and identities ({@link opaqueBinding}), so a message for one fleet,
 * suite or account can never complete a login for another (DESIGN.md "Vault protocol").
 *
 * @module
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { BackupError } from '../errors.js';
import * as labels from '../labels.js';
import {
  abytes,
  concatBytes,
  equalBytes,
  fromUtf8,
  readU32BE,
  toHex,
  readU64BE,
  utf8,
  wipe,
  writeU32BE,
  writeU64BE,
  type RandomSource,
} from '../util/bytes.js';

/**
 * Wire protocol version carried in every message. Version 2 (issue 13): registration authenticated
 * under the fleet key (register-init carries an ephemeral key; register-response and
 * register-finish carry MACs), and the login intent sent with KE1 and bound into the AKE context.
 * Version 1 messages are refused (`PROTOCOL`, "unsupported protocol version").
 */
export const PROTOCOL_VERSION = 2;
/** The four magic bytes that start every vault message: `E2BV`. */
export const PROTOCOL_MAGIC: Uint8Array = /* @__PURE__ */ Uint8Array.of(0x45, 0x32, 0x42, 0x56);

/** Largest message body either side accepts, in bytes. */
export const MAX_MESSAGE_BYTES = 131_072;
/** Largest sealed escrow (the sealed keyring) a vault stores, in bytes. */
export const MAX_ESCROW_BYTES = 65_536;
/** Largest OPAQUE message (request, response, record, KE1, KE2, KE3) of any suite, in bytes. */
export const MAX_OPAQUE_FIELD_BYTES = 1024;
/** Largest guess limit a vault may configure or announce. */
export const MAX_GUESS_LIMIT = 1000;
/** Length of an attempt id (the idempotency key), in bytes. */
export const ATTEMPT_ID_BYTES = 16;
/** Largest server public key of any suite, in bytes. */
export const MAX_PUBLIC_KEY_BYTES = 256;
/** Largest registration ticket, in bytes. */
export const MAX_TICKET_BYTES = 256;
/** Length of the registration MACs (HMAC-SHA-256) of register-response and register-finish. */
export const REGISTRATION_MAC_BYTES = 32;
/** Length of a change-code grant, in bytes. */
export const GRANT_BYTES = 32;

const MAX_FLEET_ID = 64;
const MAX_SUITE_ID = 64;
const MAX_ACCOUNT_ID = 128;
const MAX_ERROR_CODE = 32;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
/** Sealed escrow transport: nonce ‖ ciphertext(u32 len ‖ escrow ‖ grant) ‖ tag. */
const MAX_SEALED_RESULT = NONCE_BYTES + 4 + MAX_ESCROW_BYTES + GRANT_BYTES + TAG_BYTES;

const FLEET_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const SUITE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._/:+-]*$/;
const ACCOUNT_ID_RE = /^[\x21-\x7e]+$/;

/** How an enrollment treats an existing record (docs/PROTOCOL.md §Enroll). */
export type EnrollMode =
  /** First enrollment: refused with `ALREADY_ENROLLED` when a record exists. */
  | 'new'
  /** Replace the record in a session that just proved the old code (carries a grant). */
  | 'replace'
  /** Explicit reset: destroys any old record and escrow, lockout included. */
  | 'reset';

/** What the client wants from a login, sent with KE3. */
export type LoginIntent =
  /** Release the escrow. */
  | 'recover'
  /** Release the escrow and a one-time grant to replace the record (change of code). */
  | 'change'
  /** The client found the code wrong (OPAQUE envelope did not open): close the attempt now. */
  | 'abort';

/** Enrollment state reported by `status`. */
export type EnrollmentState = 'not-enrolled' | 'enrolled' | 'locked-out';

/** Fields every message carries (docs/PROTOCOL.md §Header). */
export interface MessageHeader {
  /** The vault fleet's name. */
  readonly fleetId: string;
  /** The OPAQUE suite id, e.g. `opaque-ts/P256-SHA256-scrypt/v1`. */
  readonly suite: string;
  /** The account the bearer token was issued for. */
  readonly accountId: string;
  /** 16 random bytes naming one attempt; a retry of the same attempt reuses it. */
  readonly attemptId: Uint8Array;
}

/** A message from the client to the vault. */
export type VaultRequest = MessageHeader &
  (
    | {
        /** Start an enrollment (OPAQUE registration). */
        readonly type: 'register-init';
        /** How an existing record is treated. */
        readonly mode: EnrollMode;
        /** The OPAQUE RegistrationRequest. */
        readonly request: Uint8Array;
        /**
         * A fresh ephemeral public key in the suite's AKE group: the vault answers with a MAC under
         * a key from Diffie-Hellman between it and the fleet's OPAQUE key (docs/PROTOCOL.md §3.1).
         */
        readonly ephemeralKey: Uint8Array;
      }
    | {
        /** Finish an enrollment: store the record and the escrow. */
        readonly type: 'register-finish';
        /** The same mode as the attempt's `register-init`. */
        readonly mode: EnrollMode;
        /** The OPAQUE RegistrationRecord. */
        readonly record: Uint8Array;
        /** The sealed keyring (docs/KEYRING.md) the vault stores beside the record. */
        readonly escrow: Uint8Array;
        /** The change-code grant (32 bytes) for mode `replace`, empty otherwise. */
        readonly grant: Uint8Array;
        /** The vault's registration ticket from `register-response`, echoed unchanged. */
        readonly ticket: Uint8Array;
        /** HMAC-SHA-256 under the registration's finish key of every byte before this field (§3.1). */
        readonly mac: Uint8Array;
      }
    | {
        /** Start a login (spends one guess). */
        readonly type: 'login-init';
        /** What the login is for; bound into the AKE context, so KE2 and KE3 cover it. */
        readonly intent: Exclude<LoginIntent, 'abort'>;
        /** The OPAQUE KE1 message. */
        readonly ke1: Uint8Array;
      }
    | {
        /** Finish a login. */
        readonly type: 'login-finish';
        /** The intent of the attempt's `login-init`, or `abort`; any other value is refused. */
        readonly intent: LoginIntent;
        /** The OPAQUE KE3 message; empty for intent `abort`. */
        readonly ke3: Uint8Array;
      }
    | {
        /** Ask for the account's enrollment state and guess counter. */
        readonly type: 'status';
      }
    | {
        /** Remove the enrollment (record and escrow). */
        readonly type: 'remove';
      }
  );

/** A message from the vault to the client. */
export type VaultResponse = MessageHeader &
  (
    | {
        /** Answer to `register-init`. */
        readonly type: 'register-response';
        /** The OPAQUE RegistrationResponse. */
        readonly response: Uint8Array;
        /** Opaque to the client: names the fresh per-registration OPRF key (docs/PROTOCOL.md §6). */
        readonly ticket: Uint8Array;
        /** HMAC-SHA-256 under the registration's response key of every byte before this field (§3.1). */
        readonly mac: Uint8Array;
      }
    | {
        /** Answer to `register-finish`: the enrollment is stored. */
        readonly type: 'registered';
        /** Wrong guesses allowed before lockout. */
        readonly guessLimit: number;
      }
    | {
        /** Answer to `login-init`. */
        readonly type: 'login-response';
        /** Guesses left after this attempt's guess was spent. */
        readonly guessesRemaining: number;
        /** The vault's OPAQUE public key, checked against fleet trust and bound as server identity. */
        readonly serverPublicKey: Uint8Array;
        /** The OPAQUE KE2 message. */
        readonly ke2: Uint8Array;
      }
    | {
        /** Answer to a verified `login-finish`: the escrow, sealed for this attempt. */
        readonly type: 'login-result';
        /** Guesses left (reset to the guess limit by the successful login). */
        readonly guessesRemaining: number;
        /** nonce ‖ XChaCha20-Poly1305(transport key, escrow ‖ grant) — see docs/PROTOCOL.md §5 (escrow transport). */
        readonly sealed: Uint8Array;
      }
    | {
        /** Answer to `status`. */
        readonly type: 'status-result';
        /** Whether the account is enrolled, locked out or not enrolled. */
        readonly state: EnrollmentState;
        /** Guesses left before lockout (0 unless enrolled). */
        readonly guessesRemaining: number;
        /** Wrong guesses allowed between two successful recoveries. */
        readonly guessLimit: number;
      }
    | {
        /** Answer to `remove`: the enrollment is gone. */
        readonly type: 'removed';
      }
    | {
        /** The request failed; `code` says why. */
        readonly type: 'error';
        /** A `BackupErrorCode` of the vault protocol (`WRONG_CODE`, `LOCKED_OUT`, ...). */
        readonly code: string;
        /** Guesses left, when the error concerns a guess. */
        readonly guessesRemaining?: number;
        /** Suggested delay before a retry, in milliseconds (0: none). */
        readonly retryAfterMs?: number;
      }
  );

/** Any vault message. */
export type VaultMessage = VaultRequest | VaultResponse;

const TYPE_CODES = {
  'register-init': 0x01,
  'register-finish': 0x02,
  'login-init': 0x03,
  'login-finish': 0x04,
  status: 0x05,
  remove: 0x06,
  'register-response': 0x81,
  registered: 0x82,
  'login-response': 0x83,
  'login-result': 0x84,
  'status-result': 0x85,
  removed: 0x86,
  error: 0xee,
} as const satisfies Record<VaultMessage['type'], number>;

const ENROLL_MODES: readonly EnrollMode[] = ['new', 'replace', 'reset'];
const LOGIN_INTENTS: readonly LoginIntent[] = ['recover', 'change', 'abort'];
const LOGIN_INIT_INTENTS: readonly Exclude<LoginIntent, 'abort'>[] = ['recover', 'change'];
const STATES: readonly EnrollmentState[] = ['not-enrolled', 'enrolled', 'locked-out'];
/** 0xFFFFFFFF on the wire means "absent" for optional u32 fields. */
const ABSENT_U32 = 0xffffffff;

function protocolError(message: string, limit?: number): BackupError {
  return new BackupError('PROTOCOL', message, limit === undefined ? {} : { limit });
}

/** @internal Validate a fleet id (TypeError/RangeError naming `name`). */
export function checkFleetId(value: unknown, name = 'fleetId'): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
  if (value.length === 0 || value.length > MAX_FLEET_ID || !FLEET_ID_RE.test(value)) {
    throw new RangeError(`${name} must be 1..${MAX_FLEET_ID} characters of [A-Za-z0-9._:-]`);
  }
  return value;
}

/** @internal Validate an account id (printable ASCII, no spaces, 1..128). */
export function checkAccountId(value: unknown, name = 'accountId'): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
  if (value.length === 0 || value.length > MAX_ACCOUNT_ID || !ACCOUNT_ID_RE.test(value)) {
    throw new RangeError(`${name} must be 1..${MAX_ACCOUNT_ID} printable ASCII characters without spaces`);
  }
  return value;
}

/** @internal Validate a suite id. */
export function checkSuiteId(value: unknown, name = 'suite'): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
  if (value.length === 0 || value.length > MAX_SUITE_ID || !SUITE_ID_RE.test(value)) {
    throw new RangeError(`${name} must be 1..${MAX_SUITE_ID} characters of [A-Za-z0-9._/:+-]`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Byte writer and capped reader (also used by the reference vault for its stored state).

/** @internal Append-only byte writer. */
export class ByteWriter {
  private parts: Uint8Array[] = [];

  u8(v: number): this {
    this.parts.push(Uint8Array.of(v & 0xff));
    return this;
  }

  u32(v: number): this {
    const b = new Uint8Array(4);
    writeU32BE(b, 0, v);
    this.parts.push(b);
    return this;
  }

  u64(v: number): this {
    const b = new Uint8Array(8);
    writeU64BE(b, 0, v);
    this.parts.push(b);
    return this;
  }

  raw(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }

  /** u32 length ‖ bytes. */
  field(b: Uint8Array): this {
    return this.u32(b.length).raw(b);
  }

  /** u8 length ‖ UTF-8 string. */
  shortString(s: string): this {
    const b = utf8(s);
    if (b.length > 255) throw new RangeError('string too long for a u8 length');
    return this.u8(b.length).raw(b);
  }

  finish(): Uint8Array {
    return concatBytes(...this.parts);
  }
}

/**
 * @internal Reader over untrusted bytes. Every read checks the remaining length first; every
 * variable-length read takes a cap. Failures are `BackupError('PROTOCOL')` (or the code given).
 */
export class ByteReader {
  private off = 0;

  constructor(
    private readonly b: Uint8Array,
    private readonly fail: (message: string, limit?: number) => Error = protocolError,
  ) {}

  private need(n: number, what: string): void {
    if (this.b.length - this.off < n) throw this.fail(`truncated message: ${what}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.b[this.off++]!;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = readU32BE(this.b, this.off);
    this.off += 4;
    return v;
  }

  u64(what: string): number {
    this.need(8, what);
    let v: number;
    try {
      v = readU64BE(this.b, this.off);
    } catch {
      throw this.fail(`${what} is out of range`);
    }
    this.off += 8;
    return v;
  }

  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.b.slice(this.off, this.off + n);
    this.off += n;
    return out;
  }

  /** u32 length ‖ bytes, the length capped at `max` (and at least `min`). */
  field(max: number, what: string, min = 0): Uint8Array {
    const len = this.u32(`${what} length`);
    if (len > max) throw this.fail(`${what} is over its limit`, max);
    if (len < min) throw this.fail(`${what} is too short`);
    return this.bytes(len, what);
  }

  /** u8 length ‖ strict UTF-8, capped at `max` bytes. */
  shortString(max: number, what: string): string {
    const len = this.u8(`${what} length`);
    if (len === 0 || len > max) throw this.fail(`${what} length is out of range`, max);
    try {
      return fromUtf8(this.bytes(len, what));
    } catch (e) {
      if (e instanceof TypeError) throw this.fail(`${what} is not UTF-8`);
      throw e;
    }
  }

  u32Max(max: number, what: string): number {
    const v = this.u32(what);
    if (v > max) throw this.fail(`${what} is over its limit`, max);
    return v;
  }

  optionalU32(max: number, what: string): number | undefined {
    const v = this.u32(what);
    if (v === ABSENT_U32) return undefined;
    if (v > max) throw this.fail(`${what} is over its limit`, max);
    return v;
  }

  /** Throws unless every byte was consumed (no trailing data). */
  end(): void {
    if (this.off !== this.b.length) throw this.fail('trailing bytes after message');
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding.

function checkHeader(m: MessageHeader): void {
  checkFleetId(m.fleetId);
  checkSuiteId(m.suite);
  checkAccountId(m.accountId);
  abytes(m.attemptId, 'attemptId', ATTEMPT_ID_BYTES);
}

function checkField(b: unknown, name: string, max: number, min = 0): Uint8Array {
  const v = abytes(b, name);
  if (v.length > max || v.length < min) throw new RangeError(`${name} must be ${min}..${max} bytes`);
  return v;
}

function checkCount(v: unknown, name: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${name} must be an integer in 0..${max}`);
  }
  return v;
}

/** @internal Encode only the header (magic ‖ version ‖ type ‖ names ‖ attempt id). */
export function encodeHeader(type: VaultMessage['type'], h: MessageHeader): Uint8Array {
  checkHeader(h);
  return new ByteWriter()
    .raw(PROTOCOL_MAGIC)
    .u8(PROTOCOL_VERSION)
    .u8(TYPE_CODES[type])
    .shortString(h.fleetId)
    .shortString(h.suite)
    .shortString(h.accountId)
    .raw(h.attemptId)
    .finish();
}

/**
 * Encode a vault message (either direction) to its wire bytes (docs/PROTOCOL.md §Messages).
 * Throws `TypeError`/`RangeError` naming the field when the message is not well-formed: the
 * encoder never emits bytes its own parser would refuse.
 *
 * @example
 * ```ts
 * const body = encodeVaultMessage({
 *   type: 'status', fleetId: 'fleet-1', suite: OPAQUE_TS_SUITE_ID, accountId: 'user-42',
 *   attemptId: crypto.getRandomValues(new Uint8Array(16)),
 * });
 * ```
 */
export function encodeVaultMessage(m: VaultMessage): Uint8Array {
  checkType(m);
  return REQUEST_TYPES.has(m.type) ? encodeVaultRequest(m as VaultRequest) : encodeVaultResponse(m as VaultResponse);
}

// One encoder (and one parser, below) per direction, so a client bundle carries the request
// encoders and response parsers only, a vault the other two (docs/SIZE.md).

/** @internal Encode a request (what a client sends): {@link encodeVaultMessage} for one direction. */
export function encodeVaultRequest(m: VaultRequest): Uint8Array {
  checkType(m, REQUEST_TYPES);
  const w = m.type === 'register-finish' ? encodeRegistration(m) : new ByteWriter().raw(encodeHeader(m.type, m));
  switch (m.type) {
    case 'register-init':
      w.u8(enumIndex(ENROLL_MODES, m.mode, 'mode'))
        .field(checkField(m.request, 'request', MAX_OPAQUE_FIELD_BYTES, 1))
        .field(checkField(m.ephemeralKey, 'ephemeralKey', MAX_PUBLIC_KEY_BYTES, 1));
      break;
    case 'register-finish':
      w.field(checkField(m.mac, 'mac', REGISTRATION_MAC_BYTES, REGISTRATION_MAC_BYTES));
      break;
    case 'login-init':
      w.u8(enumIndex(LOGIN_INIT_INTENTS, m.intent, 'intent')).field(checkField(m.ke1, 'ke1', MAX_OPAQUE_FIELD_BYTES, 1));
      break;
    case 'login-finish': {
      const ke3 = checkField(m.ke3, 'ke3', MAX_OPAQUE_FIELD_BYTES);
      if ((m.intent === 'abort') !== (ke3.length === 0)) {
        throw new RangeError('ke3 must be empty exactly when intent is "abort"');
      }
      w.u8(enumIndex(LOGIN_INTENTS, m.intent, 'intent')).field(ke3);
      break;
    }
    case 'status':
    case 'remove':
      break;
  }
  return w.finish();
}

/** @internal Encode a response (what a vault sends): {@link encodeVaultMessage} for one direction. */
export function encodeVaultResponse(m: VaultResponse): Uint8Array {
  checkType(m, RESPONSE_TYPES);
  const w = m.type === 'register-response' ? encodeRegistration(m) : new ByteWriter().raw(encodeHeader(m.type, m));
  switch (m.type) {
    case 'register-response':
      w.field(checkField(m.mac, 'mac', REGISTRATION_MAC_BYTES, REGISTRATION_MAC_BYTES));
      break;
    case 'removed':
      break;
    case 'registered':
      w.u32(checkCount(m.guessLimit, 'guessLimit', MAX_GUESS_LIMIT));
      break;
    case 'login-response':
      w.u32(checkCount(m.guessesRemaining, 'guessesRemaining', MAX_GUESS_LIMIT))
        .field(checkField(m.serverPublicKey, 'serverPublicKey', MAX_PUBLIC_KEY_BYTES, 1))
        .field(checkField(m.ke2, 'ke2', MAX_OPAQUE_FIELD_BYTES, 1));
      break;
    case 'login-result':
      w.u32(checkCount(m.guessesRemaining, 'guessesRemaining', MAX_GUESS_LIMIT)).field(
        checkField(m.sealed, 'sealed', MAX_SEALED_RESULT, NONCE_BYTES + 4 + TAG_BYTES),
      );
      break;
    case 'status-result':
      w.u8(enumIndex(STATES, m.state, 'state'))
        .u32(checkCount(m.guessesRemaining, 'guessesRemaining', MAX_GUESS_LIMIT))
        .u32(checkCount(m.guessLimit, 'guessLimit', MAX_GUESS_LIMIT));
      break;
    case 'error': {
      if (typeof m.code !== 'string' || !/^[A-Z_]{1,32}$/.test(m.code)) {
        throw new RangeError('code must be 1..32 characters of [A-Z_]');
      }
      w.shortString(m.code)
        .u32(m.guessesRemaining === undefined ? ABSENT_U32 : checkCount(m.guessesRemaining, 'guessesRemaining', MAX_GUESS_LIMIT))
        .u32(m.retryAfterMs === undefined ? ABSENT_U32 : checkCount(m.retryAfterMs, 'retryAfterMs', 86_400_000));
      break;
    }
  }
  return w.finish();
}

/** A register-response or register-finish before its MAC is known. */
export type UnsignedRegistrationMessage =
  | Omit<Extract<VaultResponse, { type: 'register-response' }>, 'mac'>
  | Omit<Extract<VaultRequest, { type: 'register-finish' }>, 'mac'>;

/** `m` must be a message object of a known type (of `types`, when given). */
function checkType(m: unknown, types?: ReadonlySet<string>): void {
  const type = (m as { type?: unknown } | null)?.type;
  if (typeof m !== 'object' || m === null || typeof type !== 'string' || !Object.hasOwn(TYPE_CODES, type)) {
    throw new TypeError('message must be a vault message with a known type');
  }
  if (types !== undefined && !types.has(type)) throw new TypeError(`message must be a vault ${types === REQUEST_TYPES ? 'request' : 'response'}`);
}

/**
 * Every field of a register-response or register-finish except its trailing MAC: what the MAC
 * covers. Both sides need both (each MACs one and verifies the other).
 */
function encodeRegistration(m: UnsignedRegistrationMessage): ByteWriter {
  checkType(m);
  const w = new ByteWriter().raw(encodeHeader(m.type, m));
  if (m.type === 'register-response') {
    return w.field(checkField(m.response, 'response', MAX_OPAQUE_FIELD_BYTES, 1)).field(checkField(m.ticket, 'ticket', MAX_TICKET_BYTES, 1));
  }
  if (m.type !== 'register-finish') throw new TypeError('message must be a register-response or a register-finish');
  w.u8(enumIndex(ENROLL_MODES, m.mode, 'mode'))
    .field(checkField(m.record, 'record', MAX_OPAQUE_FIELD_BYTES, 1))
    .field(checkField(m.escrow, 'escrow', MAX_ESCROW_BYTES, 1));
  const grant = abytes(m.grant, 'grant', 0, GRANT_BYTES);
  if ((m.mode === 'replace') !== (grant.length === GRANT_BYTES)) {
    throw new RangeError('grant must be 32 bytes exactly when mode is "replace"');
  }
  return w.field(grant).field(checkField(m.ticket, 'ticket', MAX_TICKET_BYTES, 1));
}

function enumIndex<T>(values: readonly T[], v: T, name: string): number {
  const i = values.indexOf(v);
  if (i < 0) throw new RangeError(`${name} must be one of ${values.join(', ')}`);
  return i;
}

function enumAt<T>(values: readonly T[], i: number, what: string): T {
  const v = values[i];
  if (v === undefined) throw protocolError(`unknown ${what}`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Parsing.

const CODE_TO_TYPE = new Map<number, VaultMessage['type']>(
  Object.entries(TYPE_CODES).map(([k, v]) => [v, k as VaultMessage['type']]),
);
const REQUEST_TYPES: ReadonlySet<string> = new Set<VaultRequest['type']>([
  'register-init',
  'register-finish',
  'login-init',
  'login-finish',
  'status',
  'remove',
]);
const RESPONSE_TYPES: ReadonlySet<string> = new Set<VaultResponse['type']>([
  'register-response',
  'registered',
  'login-response',
  'login-result',
  'status-result',
  'removed',
  'error',
]);

/**
 * Parse a vault message from untrusted bytes. Fails with `BackupError` code `PROTOCOL` on wrong
 * magic, version or type, truncation, a field over its cap, an invalid name or trailing bytes.
 * `direction` says which messages are acceptable: a client only accepts responses, a vault only
 * requests.
 *
 * @example
 * ```ts
 * const msg = parseVaultMessage(new Uint8Array(await res.arrayBuffer()), 'response');
 * if (msg.type === 'login-response') console.log(msg.guessesRemaining);
 * ```
 */
export function parseVaultMessage(bytes: Uint8Array, direction: 'request'): VaultRequest;
export function parseVaultMessage(bytes: Uint8Array, direction: 'response'): VaultResponse;
export function parseVaultMessage(bytes: Uint8Array, direction: 'request' | 'response'): VaultMessage;
export function parseVaultMessage(bytes: Uint8Array, direction: 'request' | 'response'): VaultMessage {
  if (direction !== 'request' && direction !== 'response') {
    throw new TypeError('direction must be "request" or "response"');
  }
  return direction === 'request' ? parseVaultRequest(bytes) : parseVaultResponse(bytes);
}

/** The header of a message of `direction`, and a reader positioned after it. */
function parseHeader(bytes: Uint8Array, direction: 'request' | 'response') {
  abytes(bytes, 'bytes');
  if (bytes.length > MAX_MESSAGE_BYTES) throw protocolError('message is over its limit', MAX_MESSAGE_BYTES);
  const r = new ByteReader(bytes);
  const magic = r.bytes(4, 'magic');
  if (magic.some((v, i) => v !== PROTOCOL_MAGIC[i])) throw protocolError('not a vault message');
  const version = r.u8('version');
  if (version !== PROTOCOL_VERSION) {
    throw protocolError(`unsupported protocol version ${version} (this side speaks ${PROTOCOL_VERSION})`);
  }
  const type = CODE_TO_TYPE.get(r.u8('type'));
  if (type === undefined) throw protocolError('unknown message type');
  if (REQUEST_TYPES.has(type) !== (direction === 'request')) {
    throw protocolError(`unexpected ${direction === 'request' ? 'response' : 'request'} message`);
  }
  const fleetId = r.shortString(MAX_FLEET_ID, 'fleetId');
  const suite = r.shortString(MAX_SUITE_ID, 'suite');
  const accountId = r.shortString(MAX_ACCOUNT_ID, 'accountId');
  if (!FLEET_ID_RE.test(fleetId)) throw protocolError('invalid fleetId');
  if (!SUITE_ID_RE.test(suite)) throw protocolError('invalid suite');
  if (!ACCOUNT_ID_RE.test(accountId)) throw protocolError('invalid accountId');
  const attemptId = r.bytes(ATTEMPT_ID_BYTES, 'attemptId');
  return { r, type, h: { fleetId, suite, accountId, attemptId } };
}

/** @internal Parse a request (what a vault reads): {@link parseVaultMessage} for one direction. */
export function parseVaultRequest(bytes: Uint8Array): VaultRequest {
  const { r, type, h } = parseHeader(bytes, 'request');
  let m: VaultRequest;
  switch (type as VaultRequest['type']) {
    case 'register-init':
      m = {
        ...h,
        type: 'register-init',
        mode: enumAt(ENROLL_MODES, r.u8('mode'), 'mode'),
        request: r.field(MAX_OPAQUE_FIELD_BYTES, 'request', 1),
        ephemeralKey: r.field(MAX_PUBLIC_KEY_BYTES, 'ephemeralKey', 1),
      };
      break;
    case 'register-finish': {
      const mode = enumAt(ENROLL_MODES, r.u8('mode'), 'mode');
      const record = r.field(MAX_OPAQUE_FIELD_BYTES, 'record', 1);
      const escrow = r.field(MAX_ESCROW_BYTES, 'escrow', 1);
      const grant = r.field(GRANT_BYTES, 'grant');
      if ((mode === 'replace') !== (grant.length === GRANT_BYTES)) throw protocolError('grant does not match mode');
      const ticket = r.field(MAX_TICKET_BYTES, 'ticket', 1);
      const mac = r.field(REGISTRATION_MAC_BYTES, 'mac', REGISTRATION_MAC_BYTES);
      m = { ...h, type: 'register-finish', mode, record, escrow, grant, ticket, mac };
      break;
    }
    case 'login-init':
      m = { ...h, type: 'login-init', intent: enumAt(LOGIN_INIT_INTENTS, r.u8('intent'), 'intent'), ke1: r.field(MAX_OPAQUE_FIELD_BYTES, 'ke1', 1) };
      break;
    case 'login-finish': {
      const intent = enumAt(LOGIN_INTENTS, r.u8('intent'), 'intent');
      const ke3 = r.field(MAX_OPAQUE_FIELD_BYTES, 'ke3');
      if ((intent === 'abort') !== (ke3.length === 0)) throw protocolError('ke3 does not match intent');
      m = { ...h, type: 'login-finish', intent, ke3 };
      break;
    }
    case 'status':
      m = { ...h, type: 'status' };
      break;
    case 'remove':
      m = { ...h, type: 'remove' };
      break;
  }
  r.end();
  return m;
}

/** @internal Parse a response (what a client reads): {@link parseVaultMessage} for one direction. */
export function parseVaultResponse(bytes: Uint8Array): VaultResponse {
  const { r, type, h } = parseHeader(bytes, 'response');
  let m: VaultResponse;
  switch (type as VaultResponse['type']) {
    case 'removed':
      m = { ...h, type: 'removed' };
      break;
    case 'register-response':
      m = {
        ...h,
        type: 'register-response',
        response: r.field(MAX_OPAQUE_FIELD_BYTES, 'response', 1),
        ticket: r.field(MAX_TICKET_BYTES, 'ticket', 1),
        mac: r.field(REGISTRATION_MAC_BYTES, 'mac', REGISTRATION_MAC_BYTES),
      };
      break;
    case 'registered':
      m = { ...h, type: 'registered', guessLimit: r.u32Max(MAX_GUESS_LIMIT, 'guessLimit') };
      break;
    case 'login-response':
      m = {
        ...h,
        type: 'login-response',
        guessesRemaining: r.u32Max(MAX_GUESS_LIMIT, 'guessesRemaining'),
        serverPublicKey: r.field(MAX_PUBLIC_KEY_BYTES, 'serverPublicKey', 1),
        ke2: r.field(MAX_OPAQUE_FIELD_BYTES, 'ke2', 1),
      };
      break;
    case 'login-result':
      m = {
        ...h,
        type: 'login-result',
        guessesRemaining: r.u32Max(MAX_GUESS_LIMIT, 'guessesRemaining'),
        sealed: r.field(MAX_SEALED_RESULT, 'sealed', NONCE_BYTES + 4 + TAG_BYTES),
      };
      break;
    case 'status-result':
      m = {
        ...h,
        type: 'status-result',
        state: enumAt(STATES, r.u8('state'), 'state'),
        guessesRemaining: r.u32Max(MAX_GUESS_LIMIT, 'guessesRemaining'),
        guessLimit: r.u32Max(MAX_GUESS_LIMIT, 'guessLimit'),
      };
      break;
    case 'error': {
      const code = r.shortString(MAX_ERROR_CODE, 'code');
      if (!/^[A-Z_]+$/.test(code)) throw protocolError('invalid error code');
      const guessesRemaining = r.optionalU32(MAX_GUESS_LIMIT, 'guessesRemaining');
      const retryAfterMs = r.optionalU32(86_400_000, 'retryAfterMs');
      m = {
        ...h,
        type: 'error',
        code,
        ...(guessesRemaining === undefined ? {} : { guessesRemaining }),
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      };
      break;
    }
  }
  r.end();
  return m;
}

// ---------------------------------------------------------------------------------------------
// OPAQUE binding and escrow transport.

/** What a vault run binds into OPAQUE (RFC 9807 §4.1.2 identities, §6.4.2 context). */
export interface OpaqueBinding {
  /** The AKE context (RFC 9807 §6.4.2 preamble): label, version, fleetId, suite, accountId, login intent. */
  readonly context: Uint8Array;
  /** Client identity (RFC 9807 §4.1.2 CleartextCredentials). */
  readonly clientIdentity: Uint8Array;
  /** Server identity (RFC 9807 §4.1.2 CleartextCredentials). */
  readonly serverIdentity: Uint8Array;
  /**
   * The credential identifier the server's per-user OPRF key is derived from (RFC 9807 §5.2.2).
   * Used by the vault only; it includes the record's random OPRF salt (docs/PROTOCOL.md §6).
   */
  readonly credentialIdentifier: Uint8Array;
}

/**
 * The OPAQUE context, identities and credential identifier for one (fleet, suite, account, server
 * key). Each is the UTF-8 JSON array `[labels.opaqueContext, role, version, fleetId, suite, ...]`
 * (names validated, so the encoding is injective). The server identity names the server public
 * key: the envelope MAC (RFC 9807 §4.1.3) then binds the key the client checked at enrollment
 * and the key the vault announces at login, so a login only succeeds against a checked key
 * (docs/PROTOCOL.md §Binding).
 *
 * @example
 * ```ts
 * const b = opaqueBinding('fleet-1', OPAQUE_TS_SUITE_ID, 'user-42', fleetPublicKey);
 * ```
 */
export function opaqueBinding(
  fleetId: string,
  suite: string,
  accountId: string,
  serverPublicKey: Uint8Array,
  credentialSalt: Uint8Array = new Uint8Array(0),
  intent: Exclude<LoginIntent, 'abort'> = 'recover',
): OpaqueBinding {
  checkFleetId(fleetId);
  checkSuiteId(suite);
  checkAccountId(accountId);
  checkField(serverPublicKey, 'serverPublicKey', MAX_PUBLIC_KEY_BYTES, 1);
  enumIndex(LOGIN_INIT_INTENTS, intent, 'intent');
  const enc = (...parts: (string | number)[]): Uint8Array =>
    utf8(JSON.stringify([labels.opaqueContext, ...parts]));
  return {
    // The login's intent is part of the AKE context (RFC 9807 §6.4.2 preamble), so KE2's server
    // MAC and KE3's client MAC both cover it: an on-path change of the intent fails the login.
    context: enc('context', PROTOCOL_VERSION, fleetId, suite, accountId, intent),
    clientIdentity: enc('client', PROTOCOL_VERSION, fleetId, suite, accountId),
    serverIdentity: enc('server', PROTOCOL_VERSION, fleetId, suite, toHex(serverPublicKey)),
    // The per-record OPRF key (RFC 9807 §5.2.2) is derived from this. The vault adds a random
    // salt chosen afresh at every registration, so a registration response (an OPRF evaluation)
    // is never an oracle for the key of an existing or future record.
    credentialIdentifier: enc('credential', PROTOCOL_VERSION, fleetId, suite, accountId, toHex(abytes(credentialSalt, 'credentialSalt'))),
  };
}

/**
 * @internal The escrow transport key: HKDF-SHA-256 (RFC 5869) of the OPAQUE session key, with the
 * login-result header (version, type, fleetId, suite, accountId, attempt id) in `info`, so the key
 * is tied to this one attempt.
 */
function transportKey(sessionKey: Uint8Array, header: Uint8Array): Uint8Array {
  return hkdf(sha256, sessionKey, new Uint8Array(0), concatBytes(utf8(labels.escrowTransport), Uint8Array.of(0), header), 32);
}

/**
 * @internal Seal the released escrow (and an optional change grant) for the client under a key
 * from the OPAQUE session key: nonce(24) ‖ XChaCha20-Poly1305(u32 len ‖ escrow ‖ grant), the
 * login-result header as associated data.
 */
export function sealEscrowTransport(
  sessionKey: Uint8Array,
  header: MessageHeader,
  escrow: Uint8Array,
  grant: Uint8Array,
  random: RandomSource,
): Uint8Array {
  const hdr = encodeHeader('login-result', header);
  const key = transportKey(sessionKey, hdr);
  const nonce = random(NONCE_BYTES);
  abytes(nonce, 'random(24)', NONCE_BYTES);
  const plain = new ByteWriter().field(escrow).raw(grant).finish();
  try {
    return concatBytes(nonce, xchacha20poly1305(key, nonce, hdr).encrypt(plain));
  } finally {
    wipe(key, plain);
  }
}

/**
 * @internal Open the escrow transport. A failure is `PROTOCOL`: after a verified OPAQUE login the
 * session keys agree, so a bad tag means the vault (or the network) sent something else.
 */
export function openEscrowTransport(
  sessionKey: Uint8Array,
  header: MessageHeader,
  sealed: Uint8Array,
): { escrow: Uint8Array; grant: Uint8Array } {
  const hdr = encodeHeader('login-result', header);
  const key = transportKey(sessionKey, hdr);
  let plain: Uint8Array;
  try {
    if (sealed.length < NONCE_BYTES + TAG_BYTES) throw protocolError('sealed escrow is truncated');
    plain = xchacha20poly1305(key, sealed.subarray(0, NONCE_BYTES), hdr).decrypt(sealed.subarray(NONCE_BYTES));
  } catch (e) {
    throw e instanceof BackupError ? e : new BackupError('PROTOCOL', 'the released escrow failed authentication');
  } finally {
    wipe(key);
  }
  try {
    const r = new ByteReader(plain);
    const escrow = r.field(MAX_ESCROW_BYTES, 'escrow', 1);
    const rest = plain.length - 4 - escrow.length;
    if (rest !== 0 && rest !== GRANT_BYTES) throw protocolError('released escrow has a malformed grant');
    const grant = r.bytes(rest, 'grant');
    r.end();
    return { escrow, grant };
  } finally {
    wipe(plain);
  }
}

// ---------------------------------------------------------------------------------------------
// Registration authentication (docs/PROTOCOL.md §3.1). OPAQUE does not authenticate the server at
// registration (RFC 9807 §10.5): anyone on the path could answer with an OPRF evaluation under its
// own key and the fleet's genuine public key, and then test codes offline against the record the
// client uploads. So the client sends an ephemeral public key E in register-init; the vault
// answers with a MAC under a key from DH(fleet OPAQUE private key, E), which only the holder of the
// trusted fleet key can compute; and the client MACs register-finish under a second key from the
// same exchange, so the upload is bound to it.

/** @internal The two keys of one authenticated registration; the caller wipes both. */
export interface RegistrationKeys {
  /** Authenticates register-response (vault to client). */
  readonly responseKey: Uint8Array;
  /** Authenticates register-finish (client to vault); the vault keeps it sealed in the ticket. */
  readonly finishKey: Uint8Array;
}

/**
 * @internal The registration keys (docs/PROTOCOL.md §3.1), HKDF-SHA-256 (RFC 5869) with an empty
 * salt from `dh = DiffieHellman(e, S) = DiffieHellman(s, E)`:
 * `responseKey = HKDF(dh, info = labels.vaultRegistrationAuth ‖ 0x00 ‖ "response" ‖ 0x00 ‖ SHA-256(init))`,
 * `finishKey = HKDF(dh, info = labels.vaultRegistrationAuth ‖ 0x00 ‖ "finish" ‖ 0x00 ‖ SHA-256(init) ‖ SHA-256(response))`,
 * where `init` is the encoded register-init and `response` the OPAQUE RegistrationResponse (the
 * fresh evaluation makes `finishKey` differ for every register-response, even to a replayed init).
 */
export function registrationKeys(
  dh: Uint8Array,
  init: Extract<VaultRequest, { type: 'register-init' }>,
  response: Uint8Array,
): RegistrationKeys {
  abytes(dh, 'dh');
  const initHash = sha256(encodeVaultRequest(init));
  const info = (role: string, ...rest: Uint8Array[]): Uint8Array =>
    concatBytes(utf8(labels.vaultRegistrationAuth), Uint8Array.of(0), utf8(role), Uint8Array.of(0), initHash, ...rest);
  return {
    responseKey: hkdf(sha256, dh, new Uint8Array(0), info('response'), 32),
    finishKey: hkdf(sha256, dh, new Uint8Array(0), info('finish', sha256(abytes(response, 'response'))), 32),
  };
}

/**
 * @internal The MAC of a register-response or register-finish: HMAC-SHA-256 (RFC 2104) under the
 * matching registration key, over every byte of the encoded message before its `mac` field (the
 * header included, so type, fleet, suite, account and attempt are covered).
 */
export function registrationMac(key: Uint8Array, m: UnsignedRegistrationMessage): Uint8Array {
  abytes(key, 'key', 32);
  return hmac(sha256, key, encodeRegistration(m).finish());
}

/** @internal Constant-time check of a registration message's MAC. */
export function verifyRegistrationMac(
  key: Uint8Array,
  m: Extract<VaultResponse, { type: 'register-response' }> | Extract<VaultRequest, { type: 'register-finish' }>,
): boolean {
  return equalBytes(registrationMac(key, m), m.mac);
}
