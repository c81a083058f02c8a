import { describe, expect, it } from 'vitest';
import { InputError, userMessage } from '../../src/errors.js';
import { parseCommand } from '../../src/slack/commands/parse.js';

const targets = ['app-db', 'billing'];

function refusal(text: string): { code: string; text: string } {
  try {
    parseCommand(text, targets);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return { code: (err as InputError).code, text: userMessage(err) };
  }
  throw new Error(`${JSON.stringify(text)} was accepted`);
}

describe('parseCommand', () => {
  it.each([
    ['run app-db', { kind: 'run', target: 'app-db' }],
    ['app-db', { kind: 'run', target: 'app-db' }],
    ['  RUN   billing  ', { kind: 'run', target: 'billing' }],
    ['status', { kind: 'status' }],
    ['targets', { kind: 'targets' }],
    ['help', { kind: 'help' }],
    ['list app-db', { kind: 'list', target: 'app-db' }],
    ['cancel app-db', { kind: 'cancel', target: 'app-db' }],
    ['link app-db', { kind: 'link', target: 'app-db', key: 'latest' }],
    ['link app-db LATEST', { kind: 'link', target: 'app-db', key: 'latest' }],
    [
      'link app-db dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz',
      { kind: 'link', target: 'app-db', key: 'dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz' },
    ],
    // Keys pasted from the result message come wrapped in backticks.
    ['link app-db `app-db/x.sql.gz`', { kind: 'link', target: 'app-db', key: 'app-db/x.sql.gz' }],
    ['verify billing', { kind: 'verify', target: 'billing', key: 'latest' }],
    ['prune app-db', { kind: 'prune', target: 'app-db', confirm: false }],
    ['prune app-db CONFIRM', { kind: 'prune', target: 'app-db', confirm: true }],
  ])('%s', (text, expected) => {
    expect(parseCommand(text, targets)).toEqual(expected);
  });

  it('refuses an empty command with what would work', () => {
    expect(refusal('   ')).toEqual({
      code: 'BAD_INPUT',
      text: 'tell me what to do: /backup needs a command or a target\nTry `/backup run app-db`, or `/backup help` for every command.',
    });
  });

  it('refuses a missing target', () => {
    expect(refusal('run')).toEqual({
      code: 'BAD_INPUT',
      text: 'which target? `/backup run <target>` needs a target name\nTry `/backup run app-db`; targets: `app-db`, `billing`.',
    });
    expect(refusal('link').text).toBe(
      'which target? `/backup link <target> [key|latest]` needs a target name\nTry `/backup link app-db`; targets: `app-db`, `billing`.',
    );
  });

  it('refuses an unknown target and lists the known ones', () => {
    expect(refusal('run app-dbb')).toEqual({
      code: 'UNKNOWN_TARGET',
      text: 'unknown target `app-dbb`\nTargets: `app-db`, `billing`. `/backup targets` lists them.',
    });
    expect(refusal('nope').code).toBe('UNKNOWN_TARGET');
  });

  it('points out that target names are lowercase', () => {
    expect(refusal('list App-DB')).toEqual({
      code: 'UNKNOWN_TARGET',
      text: 'unknown target `App-DB`: target names are lowercase\nTry `/backup list app-db`.',
    });
  });

  it.each(['app-db;rm -rf /', '../etc/passwd', '$(reboot)', 'app-db|cat', 'a/b', '`app-db`', '&lt;!channel&gt;'])(
    'refuses shell and path characters in a target name: %s',
    (name) => {
      const text = name.includes(' ') ? `run ${name.split(' ')[0]}` : `run ${name}`;
      const { code, text: message } = refusal(text);
      expect(code).toBe('BAD_INPUT');
      expect(message).toMatch(
        /^`.+` is not a target name: names use only lowercase letters, digits, - and _\nTargets: `app-db`, `billing`/,
      );
    },
  );

  it('never lets echoed text close its code span', () => {
    expect(refusal('run a`b').text.split('\n')[0]).toBe('`ab` is not a target name: names use only lowercase letters, digits, - and _');
  });

  it('refuses extra words', () => {
    expect(refusal('run app-db now please')).toEqual({
      code: 'BAD_INPUT',
      text: 'unexpected extra words after `/backup run <target>`: `now please`\nUsage: `/backup run <target>`.',
    });
    expect(refusal('status app-db').text).toBe('unexpected extra words after `/backup status`: `app-db`\nUsage: `/backup status`.');
    expect(refusal('link app-db latest again').text).toBe(
      'unexpected extra words after `/backup link <target>`: `again`\nUsage: `/backup link <target> [key|latest]`.',
    );
  });

  it('refuses an unknown command with the list of commands', () => {
    expect(refusal('destroy app-db').text).toBe(
      'unknown command `destroy`\nCommands: run, status, list, link, cancel, verify, prune, snapshot, restore, snapshots, history, targets, help. Try `/backup help`.',
    );
  });

  it('prune takes only `confirm` after the target', () => {
    expect(refusal('prune app-db now')).toEqual({
      code: 'BAD_INPUT',
      text: '`now` is not `confirm`\n`/backup prune app-db` shows what would be deleted; `/backup prune app-db confirm` deletes it.',
    });
    expect(refusal('prune app-db confirm now').text).toBe(
      'unexpected extra words after `/backup prune <target>`: `now`\nUsage: `/backup prune <target> [confirm]`.',
    );
    expect(refusal('prune').text).toBe(
      'which target? `/backup prune <target> [confirm]` needs a target name\nTry `/backup prune app-db`; targets: `app-db`, `billing`.',
    );
  });

  it('refuses keys that are not keys', () => {
    expect(refusal('link app-db ../../other/x.sql.gz').text).toBe(
      '`../../other/x.sql.gz` is not a backup key\nUse `latest` or a key from `/backup list app-db`, e.g. `/backup link app-db latest`.',
    );
    expect(refusal('link app-db a;b').code).toBe('BAD_INPUT');
  });

  it('refuses very long text without echoing it', () => {
    const { text } = refusal(`run ${'a'.repeat(400)}`);
    expect(text).toBe('that command is 404 characters long; /backup commands are at most 300\nTry `/backup run app-db` or `/backup help`.');
  });

  it('shortens long words it echoes', () => {
    expect(refusal(`run ${'x'.repeat(100)}`).text.split('\n')[0]).toBe(`unknown target \`${'x'.repeat(39)}…\``);
  });
});
