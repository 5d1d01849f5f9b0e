// A local S3 for development and tests: s3rver (an S3 implementation from npm, checking SigV4
// signatures like S3 does), one bucket whose CORS rules let the page read ETag and Content-Range,
// as a real bucket needs (docs/STORAGE.md §3).
import S3rver from 's3rver';

export interface LocalS3 {
  readonly endpoint: string;
  readonly bucket: string;
  /** s3rver's fixed credentials. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  close(): Promise<void>;
}

export function corsRules(allowedOrigin: string): string {
  return `<CORSConfiguration><CORSRule><AllowedOrigin>${allowedOrigin}</AllowedOrigin>` +
    ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'].map((m) => `<AllowedMethod>${m}</AllowedMethod>`).join('') +
    '<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><ExposeHeader>Content-Range</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>';
}

export async function startLocalS3(options: { directory: string; bucket?: string; allowedOrigin?: string; port?: number }): Promise<LocalS3> {
  const bucket = options.bucket ?? 'backups';
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory: options.directory,
    resetOnClose: true,
    configureBuckets: [{ name: bucket, configs: [corsRules(options.allowedOrigin ?? '*')] }],
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    close: () => server.close(),
  };
}
