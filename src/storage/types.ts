/** An object as listed from the bucket. */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

/**
 * `complete`: its manifest exists. `legacy`: written before manifests, its facts in its metadata
 * (complete too). `incomplete`: a dump without either, from a run that died before its manifest:
 * never `latest`, never the newest good backup, deleted by prune after storage.incompleteGrace.
 */
export type BackupState = 'complete' | 'legacy' | 'incomplete';

/** A stored backup (a dump object) and whether it is complete. */
export interface BackupObject extends StoredObject {
  readonly state: BackupState;
}

export interface PresignedLink {
  readonly url: string;
  readonly expiresAt: Date;
}

/** Read-side operations on a target's backups, shared by the CLI and Slack. */
export interface BackupCatalog {
  /** Newest first. */
  list(target: string): Promise<BackupObject[]>;
  /**
   * `latest` (or undefined) resolves to the newest backup. A key must belong to the target
   * (under its prefix); anything else is an InputError, a missing object NOT_FOUND.
   */
  resolve(target: string, keyOrLatest?: string): Promise<BackupObject>;
  /** A fresh presigned GET link, expiry from `storage.linkExpiry`. */
  link(key: string): Promise<PresignedLink>;
}
