// Fixed vectors for the reference server's signed URLs (docs/STORAGE.md §5), each signature
// recomputed with node:crypto's HMAC from the spec's canonical string, independently of the SDK.
import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createBlobPresigner, createBlobStoreHandler } from '../../lib/server/blob-store.js';
import type { BlobOp } from '../../lib/storage/blob/presigned.js';
import { fromHex } from '../../lib/util/bytes.js';

interface Vectors {
  signingKey: string;
  baseUrl: string;
  now: number;
  expiresInSeconds: number;
  vectors: { dialect: 'http' | 's3'; op: BlobOp; url: string }[];
}
const V = JSON.parse(readFileSync(new URL('../vectors/blob-presign.json', import.meta.url), 'utf8')) as Vectors;
const METHOD: Record<BlobOp['op'], string> = {
  put: 'PUT', get: 'GET', head: 'HEAD', delete: 'DELETE', list: 'GET', createUpload: 'POST',
  putPart: 'PUT', listParts: 'GET', completeUpload: 'POST', abortUpload: 'DELETE',
};

describe('signed URL vectors', () => {
  const signingKey = fromHex(V.signingKey);
  const presigner = createBlobPresigner({ baseUrl: V.baseUrl, signingKey, now: () => V.now, expiresInSeconds: V.expiresInSeconds });

  it('the presigner reproduces every vector', () => {
    for (const v of V.vectors) expect(v.dialect === 'http' ? presigner.http(v.op) : presigner.s3(v.op)).toBe(v.url);
  });

  it('every signature is HMAC-SHA-256 over the canonical string of the spec (node:crypto)', () => {
    for (const v of V.vectors) {
      const u = new URL(v.url);
      const rel = u.pathname.slice(new URL(V.baseUrl).pathname.length).replace(/^\/+/, '');
      const pairs = [...u.searchParams].filter(([k]) => k !== 'X-Signature');
      pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
      const q = pairs.map(([k, x]) => `${encodeURIComponent(k)}=${encodeURIComponent(x)}`).join('&');
      const canonical = `e2ee-backup/v1/blob/presign\n${METHOD[v.op.op]}\n/${rel}\n${q}`;
      const mac = createHmac('sha256', Buffer.from(signingKey)).update(canonical, 'utf8').digest('base64url');
      expect(u.searchParams.get('X-Signature')).toBe(mac);
      expect(Number(u.searchParams.get('X-Expires'))).toBe(V.now / 1000 + V.expiresInSeconds);
    }
  });

  it('the handler accepts each URL with its method until it expires, and no other method', async () => {
    let now = V.now;
    const handler = createBlobStoreHandler({ signingKey, basePath: '/blobs', now: () => now, limits: { minPartSize: 1 } });
    for (const v of V.vectors) {
      const method = METHOD[v.op.op];
      const body = method === 'PUT' || method === 'POST' ? new Uint8Array(0) : undefined;
      now = V.now;
      expect((await handler(new Request(v.url, { method, ...(body ? { body } : {}) }))).status).not.toBe(403);
      expect((await handler(new Request(v.url, { method: method === 'GET' ? 'DELETE' : 'GET' }))).status).toBe(403);
      now = V.now + (V.expiresInSeconds + 1) * 1000;
      expect((await handler(new Request(v.url, { method, ...(body ? { body } : {}) }))).status).toBe(403);
    }
  });
});
