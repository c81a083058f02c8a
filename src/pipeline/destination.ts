import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { formatDuration } from '../config/units.js';
import { type DumptruckError, describeCause, toDumptruckError, userMessage } from '../errors.js';
import type { Redactor } from '../redact.js';
import type { MirrorOutcome } from '../types.js';
import { withAbortSignal } from '../storage/client.js';
import { manifestKey, writeManifest, type Manifest } from '../storage/manifest.js';
import { checkBucket, uploadStream, type StreamUpload, type StreamUploadOptions } from './upload.js';

export interface DestinationSpec {
  readonly role: 'primary' | 'mirror';
  readonly bucket: string;
  readonly endpoint?: string | undefined;
  /** A failure of a required destination fails the run; of an optional one, only drops it. */
  readonly required: boolean;
  readonly client: S3Client;
}

/** An upload as the run asks a destination for it: the store and the upload's id are the destination's own. */
export type DestinationUpload = Omit<StreamUploadOptions, 's3' | 'bucket' | 'onUploadId'>;

/** The multipart uploads of this process's running jobs: never orphans, whatever their age. */
export type LiveUploads = Set<string>;

/**
 * One store a run writes to (the primary bucket, the mirror): it owns its check before pg_dump
 * starts, its upload, its manifest, its cleanup and its outcome, so the run treats every store
 * alike. Its requests carry the job's signal; its cleanup, which runs once that signal may have
 * fired, has a deadline of its own.
 */
export class Destination {
  readonly role: DestinationSpec['role'];
  readonly bucket: string;
  readonly endpoint: string | undefined;
  readonly required: boolean;
  /** Why this store holds no backup of the run (an optional one drops out and the run goes on). */
  failure: DumptruckError | undefined;
  private readonly s3: S3Client;
  private readonly raw: S3Client;
  private key: string | undefined;
  private upload: StreamUpload | undefined;
  private uploadId: string | undefined;
  private uploaded = false;
  private manifestWritten = false;
  private discarded = false;

  constructor(
    spec: DestinationSpec,
    signal: AbortSignal | undefined,
    private readonly cleanupMs: number,
    private readonly live: LiveUploads,
  ) {
    this.role = spec.role;
    this.bucket = spec.bucket;
    this.endpoint = spec.endpoint;
    this.required = spec.required;
    this.raw = spec.client;
    this.s3 = signal ? withAbortSignal(spec.client, signal) : spec.client;
  }

  /** "" for the primary (its bucket is implied everywhere), "mirror s3://bucket/" for the mirror. */
  get label(): string {
    return this.role === 'primary' ? '' : `mirror s3://${this.bucket}/`;
  }

  /** Throws for a required destination; an optional one is dropped with its reason. */
  drop(error: DumptruckError): void {
    if (this.required) throw error;
    this.failure ??= error;
  }

  /** Before pg_dump starts: the bucket is reachable with these credentials. */
  async check(): Promise<void> {
    try {
      await checkBucket(this.s3, this.bucket);
    } catch (err) {
      this.drop(this.required ? (err as DumptruckError) : toDumptruckError(err, 'UPLOAD_FAILED', 'upload', 'mirror'));
    }
  }

  /** Streams `body` into one multipart upload; resolves when the dump object exists. */
  async store(u: DestinationUpload): Promise<void> {
    this.key = u.key;
    try {
      this.upload = uploadStream({
        ...u,
        s3: this.s3,
        bucket: this.bucket,
        onUploadId: (id) => {
          this.uploadId = id;
          this.live.add(id);
        },
      });
      await this.upload.done;
      this.uploaded = true;
    } finally {
      if (this.uploadId) this.live.delete(this.uploadId);
    }
  }

  /** Writes the manifest that makes the backup complete; an optional destination that fails is dropped (and discarded). */
  async finish(manifest: Manifest): Promise<void> {
    if (this.failure) return;
    try {
      await writeManifest(this.s3, this.bucket, manifest);
      this.manifestWritten = true;
    } catch (err) {
      const error = toDumptruckError(err, 'FINALIZE_FAILED', 'finalize', `writing the manifest of ${this.label}${manifest.key}`);
      this.drop(error);
      await this.discard();
    }
  }

  /**
   * Leaves nothing of this run behind: aborts its own multipart upload, or deletes what it
   * completed (the manifest first, so a backup is never shown complete without its dump).
   * Returns why, when the store did not confirm it.
   */
  async discard(): Promise<string | undefined> {
    const key = this.key;
    if (key === undefined || this.discarded) return undefined;
    const deadline = AbortSignal.timeout(this.cleanupMs);
    const s3 = withAbortSignal(this.raw, deadline);
    try {
      if (this.manifestWritten) await s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: manifestKey(key) }));
      this.manifestWritten = false;
      if (this.uploaded) await s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      // Only its own upload (by its UploadId): another run's is never touched, even on the same key.
      else await this.upload?.abortLeftover(s3);
      this.discarded = true;
      return undefined;
    } catch (err) {
      const why = deadline.aborted ? `no answer within ${formatDuration(this.cleanupMs)}` : describeCause(err);
      const what = this.uploaded ? 'the stored object was deleted' : 'the partial upload was aborted';
      return `${this.role === 'primary' ? 'the store' : `the mirror s3://${this.bucket}`} did not confirm that ${what} (${why})`;
    }
  }

  /** What the result and the manifest say about this store. */
  outcome(redactor: Redactor): MirrorOutcome {
    return {
      bucket: this.bucket,
      endpoint: this.endpoint,
      stored: this.failure === undefined,
      ...(this.failure ? { error: userMessage(this.failure, redactor) } : {}),
    };
  }
}

/** A destination's failure message, as errors name a store. */
export function uploadError(d: Destination, key: string, err: unknown): DumptruckError {
  return toDumptruckError(err, 'UPLOAD_FAILED', 'upload', `uploading ${d.label}${key}`);
}
