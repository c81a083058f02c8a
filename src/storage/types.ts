import type { BackupObject } from '../types.js';

export type { BackupObject, BackupState, StoredObject } from '../types.js';

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
  /**
   * What `link <target> [key|latest]` gives, in Slack and on the CLI alike: the stored backup (as
   * `resolve`) and a link to it; a backup whose signature does not match is refused (UNTRUSTED).
   */
  linkStored(target: string, keyOrLatest?: string): Promise<{ readonly object: BackupObject; readonly link: PresignedLink }>;
}
