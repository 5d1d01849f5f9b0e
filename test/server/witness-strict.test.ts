/**
 * The witness handler decodes request text strictly (issue 13, finding 6, server side): a body
 * that starts with a UTF-8 byte-order mark, or that is not valid UTF-8, is refused with a typed
 * 400 and changes nothing, the way the client trust store refuses U+FEFF.
 */
import { describe, expect, it } from 'vitest';
import { createWitnessHandler, createWitnessLog } from '../../lib/server/witness.js';
import { encodeBundle, operatorSign, type WitnessSignature } from '../../lib/trust/bundle.js';
import { concatBytes, fromBase64, toBase64, utf8 } from '../../lib/util/bytes.js';
import { bundle, fleet, NOW_MS, ORIGIN, OP1, W1, W1_NAME } from '../trust/fixtures.js';

const post = (path: string, body: Uint8Array) =>
  new Request(`http://w.test${path}`, { method: 'POST', body: body as Uint8Array<ArrayBuffer> });
const BOM = Uint8Array.of(0xef, 0xbb, 0xbf);

async function witnessedOnce() {
  const log = createWitnessLog({ origin: ORIGIN, namespace: 'chat.example', signer: { name: W1_NAME, secretKey: W1 }, now: () => NOW_MS });
  const handler = createWitnessHandler(log);
  const bytes = encodeBundle(bundle(1, [fleet('eu-1')]));
  const res = await handler(post('/witness', bytes));
  expect(res.status).toBe(200);
  const w = ((await res.json()) as { witnessSignature: { publicKey: string; timestamp: number; signature: string } }).witnessSignature;
  const ws: WitnessSignature = { publicKey: fromBase64(w.publicKey), timestamp: w.timestamp, signature: fromBase64(w.signature) };
  const os = operatorSign(bytes, [ws], OP1);
  const body = utf8(JSON.stringify({ epoch: 1, publicKey: toBase64(os.publicKey), signature: toBase64(os.signature) }));
  return { log, handler, body };
}

describe('witness handler: strict request text', () => {
  it('refuses a BOM-prefixed countersign body with a typed 400 and records nothing', async () => {
    const { log, handler, body } = await witnessedOnce();
    const res = await handler(post('/countersign', concatBytes(BOM, body)));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('INVALID_ARGUMENT');
    expect(log.entry(1)!.operatorSignatures).toHaveLength(0);
    // The same body without the mark is accepted (control).
    expect((await handler(post('/countersign', body))).status).toBe(200);
    expect(log.entry(1)!.operatorSignatures).toHaveLength(1);
  });

  it('refuses a countersign body that is not valid UTF-8 with a typed 400', async () => {
    const { log, handler, body } = await witnessedOnce();
    // An invalid byte inside a JSON string: a lenient decoder turns it into U+FFFD and parses on.
    const bad = concatBytes(body.subarray(0, body.length - 1), Uint8Array.of(0x2c, 0x22, 0x78, 0xff, 0x22, 0x3a, 0x31, 0x7d)); // ,"x\xff":1}
    const res = await handler(post('/countersign', bad));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('INVALID_ARGUMENT');
    expect(log.entry(1)!.operatorSignatures).toHaveLength(0);
  });
});
