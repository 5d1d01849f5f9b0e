// An app that pairs a blob adapter with URLs of the other dialect (createHttpBlobStore with
// presigned S3 URLs, createS3BlobStore with the reference server's presigned-HTTP URLs) gets a
// PROTOCOL error that names the adapter to use, not only "malformed JSON" (issue 19: an error
// that does not say what to pass; found replaying the first hour against the reference servers).
import { describe, expect, it } from 'vitest';
import { createBlobPresigner, createBlobStoreHandler } from '../../lib/server/blob-store.js';
import { createHttpBlobStore } from '../../lib/storage/blob/http.js';
import { createS3BlobStore } from '../../lib/storage/blob/s3.js';
import { isBackupError } from '../../lib/errors.js';

const signingKey = new Uint8Array(32).fill(7);
const handler = createBlobStoreHandler({ signingKey, basePath: '/blobs' });
const presigner = createBlobPresigner({ baseUrl: 'http://blobs.test/blobs', signingKey });
const fetch = (r: Request): Promise<Response> => handler(r);

async function refusal(run: () => Promise<unknown>): Promise<string> {
  const e = await run().then(() => undefined, (x: unknown) => x);
  if (!isBackupError(e, 'PROTOCOL')) throw new Error(`expected PROTOCOL, got ${String(e)}`);
  return e.message;
}

describe('a blob adapter given URLs of the other dialect', () => {
  it('createHttpBlobStore with presigned S3 URLs says to use createS3BlobStore', async () => {
    const store = createHttpBlobStore({ fetch, presign: async (op) => presigner.s3(op) });
    expect(await refusal(() => store.createUpload('users/a/archive'))).toMatch(/XML.*createS3BlobStore/);
  });

  it('createS3BlobStore with presigned-HTTP URLs says to use createHttpBlobStore', async () => {
    const store = createS3BlobStore({ fetch, presign: async (op) => presigner.http(op) });
    expect(await refusal(() => store.createUpload('users/a/archive'))).toMatch(/JSON.*createHttpBlobStore/);
  });

  it('each works with its own dialect', async () => {
    await createHttpBlobStore({ fetch, presign: async (op) => presigner.http(op) }).createUpload('users/a/x');
    await createS3BlobStore({ fetch, presign: async (op) => presigner.s3(op) }).createUpload('users/a/y');
  });
});
