import type { S3Client } from '@aws-sdk/client-s3';
import type { Config, MirrorConfig } from '../config/schema.js';
import { withAbortSignal } from '../storage/client.js';
import type { LiveUploads } from './destination.js';
import { abortUploadsWhere, type ListedUpload } from './upload.js';

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
  /** Fleet: told of each upload this process starts and ends, so that another replica can abort it should this one die. */
  observe(hooks: { added(uploadId: string): void; removed(uploadId: string): void }): void;
  /** Aborts, in every store, the in-progress uploads with these ids whatever their age (a dead replica's). */
  abortUploads(uploadIds: ReadonlySet<string>, signal?: AbortSignal): Promise<string[]>;
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
  let hooks: { added(uploadId: string): void; removed(uploadId: string): void } | undefined;
  // The runner's destinations add and remove their upload ids here; a fleet hears of each.
  const live: LiveUploads = new (class extends Set<string> {
    override add(id: string): this {
      super.add(id);
      hooks?.added(id);
      return this;
    }
    override delete(id: string): boolean {
      const had = super.delete(id);
      if (had) hooks?.removed(id);
      return had;
    }
  })();
  const prefix = config.storage.prefix ? `${config.storage.prefix}/` : '';
  const mirrors = new Set<MirrorConfig>([
    ...(config.mirror ? [config.mirror] : []),
    ...Object.values(config.targets).flatMap((t) => (t.mirror ? [t.mirror] : [])),
  ]);
  let stores: { readonly client: S3Client; readonly bucket: string }[] | undefined;
  let runningTargets: (() => Promise<readonly string[]>) | undefined;
  /** In the primary store and every mirror; a store that fails is skipped (the next sweep retries). */
  async function abortEverywhere(pick: (u: ListedUpload) => boolean, signal?: AbortSignal): Promise<string[]> {
    const timeout = AbortSignal.timeout(deps.timeoutMs ?? 20_000);
    const deadline = signal ? AbortSignal.any([timeout, signal]) : timeout;
    stores ??= [
      { client: deps.s3, bucket: config.storage.bucket },
      ...[...mirrors].map((m) => ({ client: deps.mirrorClient(m), bucket: m.bucket })),
    ];
    const aborted = await Promise.all(
      stores.map((s) => abortUploadsWhere(withAbortSignal(s.client, deadline), s.bucket, prefix, pick).catch(() => [])),
    );
    return aborted.flat();
  }
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
      const before = new Date(now().getTime() - config.storage.abortUploadsAfterMs).getTime();
      // Old enough that no running job can own it (none of this process's, none of the fleet's targets).
      return abortEverywhere(
        (u) => !live.has(u.uploadId) && !keep(u.key) && u.initiated !== undefined && u.initiated.getTime() < before,
        signal,
      );
    },
    observe(h) {
      hooks = h;
    },
    abortUploads(uploadIds, signal) {
      return abortEverywhere((u) => uploadIds.has(u.uploadId), signal);
    },
  };
}
