import { describe, expect, it } from 'vitest';
import { createWitnessHandler, createWitnessLog } from '../../lib/server/witness.js';
import { serveHandler } from '../../lib/server/index.js';
import { encodeBundle, operatorSign, verifySignedBundle, type WitnessSignature } from '../../lib/trust/bundle.js';
import { parseCheckpoint } from '../../lib/trust/checkpoint.js';
import { verifyConsistency, verifyInclusion, leafHash } from '../../lib/trust/merkle.js';
import { logEntry } from '../../lib/trust/bundle.js';
import { fromBase64, toBase64, utf8 } from '../../lib/util/bytes.js';
import { witnessLogClient } from '../../lib/trust/log-client.js';
import { isBackupError } from '../../lib/errors.js';
import { bundle, config, fleet, NOW_MS, ORIGIN, OP1, W1, W1_NAME } from './fixtures.js';

const post = (path: string, body: BodyInit) => new Request(`http://w.test${path}`, { method: 'POST', body });
const get = (path: string) => new Request(`http://w.test${path}`);

describe('reference witness handler', () => {
  const log = createWitnessLog({ origin: ORIGIN, namespace: 'chat.example', signer: { name: W1_NAME, secretKey: W1 }, now: () => NOW_MS });
  const handler = createWitnessHandler(log);

  async function publishOverHttp(epoch: number): Promise<void> {
    const bytes = encodeBundle(bundle(epoch, [fleet(`eu-${epoch}`)]));
    const res = await handler(post('/witness', bytes as Uint8Array<ArrayBuffer>));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { leafIndex: number; witnessSignature: { publicKey: string; timestamp: number; signature: string } };
    const ws: WitnessSignature = {
      publicKey: fromBase64(body.witnessSignature.publicKey),
      timestamp: body.witnessSignature.timestamp,
      signature: fromBase64(body.witnessSignature.signature),
    };
    const os = operatorSign(bytes, [ws], OP1);
    const cs = await handler(post('/countersign', JSON.stringify({ epoch, publicKey: toBase64(os.publicKey), signature: toBase64(os.signature) })));
    expect(cs.status).toBe(200);
  }

  it('witnesses, counter-signs, serves bundles, checkpoints and proofs that verify', async () => {
    expect((await handler(get('/bundle'))).status).toBe(404);
    for (let e = 1; e <= 5; e++) await publishOverHttp(e);
    const sb = new Uint8Array(await (await handler(get('/bundle'))).arrayBuffer());
    expect(verifySignedBundle(sb, config(), NOW_MS).bundle.epoch).toBe(5);
    const old = new Uint8Array(await (await handler(get('/bundle?epoch=2'))).arrayBuffer());
    expect(verifySignedBundle(old, config(), NOW_MS).bundle.epoch).toBe(2);
    const cp5 = parseCheckpoint(new Uint8Array(await (await handler(get('/checkpoint'))).arrayBuffer()));
    const cp3 = parseCheckpoint(new Uint8Array(await (await handler(get('/checkpoint?size=3'))).arrayBuffer()));
    expect([cp3.size, cp5.size]).toEqual([3, 5]);
    const cons = (await (await handler(get('/proof/consistency?from=3&to=5'))).json()) as { proof: string[] };
    expect(verifyConsistency(3, 5, cons.proof.map(fromBase64), cp3.root, cp5.root)).toBe(true);
    const inc = (await (await handler(get('/proof/inclusion?index=1&size=5'))).json()) as { proof: string[] };
    const leaf = leafHash(logEntry(log.entry(2)!.bundle));
    expect(verifyInclusion(leaf, 1, 5, inc.proof.map(fromBase64), cp5.root)).toBe(true);
  });

  it('refuses what a witness must never sign, with typed answers', async () => {
    const dup = await handler(post('/witness', encodeBundle(bundle(3, [fleet('evil')])) as Uint8Array<ArrayBuffer>));
    expect(dup.status).toBe(409);
    expect(((await dup.json()) as { error: string }).error).toBe('TRUST_ROLLBACK');
    const wrongNs = await handler(post('/witness', encodeBundle(bundle(9, [], { namespace: 'other.example' })) as Uint8Array<ArrayBuffer>));
    expect(((await wrongNs.json()) as { error: string }).error).toBe('TRUST_WRONG_NAMESPACE');
    const junk = await handler(post('/witness', utf8('not a bundle') as Uint8Array<ArrayBuffer>));
    expect(junk.status).toBe(400);
    const badSig = await handler(post('/countersign', JSON.stringify({ epoch: 1, publicKey: toBase64(new Uint8Array(32)), signature: toBase64(new Uint8Array(64)) })));
    expect(((await badSig.json()) as { error: string }).error).toBe('TRUST_BAD_SIGNATURE');
    expect((await handler(get('/proof/consistency?from=x'))).status).toBe(400);
    expect((await handler(get('/proof/consistency?from=9'))).status).toBe(400);
    expect((await handler(get('/nope'))).status).toBe(404);
    expect((await handler(post('/witness', new Uint8Array(70_000)))).status).toBe(400); // over the body cap
  });

  it('state exported and re-imported gives the same log', () => {
    const again = createWitnessLog({
      origin: ORIGIN,
      namespace: 'chat.example',
      signer: { name: W1_NAME, secretKey: W1 },
      now: () => NOW_MS,
      initialState: JSON.parse(JSON.stringify(log.exportState())),
    });
    expect(again.size).toBe(log.size);
    expect(new TextDecoder().decode(again.checkpoint())).toBe(new TextDecoder().decode(log.checkpoint()));
  });

  it('serves over real loopback HTTP with serveHandler', async () => {
    const served = await serveHandler(handler);
    try {
      const res = await fetch(`${served.url}/checkpoint`);
      expect(parseCheckpoint(new Uint8Array(await res.arrayBuffer())).origin).toBe(ORIGIN);
    } finally {
      await served.close();
    }
  });
});

describe('witness log client', () => {
  const answer = (body: BodyInit, status = 200) => witnessLogClient({ baseUrl: 'http://w.test/', fetch: async () => new Response(body, { status }) });
  const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (isBackupError(e) ? e.code : String(e)));

  it('caps and shape-checks what a hostile witness answers', async () => {
    expect(await code(answer(new Uint8Array(40_000)).fetchBundle())).toBe('TRUST_MALFORMED');
    expect(await answer('', 404).fetchBundle()).toBeUndefined();
    expect(await code(answer('', 502).fetchBundle())).toBe('VAULT_UNAVAILABLE');
    expect(await code(answer('not json').fetchConsistencyProof(1, 2))).toBe('TRUST_MALFORMED');
    expect(await code(answer(JSON.stringify({ proof: Array(65).fill('AAAA') })).fetchConsistencyProof(1, 2))).toBe('TRUST_MALFORMED');
    expect(await code(answer(JSON.stringify({ proof: ['%%%'] })).fetchConsistencyProof(1, 2))).toBe('TRUST_MALFORMED');
    await expect(answer('{}').fetchConsistencyProof(2, 1)).rejects.toThrow(RangeError);
  });
});
