/**
 * @internal scrypt for the RFC 9807 suites that name it (`scrypt-N…-r…-p…`), from `@noble/hashes`.
 * Its own module so that the package entry, whose default suites run Argon2id, does not carry it
 * (docs/SIZE.md): the server imports it, a browser app through `e2ee-backup/rfc9807-extras`.
 *
 * @module
 */
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { provideScrypt } from './rfc9807-ksf.js';

/** @internal Make scrypt available to `scryptKsf` (idempotent). */
export function provideRfc9807Scrypt(): void {
  provideScrypt(scryptAsync);
}

provideRfc9807Scrypt();
