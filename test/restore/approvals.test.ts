import { describe, expect, it } from 'vitest';
import { approvalRefusal, denialRefusal, MemoryApprovals, type RestoreRequest } from '../../src/restore/approvals.js';
import { RESTORE_DEFAULTS, type RestorePlan } from '../../src/restore/restore.js';

// Who may approve or deny a restore request, and when: pure rules, and the store's one-decision guarantee.

const plan = { target: 'app-db', key: 'k', database: 'app_copy' } as RestorePlan;
const request: RestoreRequest = {
  id: 'r1',
  plan,
  requestedBy: 'U0ALICE',
  channel: 'C0OPS',
  requestedAt: new Date(0),
  expiresAt: new Date(60_000),
};
const options = { ...RESTORE_DEFAULTS, approvers: ['U0ALICE', 'U0BOB'] };
const at = new Date(30_000);

describe('approvalRefusal', () => {
  it('an approver other than the requester may approve before expiry', () => {
    expect(approvalRefusal(request, 'U0BOB', options, at)).toBeUndefined();
  });

  it('two-person rule: the requester may not, unless twoPerson is false', () => {
    expect(approvalRefusal(request, 'U0ALICE', options, at)?.message).toBe(
      'you asked for this restore, so someone else must approve it (two-person rule)',
    );
    expect(approvalRefusal(request, 'U0ALICE', { ...options, twoPerson: false }, at)).toBeUndefined();
    expect(approvalRefusal(request, 'U0ALICE', { ...options, approvers: ['U0ALICE'] }, at)?.hint).toBe(
      'Ask another approver: there is none besides you; an admin adds one to restore.approvers.',
    );
  });

  it('someone not in approvers may not, nor anyone once it expired or was decided', () => {
    expect(approvalRefusal(request, 'U0EVE', options, at)?.code).toBe('NOT_ALLOWED');
    expect(approvalRefusal(request, 'U0BOB', options, new Date(60_000))?.message).toBe(
      'that restore request has expired, so it can no longer be approved',
    );
    expect(approvalRefusal({ ...request, decision: { kind: 'denied', by: 'U0BOB' } }, 'U0BOB', options, at)?.message).toBe(
      'that restore request was already denied by <@U0BOB>',
    );
  });
});

describe('denialRefusal', () => {
  it('approvers and the requester may deny; others may not', () => {
    expect(denialRefusal(request, 'U0BOB', options)).toBeUndefined();
    expect(denialRefusal(request, 'U0ALICE', { ...options, approvers: ['U0BOB'] })).toBeUndefined();
    expect(denialRefusal(request, 'U0EVE', options)?.code).toBe('NOT_ALLOWED');
  });
});

describe('MemoryApprovals', () => {
  it('records one decision: the second click loses', async () => {
    const store = new MemoryApprovals(() => new Date(1_000));
    await store.put(request);
    expect(await store.decide('r1', { kind: 'approved', by: 'U0BOB' })).toBe(true);
    expect(await store.decide('r1', { kind: 'denied', by: 'U0ALICE' })).toBe(false);
    expect((await store.get('r1'))?.decision).toEqual({ kind: 'approved', by: 'U0BOB' });
    expect(await store.decide('nope', { kind: 'expired' })).toBe(false);
  });

  it('judges expiry by its clock: approved or denied only before, expired only after', async () => {
    let now = 59_999;
    const store = new MemoryApprovals(() => new Date(now));
    await store.put(request);
    expect(await store.decide('r1', { kind: 'expired' })).toBe(false);
    now = 60_000;
    expect(await store.decide('r1', { kind: 'approved', by: 'U0BOB' })).toBe(false);
    expect(await store.decide('r1', { kind: 'denied', by: 'U0BOB' })).toBe(false);
    expect(await store.decide('r1', { kind: 'expired' })).toBe(true);
  });

  it('reopens only the decision it is given', async () => {
    const store = new MemoryApprovals(() => new Date(1_000));
    await store.put(request);
    expect(await store.decide('r1', { kind: 'approved', by: 'U0BOB' })).toBe(true);
    await store.reopen('r1', { kind: 'approved', by: 'U0CAROL' });
    expect((await store.get('r1'))?.decision).toEqual({ kind: 'approved', by: 'U0BOB' });
    await store.reopen('r1', { kind: 'approved', by: 'U0BOB' });
    expect((await store.get('r1'))?.decision).toBeUndefined();
    expect(await store.decide('r1', { kind: 'approved', by: 'U0CAROL' })).toBe(true);
  });
});
