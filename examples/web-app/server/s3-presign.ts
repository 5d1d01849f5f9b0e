// Presigned S3 URLs for the SDK's blob operations, with the AWS SDK's own presigner. The SDK
// (createS3BlobStore in the browser) asks for one URL per request and sends exactly the S3 request
// the operation names (docs/STORAGE.md §3); the backend decides whether this user may do it.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { BlobOp } from 'e2ee-backup/stores';

export interface S3PresignerOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** URL lifetime in seconds (default 300). */
  readonly expiresIn?: number;
}

/** Thrown when an operation is outside the user's prefix: answer 403. */
export class ForbiddenOperation extends Error {}

/**
 * `presign(op, prefix)`: a URL for `op` if every key it touches is under `prefix` (the signed-in
 * user's, e.g. `users/42/`), else ForbiddenOperation.
 */
export function s3Presigner({ client, bucket, expiresIn = 300 }: S3PresignerOptions) {
  return async (op: BlobOp, prefix: string): Promise<string> => {
    const target = op.op === 'list' ? op.prefix : op.key;
    if (!target.startsWith(prefix)) throw new ForbiddenOperation(`${op.op} outside ${prefix}`);
    const Bucket = bucket;
    const options = { expiresIn };
    switch (op.op) {
      case 'put': return getSignedUrl(client, new PutObjectCommand({ Bucket, Key: op.key }), options);
      case 'get': return getSignedUrl(client, new GetObjectCommand({ Bucket, Key: op.key }), options);
      case 'head': return getSignedUrl(client, new HeadObjectCommand({ Bucket, Key: op.key }), options);
      case 'delete': return getSignedUrl(client, new DeleteObjectCommand({ Bucket, Key: op.key }), options);
      case 'list':
        return getSignedUrl(client, new ListObjectsV2Command({ Bucket, Prefix: op.prefix, ...(op.continuationToken === undefined ? {} : { ContinuationToken: op.continuationToken }) }), options);
      case 'createUpload': return getSignedUrl(client, new CreateMultipartUploadCommand({ Bucket, Key: op.key }), options);
      case 'putPart': return getSignedUrl(client, new UploadPartCommand({ Bucket, Key: op.key, UploadId: op.uploadId, PartNumber: op.partNumber }), options);
      case 'listParts':
        return getSignedUrl(client, new ListPartsCommand({ Bucket, Key: op.key, UploadId: op.uploadId, ...(op.partNumberMarker === undefined ? {} : { PartNumberMarker: String(op.partNumberMarker) }) }), options);
      case 'completeUpload': return getSignedUrl(client, new CompleteMultipartUploadCommand({ Bucket, Key: op.key, UploadId: op.uploadId }), options);
      case 'abortUpload': return getSignedUrl(client, new AbortMultipartUploadCommand({ Bucket, Key: op.key, UploadId: op.uploadId }), options);
    }
  };
}
