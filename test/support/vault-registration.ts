/**
 * Test helper: the client side of an authenticated registration (docs/PROTOCOL.md §3.1) for tests
 * that drive the vault with raw protocol messages: an ephemeral key for register-init, the check of
 * the register-response MAC, and the MAC of register-finish.
 *
 * @example
 * ```ts
 * const auth = await registrationAuth(suite);
 * const init = { ...h, type: 'register-init', mode: 'new', request, ephemeralKey: auth.ephemeralKey } as const;
 * const r1 = await send(init); // a register-response
 * auth.accept(init, r1, publicKey);
 * const fin = auth.sign({ ...h, type: 'register-finish', mode: 'new', record, escrow, grant, ticket: r1.ticket });
 * ```
 */
import type { OpaqueSuite } from '../../lib/recovery/opaque/suite.js';
import {
  registrationKeys,
  registrationMac,
  verifyRegistrationMac,
  type RegistrationKeys,
  type UnsignedRegistrationMessage,
  type VaultRequest,
  type VaultResponse,
} from '../../lib/recovery/protocol.js';

type RegisterInit = Extract<VaultRequest, { type: 'register-init' }>;
type RegisterFinish = Extract<VaultRequest, { type: 'register-finish' }>;
type RegisterResponse = Extract<VaultResponse, { type: 'register-response' }>;

export interface RegistrationAuth {
  /** The ephemeral public key to put in register-init. */
  readonly ephemeralKey: Uint8Array;
  /** Check the response MAC against `serverPublicKey`; throws unless it verifies. */
  accept(init: RegisterInit, response: RegisterResponse, serverPublicKey: Uint8Array): void;
  /** The register-finish with its MAC under this exchange's finish key. */
  sign(finish: Omit<RegisterFinish, 'mac'>): RegisterFinish;
}

export async function registrationAuth(suite: OpaqueSuite): Promise<RegistrationAuth> {
  const ka = await suite.keyAgreement();
  const eph = ka.generateKeyPair();
  let keys: RegistrationKeys | undefined;
  return {
    ephemeralKey: eph.publicKey,
    accept(init, response, serverPublicKey) {
      keys = registrationKeys(ka.dh(eph.secretKey, serverPublicKey), init, response.response);
      if (!verifyRegistrationMac(keys.responseKey, response)) throw new Error('register-response MAC does not verify');
    },
    sign(finish) {
      if (keys === undefined) throw new Error('accept() a response first');
      const unsigned: UnsignedRegistrationMessage = finish;
      return { ...finish, mac: registrationMac(keys.finishKey, unsigned) };
    },
  };
}
