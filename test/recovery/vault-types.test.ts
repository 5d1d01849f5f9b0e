// Type-level tests of the public vault API, as a caller of the browser entry sees it.
import { describe, expectTypeOf, it } from 'vitest';
import {
  createVaultClient,
  type Keyring,
  type OpaqueSuite,
  type VaultClient,
  type VaultClientOptions,
  type VaultRequest,
  type VaultResponse,
  type VaultStatus,
} from '../../lib/index.js';
import { rfc9807Suite } from '../../lib/protocol.js';
import { opaqueTsSuite } from '../../lib/opaque-ts.js';
import { parseVaultMessage } from '../../lib/protocol.js';
import { createVaultHandler, serveHandler, type FetchHandler, type VaultHandlerOptions } from '../../lib/server/index.js';

describe('vault API types', () => {
  it('the client', () => {
    expectTypeOf(createVaultClient).parameter(0).toEqualTypeOf<VaultClientOptions>();
    expectTypeOf(createVaultClient).returns.toEqualTypeOf<VaultClient>();
    expectTypeOf<VaultClient['recover']>().returns.toEqualTypeOf<Promise<Keyring>>();
    expectTypeOf<VaultClient['status']>().returns.toEqualTypeOf<Promise<VaultStatus>>();
    expectTypeOf<VaultStatus['state']>().toEqualTypeOf<'not-enrolled' | 'enrolled' | 'locked-out'>();
    expectTypeOf<Parameters<VaultClient['enroll']>[0]['password']>().toEqualTypeOf<Uint8Array>();
    // The handler is a valid `fetch` for the client: in-process tests need no network.
    expectTypeOf<FetchHandler>().toExtend<VaultClientOptions['fetch']>();
    expectTypeOf<typeof fetch>().toExtend<VaultClientOptions['fetch']>();
    expectTypeOf(opaqueTsSuite).returns.toEqualTypeOf<OpaqueSuite>();
    // The KSF is not a parameter of the public opaque-ts suite factory; RFC 9807 suites are named by id.
    expectTypeOf(opaqueTsSuite).parameters.toEqualTypeOf<[]>();
    expectTypeOf(rfc9807Suite).parameters.toEqualTypeOf<[id?: string]>();
    expectTypeOf(rfc9807Suite).returns.toEqualTypeOf<OpaqueSuite>();
    expectTypeOf<VaultClientOptions['suites']>().toEqualTypeOf<readonly OpaqueSuite[] | undefined>();
  });

  it('messages and the server', () => {
    expectTypeOf(() => parseVaultMessage(new Uint8Array(), 'request')).returns.toEqualTypeOf<VaultRequest>();
    expectTypeOf(() => parseVaultMessage(new Uint8Array(), 'response')).returns.toEqualTypeOf<VaultResponse>();
    expectTypeOf<Extract<VaultResponse, { type: 'login-response' }>['guessesRemaining']>().toEqualTypeOf<number>();
    expectTypeOf(createVaultHandler).parameter(0).toEqualTypeOf<VaultHandlerOptions>();
    expectTypeOf<VaultHandlerOptions['verifyToken']>().toEqualTypeOf<(token: string) => Promise<string | undefined>>();
    expectTypeOf(serveHandler).returns.resolves.toHaveProperty('url').toEqualTypeOf<string>();
  });
});
