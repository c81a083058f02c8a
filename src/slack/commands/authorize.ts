import type { TargetConfig } from '../../config/schema.js';
import { InputError } from '../../errors.js';

// Per-target access: `channels` says where a target may be run and where its links may be
// posted, `users` who may run it. Empty lists mean "no restriction". Pure.

export interface Requester {
  readonly userId: string;
  readonly channelId: string;
}

/** What the requester wants to do, in words that finish "you can't ... app-db". */
export type TargetAction =
  | 'back up'
  | 'cancel backups of'
  | 'list backups of'
  | 'get links to backups of'
  | 'verify backups of'
  | 'prune backups of'
  | 'retry backups of'
  | 'snapshot'
  | 'restore backups of'
  | 'list snapshots of'
  | 'see the history of';

/** Where the target's backups, and so its links, may appear. */
export function channelAllowed(target: TargetConfig, channelId: string): boolean {
  return target.channels.length === 0 || target.channels.includes(channelId);
}

/** Who may run the target (from a command, a button, or an alert they posted). */
export function userAllowed(target: TargetConfig, userId: string): boolean {
  return target.users.length === 0 || target.users.includes(userId);
}

/** Throws NOT_ALLOWED with the channels or people that would work. */
export function authorize(name: string, target: TargetConfig, who: Requester, action: TargetAction): void {
  if (!channelAllowed(target, who.channelId)) {
    throw new InputError(
      `you can't ${action} \`${name}\` from this channel`,
      `\`${name}\` is allowed in ${target.channels.map((c) => `<#${c}>`).join(', ')}; ask there.`,
      'NOT_ALLOWED',
    );
  }
  if (!userAllowed(target, who.userId)) {
    throw new InputError(
      `you are not on the list of people who may ${action} \`${name}\``,
      `Ask one of ${target.users.map((u) => `<@${u}>`).join(', ')}, or have your user id added to targets.${name}.users.`,
      'NOT_ALLOWED',
    );
  }
}
