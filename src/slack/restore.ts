import type { View } from '@slack/types';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { InputError, userMessage } from '../errors.js';
import type { Maintenance } from '../jobs/maintenance.js';
import {
  approvalRefusal,
  decidedRefusal,
  denialRefusal,
  expiredRefusal,
  newRequestId,
  type ApprovalStore,
  type Decision,
  type RestoreRequest,
} from '../restore/approvals.js';
import { restoreOptions, type RestoreAsk } from '../restore/restore.js';
import type { Requester } from './commands/authorize.js';
import type { ChatApi, Reporters } from './progress/reporter.js';
import { approvedRestoreTrigger, restoreThread } from './progress/maintenance.js';
import { refusalText } from './messages/queue.js';
import { replaceModal, restoreApprovalMessage, restoreNotStartedMessage } from './messages/restore.js';
import type { Redactor } from '../redact.js';

// `/backup restore` in Slack: a request becomes an approval message with Approve and Deny; a
// restore never starts from the command alone. An approval (for a replace: with the database
// name typed in a modal) queues the restore on the maintenance queue, reported in the approval
// message's thread.

export interface RestoreDeskDeps {
  readonly config: Config;
  readonly maintenance: Maintenance;
  readonly reporters: Reporters;
  readonly chat: Pick<ChatApi, 'postMessage' | 'update'>;
  readonly views: { open(args: { trigger_id: string; view: View }): Promise<unknown> };
  readonly approvals: ApprovalStore;
  readonly now: () => Date;
  readonly logger: Logger;
  /** Scrubbed from replies. */
  readonly redactor: Redactor;
}

export class RestoreDesk {
  constructor(private readonly deps: RestoreDeskDeps) {}

  /** Plans the restore (nothing is changed) and posts the approval message; text it returns goes to the requester only. */
  async request(ask: RestoreAsk, who: Requester): Promise<string | undefined> {
    const { deps } = this;
    const plan = await deps.maintenance.ops.planRestore(ask);
    const options = restoreOptions(deps.config, ask.target);
    const requestedAt = deps.now();
    const request: RestoreRequest = {
      id: newRequestId(),
      plan,
      requestedBy: who.userId,
      channel: who.channelId,
      requestedAt,
      expiresAt: new Date(requestedAt.getTime() + options.approvalExpiry),
    };
    const posted = await deps.chat.postMessage({ channel: who.channelId, ...restoreApprovalMessage(request, options.approvers) });
    await deps.approvals.put({ ...request, ...(posted.ts ? { ts: posted.ts } : {}) });
    deps.logger.info(
      {
        requestId: request.id,
        target: plan.target,
        key: plan.key,
        database: plan.database,
        server: plan.server,
        replace: plan.replace,
        requestedBy: who.userId,
      },
      'restore requested',
    );
    return undefined;
  }

  /** Approve: checks who may, then starts the restore (or, for a replace, asks for the database name in a modal). */
  async approve(id: string, who: Requester, triggerId: string | undefined): Promise<string | undefined> {
    const request = await this.pending(id);
    const refusal = await this.refusal(request, who.userId);
    if (refusal) return userMessage(refusal, this.deps.redactor);
    if (request.plan.replace) {
      if (!triggerId) return 'Slack sent no trigger_id, so I cannot ask you to confirm the replace; try again.';
      await this.deps.views.open({ trigger_id: triggerId, view: replaceModal(request) });
      return undefined;
    }
    return this.start(request, who.userId);
  }

  /**
   * The replace modal's submission: a refusal or a mistyped name is an error shown in the modal;
   * undefined closes it and the restore starts.
   */
  async confirmReplace(
    id: string,
    userId: string,
    typed: string,
  ): Promise<{ readonly error?: string; readonly started?: Promise<string | undefined> }> {
    const request = await this.deps.approvals.get(id);
    if (!request) return { error: 'That restore request is no longer known (the bot may have restarted). Ask again.' };
    const refusal = await this.refusal(request, userId);
    if (refusal) return { error: refusal.message };
    if (typed.trim() !== request.plan.database)
      return { error: `That is not ${request.plan.database}. Type the database name exactly to replace it.` };
    return { started: this.start(request, userId) };
  }

  async deny(id: string, who: Requester): Promise<string | undefined> {
    const request = await this.pending(id);
    const refusal = denialRefusal(request, who.userId, restoreOptions(this.deps.config, request.plan.target));
    if (refusal) return userMessage(refusal, this.deps.redactor);
    if (!(await this.deps.approvals.decide(id, { kind: 'denied', by: who.userId }))) return this.lost(id);
    this.deps.logger.info({ requestId: id, target: request.plan.target, deniedBy: who.userId }, 'restore denied');
    await this.showDecision(id);
    return undefined;
  }

  private async pending(id: string): Promise<RestoreRequest> {
    const request = await this.deps.approvals.get(id);
    if (!request)
      throw new InputError('that restore request is no longer known (the bot may have restarted)', 'Ask again with `/backup restore ...`.');
    return request;
  }

  /** approvalRefusal, and an expired request is marked so on its message. */
  private async refusal(request: RestoreRequest, userId: string): Promise<InputError | undefined> {
    const now = this.deps.now();
    const refusal = approvalRefusal(request, userId, restoreOptions(this.deps.config, request.plan.target), now);
    if (refusal && !request.decision && now >= request.expiresAt && (await this.deps.approvals.decide(request.id, { kind: 'expired' }))) {
      this.deps.logger.info({ requestId: request.id, target: request.plan.target }, 'restore request expired');
      await this.showDecision(request.id);
    }
    return refusal;
  }

  private async start(request: RestoreRequest, approver: string): Promise<string | undefined> {
    const { deps } = this;
    const { plan } = request;
    const approval: Decision = { kind: 'approved', by: approver };
    // Decided first, in one atomic step on the shared store, and only then queued: of two
    // approvers clicking at once (on two replicas, each with a queue of its own) one queues a restore.
    if (!(await deps.approvals.decide(request.id, approval))) return this.lost(request.id);
    const trigger = approvedRestoreTrigger(request.requestedBy, approver);
    const enqueued = deps.maintenance.restore(plan, trigger);
    if (!enqueued.ok) return this.notStarted(request, approval, refusalText(enqueued.refusal));
    const { job, created } = enqueued;
    // Another restore of the target from this queue: only a different request can have queued it.
    if (!created) return this.notStarted(request, approval, `another ${job.kind} of \`${plan.target}\` is under way.`);
    await this.showDecision(request.id);
    deps.logger.info(
      {
        requestId: request.id,
        jobId: job.id,
        target: plan.target,
        key: plan.key,
        database: plan.database,
        requestedBy: request.requestedBy,
        approvedBy: approver,
      },
      'restore approved',
    );
    try {
      const place = request.ts
        ? { channel: request.channel, threadTs: request.ts, ownParent: true }
        : { channel: request.channel, ownParent: true };
      await deps.reporters.startThread(
        job,
        place,
        restoreThread({ plan, requestedBy: request.requestedBy, approvedBy: approver }, deps.redactor),
      );
    } catch (err) {
      deps.maintenance.queue.cancelJob(job.id, 'cancelled: its Slack thread could not be posted');
      const reply = await this.notStarted(request, approval, `its Slack thread could not be posted (${userMessage(err, deps.redactor)}).`);
      // The message showed it approved; its buttons come back.
      await this.showDecision(request.id);
      return reply;
    }
    return undefined;
  }

  /** Why our decision was not recorded: another one was first, or the request expired by the store's clock (ours may be behind). */
  private async lost(id: string): Promise<string> {
    const request = await this.pending(id);
    if (request.decision) return userMessage(decidedRefusal(request.decision), this.deps.redactor);
    if (await this.deps.approvals.decide(id, { kind: 'expired' })) {
      this.deps.logger.info({ requestId: id, target: request.plan.target }, 'restore request expired');
      await this.showDecision(id);
    }
    return userMessage(expiredRefusal(request), this.deps.redactor);
  }

  /**
   * An approval whose restore could not be queued is taken back: the request is open again (to
   * approve once the target is free, until it expires) rather than showing approved with nothing
   * running. Said in the request's thread, for the requester too; the approver gets the reply.
   */
  private async notStarted(request: RestoreRequest, approval: Extract<Decision, { kind: 'approved' }>, reason: string): Promise<string> {
    const { deps } = this;
    await deps.approvals.reopen(request.id, approval);
    deps.logger.info(
      { requestId: request.id, target: request.plan.target, approvedBy: approval.by, reason },
      'approved restore not started',
    );
    const { reply, ...message } = restoreNotStartedMessage(approval.by, reason);
    if (request.ts)
      await deps.chat
        .postMessage({ channel: request.channel, thread_ts: request.ts, ...message })
        .catch((err: unknown) => deps.logger.warn({ err, requestId: request.id }, 'could not say why an approved restore did not start'));
    return reply;
  }

  /** The approval message, edited to show the decision and lose its buttons. */
  private async showDecision(id: string): Promise<void> {
    const request = await this.deps.approvals.get(id);
    if (!request?.ts) return;
    const message = restoreApprovalMessage(request, restoreOptions(this.deps.config, request.plan.target).approvers);
    await this.deps.chat
      .update({ channel: request.channel, ts: request.ts, ...message })
      .catch((err: unknown) => this.deps.logger.warn({ err, requestId: id }, 'could not edit the restore request'));
  }
}
