// The app backend, minimal: what the SDK needs from your server, next to the static app.
//
//   POST /api/vault-token  -> { token }   a short-lived token the vault accepts for this user
//   POST /api/presign      -> { url }     a presigned S3 URL for one blob operation of this user
//   POST /vault/v1/vault                  the vault (here the reference vault in-process; in
//                                         production a separate fleet, see docs/OPERATIONS.md)
//   GET  /*                               the built app (dist/), with a Content-Security-Policy
//
// Sign-in is stubbed: the page names its user in the `x-example-user` header. Replace
// `userOf()` with your session check; everything else stays as it is.
//
// Environment: PORT (8080; 0 picks one), S3_ENDPOINT, S3_BUCKET, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_REGION (without S3_ENDPOINT a local s3rver is started),
// TOKEN_SECRET (hex; random per start otherwise).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { createMemoryVaultStore, createVaultHandler, serveHandler } from 'e2ee-backup/server';
import type { BlobOp } from 'e2ee-backup/stores';
import { startLocalS3 } from './local-s3.js';
import { ForbiddenOperation, s3Presigner } from './s3-presign.js';
import { vaultTokens } from './tokens.js';

const root = path.resolve(import.meta.dirname, '..');
const fleet = JSON.parse(readFileSync(path.join(root, '.fleet/vault-setup.json'), 'utf8')) as { fleetId: string; setup: string };
const tokens = vaultTokens(process.env.TOKEN_SECRET ? Buffer.from(process.env.TOKEN_SECRET, 'hex') : randomBytes(32));

// The reference vault. Its store here is memory: a restart forgets enrollments. Production vaults
// keep state in a replicated store (createEtcdVaultStore) and the setup in an HSM.
const vault = createVaultHandler({
  fleetId: fleet.fleetId,
  setup: Buffer.from(fleet.setup, 'hex'),
  store: createMemoryVaultStore(),
  verifyToken: tokens.verify,
});

/** Stand-in for your session check: the signed-in user's id, or undefined. */
function userOf(req: Request): string | undefined {
  const user = req.headers.get('x-example-user');
  return user !== null && /^[a-z0-9-]{1,64}$/.test(user) ? user : undefined;
}

const json = (status: number, body: unknown): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });

/** Set once S3 is configured (below, after the server knows its own origin for the bucket's CORS rules). */
const s3: { presign?: (op: BlobOp, prefix: string) => Promise<string>; origin: string } = { origin: '' };

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };

async function handle(req: Request): Promise<Response> {
  const url = new URL(req.url);
  if (url.pathname === '/vault/v1/vault') return vault(req);
  if (url.pathname === '/api/vault-token' && req.method === 'POST') {
    const user = userOf(req);
    return user === undefined ? json(401, { error: 'sign in' }) : json(200, { token: tokens.issue(user) });
  }
  if (url.pathname === '/api/presign' && req.method === 'POST') {
    const user = userOf(req);
    if (user === undefined || s3.presign === undefined) return json(401, { error: 'sign in' });
    try {
      // Each user's blobs live under users/<id>/ (the client's keyPrefix); nothing else is signed.
      return json(200, { url: await s3.presign((await req.json()) as BlobOp, `users/${user}/`) });
    } catch (e) {
      return json(e instanceof ForbiddenOperation ? 403 : 400, { error: String((e as Error).message) });
    }
  }
  if (req.method !== 'GET') return new Response(null, { status: 405 });
  // The built app. The CSP lets the page reach only this origin and the bucket, and start its
  // cipher workers from this origin (the SDK's worker pool).
  const file = path.join(root, 'dist', url.pathname === '/' ? 'index.html' : path.normalize(url.pathname));
  if (!file.startsWith(path.join(root, 'dist') + path.sep)) return new Response(null, { status: 404 });
  try {
    const body = readFileSync(file);
    return new Response(body, {
      headers: {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'content-security-policy': `default-src 'self'; connect-src 'self' ${s3.origin}; worker-src 'self'; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'`,
      },
    });
  } catch {
    return new Response(null, { status: 404 });
  }
}

const served = await serveHandler(handle, { port: Number(process.env.PORT ?? 8080) });

let endpoint = process.env.S3_ENDPOINT;
let bucket = process.env.S3_BUCKET ?? 'backups';
let credentials = process.env.AWS_ACCESS_KEY_ID === undefined ? undefined : { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '' };
let localS3: Awaited<ReturnType<typeof startLocalS3>> | undefined;
if (endpoint === undefined) {
  localS3 = await startLocalS3({ directory: mkdtempSync(path.join(tmpdir(), 'example-s3-')), bucket, allowedOrigin: served.url });
  ({ endpoint, bucket, credentials } = localS3);
}
s3.origin = new URL(endpoint).origin;
const client = new S3Client({
  endpoint,
  region: process.env.AWS_REGION ?? 'us-east-1',
  forcePathStyle: true,
  ...(credentials === undefined ? {} : { credentials }),
  // Presigned URLs carry no body checksum: the SDK sends the bytes later, from the browser.
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
s3.presign = s3Presigner({ client, bucket });

console.log(`example backend on ${served.url} (S3 ${endpoint}, bucket ${bucket})`);

const stop = async (): Promise<void> => {
  vault.close();
  await served.close();
  await localS3?.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
