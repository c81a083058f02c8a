import { randomBytes } from 'node:crypto';
import type { RestoreOptions } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { RestorePlan } from './restore.js';

// Restore requests waiting for a second person. They live in memory for now, behind
// ApprovalStore, so that the durable fleet can keep them in PostgreSQL later.

export type Decision =
  | { readonly kind: 'approved'; readonly by: string }
  | { readonly kind: 'denied'; readonly by: string }
  | { readonly kind: 'expired' };

export interface RestoreRequest {
  readonly id: string;
  readonly plan: RestorePlan;
  readonly requestedBy: string;
  readonly channel: string;
  /** The approval message, once posted. */
  readonly ts?: string;
  readonly requestedAt: Date;
  readonly expiresAt: Date;
  readonly decision?: Decision;
}

export interface ApprovalStore {
  put(request: RestoreRequest): Promise<void>;
  get(id: string): Promise<RestoreRequest | undefined>;
  /**
   * Records the decision, in one atomic step, unless one was recorded already (two approvers
   * clicking at once): true for the one that wins. An approval or denial is recorded only
   * before the request expires, `expired` only after, both judged by the store's clock (the state
   * database's in a fleet), so a replica whose clock is behind cannot approve a stale request.
   */
  decide(id: string, decision: Decision): Promise<boolean>;
  /** Takes back `decision` if it is still the recorded one (its restore could not be queued): the request is open again. */
  reopen(id: string, decision: Decision): Promise<void>;
}

export class MemoryApprovals implements ApprovalStore {
  private readonly requests = new Map<string, RestoreRequest>();

  constructor(private readonly now: () => Date) {}

  async put(request: RestoreRequest): Promise<void> {
    this.requests.set(request.id, request);
  }

  async get(id: string): Promise<RestoreRequest | undefined> {
    return this.requests.get(id);
  }

  async decide(id: string, decision: Decision): Promise<boolean> {
    const request = this.requests.get(id);
    if (!request || request.decision) return false;
    const expired = this.now().getTime() >= request.expiresAt.getTime();
    if (expired !== (decision.kind === 'expired')) return false;
    this.requests.set(id, { ...request, decision });
    return true;
  }

  async reopen(id: string, decision: Decision): Promise<void> {
    const request = this.requests.get(id);
    if (!request || !sameDecision(request.decision, decision)) return;
    const { decision: _taken, ...open } = request;
    this.requests.set(id, open);
  }
}

function sameDecision(a: Decision | undefined, b: Decision): boolean {
  return a?.kind === b.kind && (a.kind === 'expired' || (b.kind !== 'expired' && a.by === b.by));
}

/** 16 hex characters: short enough for a button value, too many to guess. */
export function newRequestId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Pure: why `userId` may not approve `request` now, or undefined when they may. Expiry first
 * (nobody may approve a stale request), then the approvers list, then the two-person rule.
 */
export function approvalRefusal(request: RestoreRequest, userId: string, options: RestoreOptions, now: Date): InputError | undefined {
  if (request.decision) return decidedRefusal(request.decision);
  if (now.getTime() >= request.expiresAt.getTime()) return expiredRefusal(request);
  if (!options.approvers.includes(userId)) {
    return new InputError(
      `you are not one of the people who may approve restores of \`${request.plan.target}\``,
      `Approvers: ${options.approvers.map((u) => `<@${u}>`).join(', ')} (targets.${request.plan.target}.restore.approvers).`,
      'NOT_ALLOWED',
    );
  }
  if (options.twoPerson && userId === request.requestedBy) {
    return new InputError(
      'you asked for this restore, so someone else must approve it (two-person rule)',
      `Ask another approver: ${others(options.approvers, userId)}.`,
      'NOT_ALLOWED',
    );
  }
  return undefined;
}

export function decidedRefusal(decision: Decision): InputError {
  return new InputError(`that restore request was already ${decision.kind}${'by' in decision ? ` by <@${decision.by}>` : ''}`);
}

export function expiredRefusal(request: RestoreRequest): InputError {
  return new InputError(
    'that restore request has expired, so it can no longer be approved',
    `Ask again with \`/backup restore ${request.plan.target} ${request.plan.key} into ${request.plan.database}\`.`,
    'NOT_ALLOWED',
  );
}

/** Pure: why `userId` may not deny `request`: approvers and the requester may. */
export function denialRefusal(request: RestoreRequest, userId: string, options: RestoreOptions): InputError | undefined {
  if (request.decision) return new InputError(`that restore request was already ${request.decision.kind}`);
  if (userId === request.requestedBy || options.approvers.includes(userId)) return undefined;
  return new InputError(`only an approver of \`${request.plan.target}\` or the requester may deny this restore`, undefined, 'NOT_ALLOWED');
}

function others(approvers: readonly string[], userId: string): string {
  const rest = approvers.filter((u) => u !== userId);
  return rest.length === 0 ? 'there is none besides you; an admin adds one to restore.approvers' : rest.map((u) => `<@${u}>`).join(', ');
}
