import type { S3Client } from '@aws-sdk/client-s3';
import type { Config, MirrorConfig } from '../config/schema.js';
import { withAbortSignal } from '../storage/client.js';
import type { LiveUploads } from './destination.js';
import { abortOrphanedUploads } from './upload.js';

/**
 * Finds multipart uploads that a crash (SIGKILL, power loss) left under the prefix, in the primary
 * store and every mirror, and aborts them: those older than storage.abortUploadsAfter that no
 * running job of this process owns. Run at start (bot and CLI) and after each backup; a bucket
 * lifecycle rule (AbortIncompleteMultipartUpload) stays the second line of defence.
 */
export interface UploadSweeper {
  /** Upload ids of this process's running jobs, which are never aborted. */
  readonly live: LiveUploads;
  /**
   * Fleet: the targets with a job running on any replica, whose uploads this process cannot tell
   * from orphans (another replica's backup may run longer than storage.abortUploadsAfter). Their
   * uploads are left alone; when the list cannot be read, nothing is aborted.
   */
  guard(runningTargets: () => Promise<readonly string[]>): void;
  /** The keys whose uploads were aborted; a store that fails is skipped (the next sweep retries). `signal` stops it early (a cancel). */
  sweep(signal?: AbortSignal): Promise<string[]>;
}

export interface SweeperDeps {
  readonly config: Config;
  readonly s3: S3Client;
  readonly mirrorClient: (mirror: MirrorConfig) => S3Client;
  readonly now?: () => Date;
  /** How long one sweep may wait on a store. Default 20 s. */
  readonly timeoutMs?: number;
}

export function createUploadSweeper(deps: SweeperDeps): UploadSweeper {
  const { config } = deps;
  const now = deps.now ?? (() => new Date());
  const live: LiveUploads = new Set();
  const prefix = config.storage.prefix ? `${config.storage.prefix}/` : '';
  const mirrors = new Set<MirrorConfig>([
    ...(config.mirror ? [config.mirror] : []),
    ...Object.values(config.targets).flatMap((t) => (t.mirror ? [t.mirror] : [])),
  ]);
  let stores: { readonly client: S3Client; readonly bucket: string }[] | undefined;
  let runningTargets: (() => Promise<readonly string[]>) | undefined;
  return {
    live,
    guard(provider) {
      runningTargets = provider;
    },
    async sweep(signal) {
      let busy: ReadonlySet<string> = new Set();
      try {
        if (runningTargets) busy = new Set(await runningTargets());
      } catch {
        return []; // the fleet's running jobs are unknown: any upload might be live
      }
      // Keys are <prefix>/<target>/...: the target is the first segment after the prefix.
      const keep = (key: string) => busy.has(key.slice(prefix.length).split('/')[0] ?? '');
      const before = new Date(now().getTime() - config.storage.abortUploadsAfterMs);
      const timeout = AbortSignal.timeout(deps.timeoutMs ?? 20_000);
      const deadline = signal ? AbortSignal.any([timeout, signal]) : timeout;
      stores ??= [
        { client: deps.s3, bucket: config.storage.bucket },
        ...[...mirrors].map((m) => ({ client: deps.mirrorClient(m), bucket: m.bucket })),
      ];
      const aborted = await Promise.all(
        stores.map((s) => abortOrphanedUploads(withAbortSignal(s.client, deadline), s.bucket, prefix, before, live, keep).catch(() => [])),
      );
      return aborted.flat();
    },
  };
}
