import { describe, expect, it } from 'vitest';
import { machineMayRun, posterAllowed, readAlertMessage, type SlackMessageEvent } from '../../src/alerts/message.js';
import { SeenAlerts } from '../../src/alerts/seen.js';

const opts = { channels: ['C0ALERTS', 'G0PRIVATE'], self: { botId: 'B0BOT', userId: 'U0BOT' }, eventId: 'Ev1' };
const msg = (fields: Partial<SlackMessageEvent>): SlackMessageEvent => ({
  type: 'message',
  channel: 'C0ALERTS',
  ts: '1700000000.000100',
  text: 'backup failed',
  ...fields,
});

describe('readAlertMessage', () => {
  it('a user message in an alerts channel: its words, poster and every key it can be recognised by', () => {
    expect(readAlertMessage(msg({ user: 'U0ALICE', client_msg_id: 'abc-123' }), opts)).toEqual({
      kind: 'alert',
      channel: 'C0ALERTS',
      ts: '1700000000.000100',
      by: 'U0ALICE',
      poster: { userId: 'U0ALICE', botId: undefined, appId: undefined, username: undefined, person: true },
      words: 'backup failed',
      keys: ['ts:C0ALERTS:1700000000.000100', 'event:Ev1', 'client:abc-123'],
    });
  });

  it('a person is a user without a bot id; an app posting as its bot user, a webhook or a workflow is not', () => {
    const person = (fields: Partial<SlackMessageEvent>) => {
      const read = readAlertMessage(msg(fields), opts);
      return read.kind === 'alert' ? read.poster.person : undefined;
    };
    expect(person({ user: 'U0ALICE' })).toBe(true);
    expect(person({ user: 'U0GRAFANABOT', bot_id: 'B0GRAFANA', app_id: 'A0GRAFANA' })).toBe(false);
    expect(person({ subtype: 'bot_message', bot_id: 'B0HOOK', username: 'RDS alerts' })).toBe(false);
    expect(person({ subtype: 'bot_message', username: 'legacy hook' })).toBe(false);
  });

  it('webhooks and other apps: bot_message with attachments, posted by their bot id', () => {
    const read = readAlertMessage(
      msg({ subtype: 'bot_message', bot_id: 'B0AWS', username: 'AWS Chatbot', text: '', attachments: [{ title: 'RDS backup failed' }] }),
      opts,
    );
    expect(read).toMatchObject({ kind: 'alert', by: 'B0AWS', words: 'RDS backup failed' });
  });

  it('private channels count like public ones', () => {
    expect(readAlertMessage(msg({ channel: 'G0PRIVATE', user: 'U1' }), opts).kind).toBe('alert');
  });

  it('skips: other channels, the bot itself (by bot id or user id), housekeeping subtypes, thread replies', () => {
    expect(readAlertMessage(msg({ channel: 'C0OTHER' }), opts)).toEqual({ kind: 'skip', reason: 'not an alerts channel' });
    expect(readAlertMessage(msg({ bot_id: 'B0BOT' }), opts)).toEqual({ kind: 'skip', reason: 'own message' });
    expect(readAlertMessage(msg({ subtype: 'bot_message', bot_id: 'B0BOT' }), opts)).toEqual({ kind: 'skip', reason: 'own message' });
    expect(readAlertMessage(msg({ user: 'U0BOT' }), opts)).toEqual({ kind: 'skip', reason: 'own message' });
    expect(readAlertMessage(msg({ subtype: 'channel_join', user: 'U1' }), opts)).toEqual({ kind: 'skip', reason: 'subtype channel_join' });
    expect(readAlertMessage(msg({ user: 'U1', thread_ts: '1699999999.000100' }), opts)).toEqual({ kind: 'skip', reason: 'thread reply' });
    // The parent of a thread carries its own ts as thread_ts.
    expect(readAlertMessage(msg({ user: 'U1', thread_ts: '1700000000.000100' }), opts).kind).toBe('alert');
  });

  it('edits and deletions: only their keys, to recognise an alert already handled', () => {
    const edit = msg({
      subtype: 'message_changed',
      ts: '1700000050.000100',
      message: { ts: '1700000000.000100', text: 'backup failed (edited)', client_msg_id: 'abc-123' },
    });
    expect(readAlertMessage(edit, opts)).toEqual({
      kind: 'edit',
      channel: 'C0ALERTS',
      ts: '1700000000.000100',
      keys: ['ts:C0ALERTS:1700000000.000100', 'client:abc-123'],
    });
    expect(readAlertMessage(msg({ subtype: 'message_deleted', deleted_ts: '1700000000.000100' }), opts)).toEqual({
      kind: 'edit',
      channel: 'C0ALERTS',
      ts: '1700000000.000100',
      keys: ['ts:C0ALERTS:1700000000.000100'],
    });
    expect(readAlertMessage(msg({ subtype: 'message_changed', message: { ts: '1', bot_id: 'B0BOT' } }), opts)).toEqual({
      kind: 'skip',
      reason: 'own message',
    });
  });
});

describe('posterAllowed', () => {
  const hook = { botId: 'B0HOOK', appId: 'A0HOOK', username: 'RDS alerts', person: false };
  it('an empty alerts.posters allows everyone', () => {
    expect(posterAllowed(hook, [])).toBe(true);
    expect(posterAllowed({ userId: 'U0EVE', person: true }, [])).toBe(true);
  });

  it("otherwise one of the poster's ids must be listed: bot id, app id or user id; a username only beside its bot id", () => {
    for (const listed of ['B0HOOK', 'A0HOOK', 'B0HOOK:RDS alerts']) expect(posterAllowed(hook, [listed])).toBe(true);
    expect(posterAllowed(hook, ['B0OTHER', 'RDS alerts', 'B0HOOK:rds alerts', 'B0OTHER:RDS alerts'])).toBe(false);
    expect(posterAllowed({ userId: 'U0EVE', person: true }, ['B0HOOK'])).toBe(false);
    expect(posterAllowed({ userId: 'U0ADMIN', person: true }, ['U0ADMIN'])).toBe(true);
  });
});

describe('machineMayRun', () => {
  const hook = { botId: 'B0HOOK', appId: 'A0HOOK', username: 'RDS alerts', person: false };
  const person = { userId: 'U0EVE', person: true };
  it('a target with users: machines only when alerts.posters lists them (fail closed on an empty list)', () => {
    expect(machineMayRun(hook, [], ['U0ADMIN'])).toBe(false);
    expect(machineMayRun(hook, ['B0OTHER'], ['U0ADMIN'])).toBe(false);
    expect(machineMayRun(hook, ['A0HOOK'], ['U0ADMIN'])).toBe(true);
  });
  it('people are held to users elsewhere; a target without users takes any poster alerts.posters lets through', () => {
    expect(machineMayRun(person, [], ['U0ADMIN'])).toBe(true);
    expect(machineMayRun(hook, [], [])).toBe(true);
  });
});

describe('SeenAlerts', () => {
  it('recognises any key an alert arrived under, until it expires or is pushed out', () => {
    let now = 0;
    const seen = new SeenAlerts<string>({ now: () => now, ttlMs: 1000, maxKeys: 3 });
    seen.remember(['ts:C:1', 'event:E1'], 'r1');
    expect(seen.get(['event:E1'])).toBe('r1');
    expect(seen.get(['event:E2', 'ts:C:1'])).toBe('r1');
    expect(seen.get(['ts:C:2'])).toBeUndefined();
    seen.remember(['ts:C:2', 'event:E2'], 'r2');
    // Four keys, at most three: the oldest goes.
    expect(seen.get(['ts:C:1'])).toBeUndefined();
    expect(seen.get(['event:E1'])).toBe('r1');
    now = 1000;
    expect(seen.get(['event:E1', 'ts:C:2'])).toBeUndefined();
  });
});
