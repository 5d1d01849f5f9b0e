// A worker_threads worker for the archive's worker-pool engine (lib/archive/engines/workers.ts)
// that answers the pool's batch protocol (lib/archive/engines/worker-core.ts) with node:crypto's
// ChaCha20-Poly1305 (RFC 8439, nonce 0x00000000 ‖ 8-byte tail), instead of noble or libsodium.
// Bench-only (bench/backup.ts, BACKUP_BENCH_ENGINE=node-workers): it moves the encryption of a
// Node backup off the thread that drives the uploads. The bench checks that its output equals the
// default engine's before it measures anything.
import { parentPort } from 'node:worker_threads';
import { createCipheriv, createDecipheriv } from 'node:crypto';

const TAG = 16;
const port = parentPort;

function seal(key, iv, aad, input) {
  const c = createCipheriv('chacha20-poly1305', key, iv, { authTagLength: TAG });
  c.setAAD(aad, { plaintextLength: input.length });
  const out = new Uint8Array(input.length + TAG);
  const n = c.update(input).copy(out, 0);
  c.final();
  out.set(c.getAuthTag(), n);
  return out;
}

function open(key, iv, aad, input) {
  const d = createDecipheriv('chacha20-poly1305', key, iv, { authTagLength: TAG });
  d.setAAD(aad, { plaintextLength: input.length - TAG });
  d.setAuthTag(input.subarray(input.length - TAG));
  const pt = d.update(input.subarray(0, input.length - TAG));
  try {
    d.final();
  } catch {
    pt.fill(0);
    return undefined;
  }
  const out = new Uint8Array(pt.length);
  out.set(pt);
  pt.fill(0);
  return out;
}

port.on('message', (m) => {
  const id = m?.id ?? -1;
  try {
    if (m.op === 'init') return port.postMessage({ id, ok: true });
    const { key, aad, ops, tails, lengths, data } = m;
    const n = ops.length;
    const ok = new Uint8Array(n);
    const outputs = [];
    const transfer = [];
    const iv = new Uint8Array(12);
    let off = 0;
    for (let i = 0; i < n; i++) {
      const input = data.subarray(off, off + lengths[i]);
      off += lengths[i];
      iv.set(tails.subarray(8 * i, 8 * i + 8), 4);
      const out = ops[i] === 0 ? seal(key, iv, aad, input) : open(key, iv, aad, input);
      if (ops[i] === 0) input.fill(0);
      ok[i] = out === undefined ? 0 : 1;
      outputs.push(out ?? null);
      if (out !== undefined) transfer.push(out.buffer);
    }
    key.fill(0);
    transfer.push(data.buffer);
    port.postMessage({ id, ok, outputs, data }, transfer);
  } catch {
    port.postMessage({ id, error: 'cipher failed' });
  }
});
