import fs from 'node:fs';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { LakeS3Settings } from './types.js';

/**
 * Where a lake's objects go: a local directory or an S3 bucket (any
 * S3-compatible endpoint). Keys are relative (`segment-data/data/...`).
 */
export interface ObjectStore {
  readonly kind: 'local' | 's3';
  /** The lake root as a URL-ish prefix (`/abs/dir/` or `s3://bucket/prefix/`), for the catalog. */
  readonly root: string;
  /** The bucket, for sync reports' `s3_bucket` ('' for a local lake). */
  readonly bucket: string;
  /** Checks the target is reachable and writable enough to start a sync. */
  check(): Promise<void>;
  /** Moves a finished local file to `key` (the file is gone afterwards). */
  putFile(key: string, file: string): Promise<void>;
  putBytes(key: string, body: Buffer | string): Promise<void>;
  /** Deletes `key`; a missing key is not an error. */
  delete(key: string): Promise<void>;
  close(): void;
}

export function localStore(root: string): ObjectStore {
  const abs = path.resolve(root);
  const target = (key: string) => path.join(abs, ...key.split('/'));
  return {
    kind: 'local',
    root: `${abs}${path.sep}`,
    bucket: '',
    async check() {
      await fs.promises.mkdir(abs, { recursive: true });
      await fs.promises.access(abs, fs.constants.W_OK);
    },
    async putFile(key, file) {
      const to = target(key);
      await fs.promises.mkdir(path.dirname(to), { recursive: true });
      try {
        await fs.promises.rename(file, to);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        // Another filesystem: copy beside the target, then rename (readers never see half a file).
        const tmp = `${to}.tmp-${process.pid}`;
        await fs.promises.copyFile(file, tmp);
        await fs.promises.rename(tmp, to);
        await fs.promises.unlink(file);
      }
    },
    async putBytes(key, body) {
      const to = target(key);
      await fs.promises.mkdir(path.dirname(to), { recursive: true });
      const tmp = `${to}.tmp-${process.pid}`;
      await fs.promises.writeFile(tmp, body);
      await fs.promises.rename(tmp, to);
    },
    async delete(key) {
      await fs.promises.rm(target(key), { force: true });
    },
    close() {},
  };
}

export function s3Store(s: LakeS3Settings): ObjectStore {
  // The AWS SDK is loaded with the first request to the bucket, not with the loader thread.
  let opened: Promise<{ sdk: typeof import('@aws-sdk/client-s3'); client: S3Client }> | undefined;
  const open = () => (opened ??= import('@aws-sdk/client-s3').then((sdk) => ({ sdk, client: newClient(sdk, s) })));
  const prefix = (s.prefix ?? '').replace(/^\/+|\/+$/g, '');
  const full = (key: string) => (prefix ? `${prefix}/${key}` : key);
  const put = async (key: string, body: Buffer | string, contentType: string) => {
    const { sdk, client } = await open();
    await client.send(new sdk.PutObjectCommand({ Bucket: s.bucket, Key: full(key), Body: body, ContentType: contentType }));
  };
  return {
    kind: 's3',
    root: `s3://${s.bucket}/${prefix ? `${prefix}/` : ''}`,
    bucket: s.bucket,
    async check() {
      const { sdk, client } = await open();
      await client.send(new sdk.HeadBucketCommand({ Bucket: s.bucket }));
    },
    async putFile(key, file) {
      await put(key, await fs.promises.readFile(file), key.endsWith('.parquet') ? 'application/vnd.apache.parquet' : 'application/octet-stream');
      await fs.promises.rm(file, { force: true });
    },
    async putBytes(key, body) {
      await put(key, body, key.endsWith('.json') ? 'application/json' : 'application/octet-stream');
    },
    async delete(key) {
      const { sdk, client } = await open();
      await client.send(new sdk.DeleteObjectCommand({ Bucket: s.bucket, Key: full(key) }));
    },
    close() {
      void opened?.then(({ client }) => client.destroy(), () => {});
    },
  };
}

function newClient(sdk: typeof import('@aws-sdk/client-s3'), s: LakeS3Settings): S3Client {
  return new sdk.S3Client({
    region: s.region,
    ...(s.endpoint ? { endpoint: s.endpoint, forcePathStyle: true } : {}),
    ...(s.accessKeyId && s.secretAccessKey ? { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } } : {}),
    maxAttempts: 2,
    // A black-holed endpoint must fail the sync, not hang the loader thread.
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    // Plain PUTs with a Content-MD5-free body: what every S3-compatible server takes.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export type ErrorCode = 'Segment.InsufficientPermissions' | 'Segment.InvalidSettings' | 'Segment.Internal';

/**
 * A failure → the seed's three kinds of sync error (seed 000, "Sync Errors"):
 * insufficient permissions, invalid settings, internal error. The seed shows the
 * code only for the last (`Segment.Internal`); the other two follow its pattern.
 */
export function classifyError(err: unknown, store: { kind: 'local' | 's3'; bucket: string }): { code: ErrorCode; message: string } {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? '';
  const status = e?.$metadata?.httpStatusCode;
  // HEAD responses carry no body, so the SDK's message is then just "Unknown": say what the server answered.
  const vague = !e?.message || e.message === 'UnknownError' || e.message === 'Unknown';
  const detail = vague ? `${name || 'error'}${status ? ` (HTTP ${status})` : ''}` : `${e.message}${status ? ` (HTTP ${status})` : ''}`;
  if (store.kind === 's3') {
    if (['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'Forbidden', 'ExpiredToken', 'InvalidToken', 'CredentialsProviderError'].includes(name) || status === 401 || status === 403) {
      return { code: 'Segment.InsufficientPermissions', message: `Switchyard was unable to upload data to the S3 bucket "${store.bucket}" due to a lack of sufficient permissions: ${detail}` };
    }
    if (['NoSuchBucket', 'NotFound', 'InvalidBucketName', 'PermanentRedirect', 'AuthorizationHeaderMalformed'].includes(name) || status === 404 || status === 301) {
      return { code: 'Segment.InvalidSettings', message: `Data Lakes Destination has invalid configuration: the S3 bucket "${store.bucket}" cannot be used (${name || status}): ${detail}` };
    }
    return { code: 'Segment.Internal', message: `writing to the S3 bucket "${store.bucket}" failed: ${detail}` };
  }
  if (e?.code === 'EACCES' || e?.code === 'EPERM' || e?.code === 'EROFS') {
    return { code: 'Segment.InsufficientPermissions', message: `Switchyard lacks the permissions to write the data lake directory: ${detail}` };
  }
  if (e?.code === 'ENOTDIR' || e?.code === 'EEXIST') {
    return { code: 'Segment.InvalidSettings', message: `Data Lakes Destination has invalid configuration: the data lake path cannot be used: ${detail}` };
  }
  return { code: 'Segment.Internal', message: `the data lake sync failed: ${detail}` };
}
