// Review of 50154e8 (the vault codec split by direction; the client encodes requests and parses
// responses only). As an on-path attacker or a confused vault: the client's own request reflected
// back, a well-formed response of another type (same header, so it passes the "same request"
// check), a response with a byte appended, each answered to every call the client makes first
// (status). Each must be PROTOCOL, never accepted.
import { describe, expect, it } from 'vitest';
import { isBackupError } from '../../lib/errors.js';
import { encodeVaultResponse, parseVaultRequest, type VaultResponse } from '../../lib/recovery/protocol.js';
import { createVaultClient } from '../../lib/recovery/vault-client.js';
import { FLEET, suite, trust } from '../client/harness.js';

type Header = Pick<VaultResponse, 'fleetId' | 'suite' | 'accountId' | 'attemptId'>;
const b = (n: number, v = 7) => new Uint8Array(n).fill(v);

const others: Record<string, (h: Header) => VaultResponse> = {
  'register-response': (h) => ({ ...h, type: 'register-response', response: b(32), ticket: b(16), mac: b(32) }),
  registered: (h) => ({ ...h, type: 'registered', guessLimit: 10 }),
  'login-response': (h) => ({ ...h, type: 'login-response', guessesRemaining: 9, serverPublicKey: b(32), ke2: b(64) }),
  'login-result': (h) => ({ ...h, type: 'login-result', guessesRemaining: 10, sealed: b(60) }),
  removed: (h) => ({ ...h, type: 'removed' }),
};

function client(answer: (request: Uint8Array) => Uint8Array) {
  return createVaultClient({
    fleetId: FLEET,
    accountId: 'codec',
    baseUrl: 'http://vault.test',
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      const req = new Request(input, init);
      const body = new Uint8Array(await req.arrayBuffer());
      return new Response(answer(body) as Uint8Array<ArrayBuffer>, { status: 200, headers: { 'content-type': 'application/octet-stream' } });
    },
    getToken: async () => 'tok-codec',
    trust,
    suite,
    sleep: async () => undefined,
  });
}

function header(request: Uint8Array): Header {
  const m = parseVaultRequest(request);
  return { fleetId: m.fleetId, suite: m.suite, accountId: m.accountId, attemptId: m.attemptId };
}

describe('the client refuses a vault answer of the wrong kind (50154e8)', () => {
  it('its own request reflected back is PROTOCOL', async () => {
    const e = await client((req) => req).status().catch((x: unknown) => x);
    expect(isBackupError(e, 'PROTOCOL'), String(e)).toBe(true);
  });

  for (const [type, make] of Object.entries(others)) {
    it(`a well-formed '${type}' with this request's header, answered to status(), is PROTOCOL`, async () => {
      const e = await client((req) => encodeVaultResponse(make(header(req)))).status().catch((x: unknown) => x);
      expect(isBackupError(e, 'PROTOCOL'), String(e)).toBe(true);
    });
  }

  it('a status-result with one byte appended is PROTOCOL; without it, it is accepted', async () => {
    const ok = (req: Uint8Array) => encodeVaultResponse({ ...header(req), type: 'status-result', state: 'enrolled', guessesRemaining: 3, guessLimit: 10 });
    expect((await client(ok).status()).guessesRemaining).toBe(3);
    const e = await client((req) => Uint8Array.from([...ok(req), 0])).status().catch((x: unknown) => x);
    expect(isBackupError(e, 'PROTOCOL'), String(e)).toBe(true);
  });
});
