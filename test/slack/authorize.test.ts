import { describe, expect, it } from 'vitest';
import { InputError, userMessage } from '../../src/errors.js';
import { authorize, channelAllowed } from '../../src/slack/commands/authorize.js';
import { slackTestConfig } from '../helpers/slack-config.js';

const config = slackTestConfig({
  open: {},
  ops: { channels: ['C0OPS', 'C0DBA'] },
  locked: { channels: ['C0OPS'], users: ['U0ALICE', 'U0BOB'] },
});
const t = (name: string) => config.targets[name]!;

function refusal(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).code).toBe('NOT_ALLOWED');
    return userMessage(err);
  }
  throw new Error('allowed');
}

describe('authorize', () => {
  it('lets anyone anywhere run a target without lists', () => {
    expect(() => authorize('open', t('open'), { userId: 'U1', channelId: 'C1' }, 'back up')).not.toThrow();
    expect(() => authorize('open', t('open'), { userId: 'U1', channelId: 'D1' }, 'back up')).not.toThrow();
  });

  it('limits a target to its channels and says which ones', () => {
    expect(() => authorize('ops', t('ops'), { userId: 'U1', channelId: 'C0DBA' }, 'back up')).not.toThrow();
    expect(refusal(() => authorize('ops', t('ops'), { userId: 'U1', channelId: 'C0RANDOM' }, 'back up'))).toBe(
      "you can't back up `ops` from this channel\n`ops` is allowed in <#C0OPS>, <#C0DBA>; ask there.",
    );
  });

  it('limits a target to its users, in its channels only', () => {
    expect(() => authorize('locked', t('locked'), { userId: 'U0BOB', channelId: 'C0OPS' }, 'cancel backups of')).not.toThrow();
    expect(refusal(() => authorize('locked', t('locked'), { userId: 'U0EVE', channelId: 'C0OPS' }, 'get links to backups of'))).toBe(
      'you are not on the list of people who may get links to backups of `locked`\nAsk one of <@U0ALICE>, <@U0BOB>, or have your user id added to targets.locked.users.',
    );
    // The channel is checked first: an allowed user in the wrong channel still gets no link there.
    expect(
      refusal(() => authorize('locked', t('locked'), { userId: 'U0ALICE', channelId: 'C0RANDOM' }, 'get links to backups of')),
    ).toMatch(/^you can't get links to backups of `locked` from this channel/);
  });

  it('channelAllowed is the rule for where links may be posted', () => {
    expect(channelAllowed(t('open'), 'C1')).toBe(true);
    expect(channelAllowed(t('ops'), 'C0OPS')).toBe(true);
    expect(channelAllowed(t('ops'), 'C1')).toBe(false);
  });
});
