// A local S3 for development and tests: s3rver (an S3 implementation from npm) behind a small
// front that checks every presigned URL's AWS Signature Version 4 the way S3 does (s3rver 3.7
// checks V2 signatures but accepts any V4 signature from a known key), with one bucket whose CORS
// rules let the page read ETag and Content-Range, as a real bucket needs (docs/STORAGE.md §3).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import S3rver from 's3rver';

export interface LocalS3 {
  /** The signature-checking front; S3 clients and presigners use this. */
  readonly endpoint: string;
  readonly bucket: string;
  /** s3rver's fixed credentials. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Requests refused for their signature so far. */
  readonly refused: () => number;
  close(): Promise<void>;
}

export function corsRules(allowedOrigin: string): string {
  return `<CORSConfiguration><CORSRule><AllowedOrigin>${allowedOrigin}</AllowedOrigin>` +
    ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'].map((m) => `<AllowedMethod>${m}</AllowedMethod>`).join('') +
    '<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><ExposeHeader>Content-Range</ExposeHeader>' +
    '<MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>';
}

const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** RFC 3986 encoding as SigV4 wants it. */
const enc = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Uint8Array | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/**
 * Why a presigned request does not verify (SigV4 query authentication, UNSIGNED-PAYLOAD), or
 * undefined when it does. https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
 */
export function checkPresignedV4(method: string, rawUrl: string, headers: Record<string, string | string[] | undefined>, secret: string, now = Date.now()): string | undefined {
  const url = new URL(rawUrl, 'http://placeholder');
  const q = url.searchParams;
  if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return 'not a SigV4 presigned URL';
  const credential = q.get('X-Amz-Credential') ?? '';
  const amzDate = q.get('X-Amz-Date') ?? '';
  const expires = Number(q.get('X-Amz-Expires'));
  const signedHeaders = q.get('X-Amz-SignedHeaders') ?? '';
  const signature = q.get('X-Amz-Signature') ?? '';
  const [, date, region, service, terminal] = credential.split('/');
  if (date === undefined || region === undefined || service !== 's3' || terminal !== 'aws4_request') return 'bad credential scope';
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (m === null) return 'bad X-Amz-Date';
  const signedAt = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  if (!(expires > 0 && expires <= 604_800) || now > signedAt + expires * 1000) return 'expired';
  const query = [...q.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [enc(k), enc(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const names = signedHeaders.split(';');
  const canonicalHeaders = names.map((n) => `${n}:${String(headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalRequest = [method, url.pathname, query, canonicalHeaders, signedHeaders, 'UNSIGNED-PAYLOAD'].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
  const want = Buffer.from(hmac(key, stringToSign).toString('hex'));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got) ? undefined : 'SignatureDoesNotMatch';
}

export async function startLocalS3(options: { directory: string; bucket?: string; allowedOrigin?: string; port?: number }): Promise<LocalS3> {
  const bucket = options.bucket ?? 'backups';
  const backend = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: options.directory,
    resetOnClose: true,
    configureBuckets: [{ name: bucket, configs: [corsRules(options.allowedOrigin ?? '*')] }],
  });
  const { port: backendPort } = await backend.run();
  let refused = 0;
  const front = createServer((req: IncomingMessage, res: ServerResponse) => {
    // CORS preflights carry no signature (as at S3); everything else must verify.
    if (req.method !== 'OPTIONS') {
      const why = checkPresignedV4(req.method ?? '', req.url ?? '/', req.headers, CREDENTIALS.secretAccessKey);
      if (why !== undefined) {
        refused++;
        res.writeHead(403, { 'content-type': 'application/xml', 'access-control-allow-origin': String(req.headers.origin ?? '*') });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${why === 'expired' ? 'AccessDenied' : 'SignatureDoesNotMatch'}</Code><Message>${why}</Message></Error>`);
        return;
      }
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: backendPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => front.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = front.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    credentials: CREDENTIALS,
    refused: () => refused,
    close: async () => {
      front.closeAllConnections();
      await new Promise((resolve) => front.close(resolve));
      await backend.close();
    },
  };
}
