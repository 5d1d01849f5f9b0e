// The three reference server handlers (vault, blob store, witness log) each reading request bodies:
// an enrollment and a recovery, a multipart upload and a put, a witnessed bundle; and a body over
// each handler's cap, refused. Written against lib/ only so that it runs unchanged in Node
// (test/server/request-body.test.ts, with Firefox's body-less Request simulated) and bundled into
// a page in each browser (test/server/request-body-browser.test.ts, with the engine's own Request).
import { isBackupError } from '../../lib/errors.js';
import { createKeyring, encodeKeyring } from '../../lib/recovery/keyring.js';
import { pinnedFleets } from '../../lib/recovery/fleet-trust.js';
import { INSECURE_IDENTITY_KSF, OpaqueTsSuite } from '../../lib/recovery/opaque/opaque-ts.js';
import { MAX_MESSAGE_BYTES } from '../../lib/recovery/protocol.js';
import { createVaultClient } from '../../lib/recovery/vault-client.js';
import { createBlobPresigner, createBlobStoreHandler } from '../../lib/server/blob-store.js';
import { createMemoryVaultStore } from '../../lib/server/stores/memory.js';
import { createVaultHandler, generateVaultSetup } from '../../lib/server/vault.js';
import { createWitnessHandler, createWitnessLog } from '../../lib/server/witness.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { encodeBundle } from '../../lib/trust/bundle.js';
import { equalBytes, toHex, utf8 } from '../../lib/util/bytes.js';

/** What the scenario saw; every field has one right value (see EXPECTED). */
export interface HandlerScenarioResult {
  readonly requestHasBody: boolean;
  readonly vault: { readonly enrolled: unknown; readonly recovered: boolean; readonly overCapStatus: number };
  readonly blobs: { readonly multipart: boolean; readonly put: boolean; readonly overCap: string };
  readonly witness: { readonly status: number; readonly leafIndex: unknown; readonly overCapStatus: number };
}

export const EXPECTED: Omit<HandlerScenarioResult, 'requestHasBody'> = {
  vault: { enrolled: { guessLimit: 10 }, recovered: true, overCapStatus: 400 },
  blobs: { multipart: true, put: true, overCap: 'QUOTA_EXCEEDED' },
  witness: { status: 200, leafIndex: 0, overCapStatus: 400 },
};

const pattern = (n: number, seed: number): Uint8Array<ArrayBuffer> => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 255);

/**
 * Runs every handler on requests passed through `wrap` (the identity in a browser; in Node, a
 * simulation of an engine whose Request has no `body`).
 */
export async function runHandlerScenario(wrap: (r: Request) => Request = (r) => r): Promise<HandlerScenarioResult> {
  const requestHasBody = (new Request('http://x.test/', { method: 'POST', body: 'x' }) as { body?: unknown }).body !== undefined;

  // Vault: OPAQUE enroll + recover (every message a POST body), then a body over its cap.
  const suite = new OpaqueTsSuite(INSECURE_IDENTITY_KSF);
  const { setup, publicKey } = await generateVaultSetup(suite);
  const vaultHandler = createVaultHandler({ fleetId: 'fleet-b', setup, suite, store: createMemoryVaultStore(), verifyToken: async (t) => (t === 'tok' ? 'alice' : undefined) });
  const vault = createVaultClient({
    fleetId: 'fleet-b',
    accountId: 'alice',
    baseUrl: 'http://vault.test',
    fetch: (r) => vaultHandler(wrap(r)),
    getToken: async () => 'tok',
    trust: pinnedFleets([{ fleetId: 'fleet-b', suite: suite.id, publicKey }]),
    suite,
  });
  const keyring = createKeyring();
  const enrolled = await vault.enroll({ password: utf8('correct horse'), keyring });
  const back = await vault.recover({ password: utf8('correct horse') });
  const overVault = await vaultHandler(wrap(new Request('http://vault.test/v1/vault', { method: 'POST', headers: { authorization: 'Bearer tok' }, body: new Uint8Array(MAX_MESSAGE_BYTES + 1) })));

  // Blob store: a multipart upload and a conditional put, read back; an object over its cap.
  const signingKey = pattern(32, 1);
  const blobHandler = createBlobStoreHandler({ signingKey, limits: { minPartSize: 1, maxObjectSize: 4096 } });
  const presigner = createBlobPresigner({ baseUrl: 'http://blobs.test', signingKey });
  const store = createHttpBlobStore({ fetch: (r) => blobHandler(wrap(r)), presign: async (op) => presigner.http(op), limits: { minPartSize: 1 } });
  const parts = [pattern(1000, 2), pattern(500, 3)];
  const up = await store.createUpload('a/archive');
  const done = [];
  for (let i = 0; i < parts.length; i++) done.push({ partNumber: i + 1, ...(await store.putPart(up, i + 1, parts[i]!)) });
  await store.completeUpload(up, done);
  const whole = await store.get('a/archive');
  await store.put('a/latest', pattern(10, 4), { ifNoneMatch: '*' });
  const latest = await store.get('a/latest');
  const overCap = await store.put('a/big', new Uint8Array(4097)).then(
    () => 'accepted',
    (e: unknown) => (isBackupError(e) ? e.code : String(e)),
  );

  // Witness log: a bundle witnessed through POST /witness; a body over its cap.
  const log = createWitnessLog({ origin: 'witness.test/log', namespace: 'ns.test', signer: { name: 'witness.test/w', secretKey: pattern(32, 5) } });
  const witness = createWitnessHandler(log);
  const bundle = encodeBundle({ namespace: 'ns.test', epoch: 1, notBefore: 1, notAfter: 2 ** 32, fleets: [], retired: [] });
  const witnessed = await witness(wrap(new Request('http://witness.test/witness', { method: 'POST', body: bundle as Uint8Array<ArrayBuffer> })));
  const witnessedBody = (await witnessed.json()) as { leafIndex?: unknown };
  const overWitness = await witness(wrap(new Request('http://witness.test/witness', { method: 'POST', body: new Uint8Array(65537) })));

  return {
    requestHasBody,
    vault: { enrolled, recovered: toHex(encodeKeyring(back)) === toHex(encodeKeyring(keyring)), overCapStatus: overVault.status },
    blobs: { multipart: equalBytes(whole, new Uint8Array([...parts[0]!, ...parts[1]!])), put: equalBytes(latest, pattern(10, 4)), overCap },
    witness: { status: witnessed.status, leafIndex: witnessedBody.leafIndex, overCapStatus: overWitness.status },
  };
}
