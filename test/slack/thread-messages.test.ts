import { describe, expect, it } from 'vitest';
import { CancelledError, DumptruckError, userMessage } from '../../src/errors.js';
import type { ProgressInfo } from '../../src/jobs/events.js';
import { parentMessage, resultMessage, statusMessage } from '../../src/slack/messages/thread.js';
import { applyEvent, type Phase, type ThreadView } from '../../src/slack/messages/view.js';
import { fakeResult, fakeStarted } from '../jobs/fake-runner.js';

const KEY = 'dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz';
const view = (phase: Phase): ThreadView => ({ jobId: 'job1', target: 'app-db', trigger: { kind: 'slack', by: 'U1' }, phase });
const result = fakeResult('app-db');
const started = fakeStarted('app-db');
const progress: ProgressInfo = {
  dumpedBytes: 47_185_920,
  storedBytes: 12_582_912,
  elapsedMs: 15_000,
  bytesPerSecond: 3_145_728,
  estimatedBytes: 157_286_400,
};
const dumpError = new DumptruckError('DUMP_FAILED', 'dump', 'pg_dump exited with code 1', {
  stderrTail: 'pg_dump: error: database "nope" does not exist <!channel>',
});

const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
const context = (text: string) => ({ type: 'context', elements: [{ type: 'mrkdwn', text }] });
const cancelButton = {
  type: 'actions',
  elements: [
    {
      type: 'button',
      action_id: 'dumptruck_cancel',
      text: { type: 'plain_text', text: 'Cancel' },
      value: 'job1',
      style: 'danger',
      confirm: {
        title: { type: 'plain_text', text: 'Cancel this backup?' },
        text: { type: 'mrkdwn', text: 'The dump of `app-db` stops and nothing is stored.' },
        confirm: { type: 'plain_text', text: 'Cancel backup' },
        deny: { type: 'plain_text', text: 'Keep running' },
      },
    },
  ],
};

describe('parentMessage', () => {
  it('while the job is active', () => {
    const text = ':package: Backup of `app-db` requested by <@U1>. Progress in the thread.';
    expect(parentMessage(view({ kind: 'queued', position: 1 }))).toEqual({ text, blocks: [section(text), context('job `job1`')] });
  });

  it('with each outcome', () => {
    expect(parentMessage(view({ kind: 'finished', result })).text).toBe(
      ':white_check_mark: Backup of `app-db` requested by <@U1> finished: 12.0 MiB in 1m 3s.',
    );
    expect(parentMessage(view({ kind: 'failed', error: dumpError })).text).toBe(
      ':x: Backup of `app-db` requested by <@U1> failed (stage dump).',
    );
    expect(parentMessage(view({ kind: 'failed', error: new CancelledError('cancelled by <@U2>') })).text).toBe(
      ':no_entry_sign: Backup of `app-db` requested by <@U1> was cancelled.',
    );
  });

  it('names retries and other triggers', () => {
    const v = { ...view({ kind: 'queued', position: 1 }), trigger: { kind: 'retry', by: 'U2' } as const };
    expect(parentMessage(v).text).toBe(':package: Backup of `app-db` requested by <@U2> (retry). Progress in the thread.');
  });
});

describe('statusMessage', () => {
  it('queued: next, or the position and how many are ahead, with a Cancel button', () => {
    const next = ':hourglass_flowing_sand: `app-db` is queued: next to start.';
    expect(statusMessage(view({ kind: 'queued', position: 1 }))).toEqual({ text: next, blocks: [section(next), cancelButton] });
    const third = ':hourglass_flowing_sand: `app-db` is queued: position 3, 2 ahead of it.';
    expect(statusMessage(view({ kind: 'queued', position: 3 }))).toEqual({ text: third, blocks: [section(third), cancelButton] });
  });

  it('starting and started', () => {
    const starting = ':arrow_forward: Starting the backup of `app-db`…';
    expect(statusMessage(view({ kind: 'running' }))).toEqual({ text: starting, blocks: [section(starting), cancelButton] });
    const dumping = `:arrow_forward: Dumping \`app-db\` (PostgreSQL 16.4, about 150 MiB) into \`${KEY}\`.`;
    expect(statusMessage(view({ kind: 'running', started }))).toEqual({ text: dumping, blocks: [section(dumping), cancelButton] });
  });

  it('progress: bytes dumped and stored, rate, elapsed and an estimate from the database size', () => {
    expect(statusMessage(view({ kind: 'running', started, progress }))).toEqual({
      text: `:arrow_forward: Dumping \`app-db\` into \`${KEY}\`: 45.0 MiB dumped, 12.0 MiB stored, 3.0 MiB/s, 15s elapsed, about 30% of 150 MiB, 35s left.`,
      blocks: [
        section(`:arrow_forward: Dumping \`app-db\` into \`${KEY}\`.`),
        {
          type: 'section',
          fields: [
            { type: 'mrkdwn', text: '*Dumped*\n45.0 MiB' },
            { type: 'mrkdwn', text: '*Stored*\n12.0 MiB' },
            { type: 'mrkdwn', text: '*Rate*\n3.0 MiB/s' },
            { type: 'mrkdwn', text: '*Elapsed*\n15s' },
            { type: 'mrkdwn', text: '*Estimate*\nabout 30% of 150 MiB, 35s left' },
          ],
        },
        cancelButton,
      ],
    });
  });

  it('progress past the estimate, and without one', () => {
    const past = statusMessage(view({ kind: 'running', progress: { ...progress, estimatedBytes: 10_485_760 } }));
    expect(past.text).toBe(
      ':arrow_forward: Dumping `app-db`: 45.0 MiB dumped, 12.0 MiB stored, 3.0 MiB/s, 15s elapsed, past the estimate of 10.0 MiB.',
    );
    const none = statusMessage(view({ kind: 'running', progress: { ...progress, estimatedBytes: 0, bytesPerSecond: 0 } }));
    expect(none.text).toBe(':arrow_forward: Dumping `app-db`: 45.0 MiB dumped, 12.0 MiB stored, 0 B/s, 15s elapsed.');
  });

  it('final states carry no buttons', () => {
    expect(statusMessage(view({ kind: 'finished', result }))).toEqual({
      text: ':white_check_mark: Done in 1m 3s: dumped 45.0 MiB, stored 12.0 MiB.',
      blocks: [section(':white_check_mark: Done in 1m 3s: dumped 45.0 MiB, stored 12.0 MiB.')],
    });
    expect(statusMessage(view({ kind: 'failed', error: dumpError, progress }))).toEqual({
      text: ':x: Failed after 15s (stage dump).',
      blocks: [section(':x: Failed after 15s (stage dump).')],
    });
    expect(statusMessage(view({ kind: 'failed', error: new CancelledError('cancelled by <@U2>') })).text).toBe(
      ':no_entry_sign: Cancelled by <@U2>.',
    );
  });
});

describe('resultMessage', () => {
  const link = {
    url: 'https://s3.example/backups/x.sql.gz?X-Amz-Expires=86400&X-Amz-Signature=abc',
    expiresAt: new Date('2024-05-02T03:01:03Z'),
  };

  it('success: key, size, SHA-256, duration, and the link as a button and in the text', () => {
    expect(resultMessage(view({ kind: 'finished', result }), { link: { kind: 'ok', link } })).toEqual({
      text: [
        ':white_check_mark: Backup of `app-db` finished.',
        `Key: ${KEY}`,
        'Size: 12.0 MiB stored, 45.0 MiB dumped',
        `SHA-256: ${'a'.repeat(64)}`,
        'Duration: 1m 3s',
        `Download (link expires 2024-05-02 03:01 UTC): ${link.url}`,
      ].join('\n'),
      blocks: [
        section(':white_check_mark: Backup of `app-db` finished.'),
        {
          type: 'section',
          fields: [
            { type: 'mrkdwn', text: `*Key*\n\`${KEY}\`` },
            { type: 'mrkdwn', text: '*Size*\n12.0 MiB (45.0 MiB dumped)' },
            { type: 'mrkdwn', text: `*SHA-256*\n\`${'a'.repeat(64)}\`` },
            { type: 'mrkdwn', text: '*Duration*\n1m 3s' },
          ],
        },
        {
          type: 'actions',
          elements: [
            {
              type: 'button',
              action_id: 'dumptruck_download',
              text: { type: 'plain_text', text: 'Download' },
              url: link.url,
              style: 'primary',
            },
          ],
        },
        context(
          'The link expires <!date^1714618863^{date_short_pretty} {time}|2024-05-02 03:01 UTC>; `/backup link app-db latest` makes a fresh one.',
        ),
      ],
    });
  });

  it('success says which compression was used and the ratio it achieved; for custom archives, that pg_dump compressed', () => {
    const zstd = resultMessage(view({ kind: 'finished', result: { ...result, compression: { algorithm: 'zstd', level: 3 } } }), {
      link: { kind: 'withheld' },
    });
    expect(zstd.text.split('\n').slice(2, 4)).toEqual(['Size: 12.0 MiB stored, 45.0 MiB dumped', 'Compression: zstd level 3, ratio 3.75x']);
    expect(zstd.blocks[1]).toMatchObject({
      fields: expect.arrayContaining([{ type: 'mrkdwn', text: '*Compression*\nzstd level 3, ratio 3.75x' }]),
    });
    const custom = resultMessage(
      view({ kind: 'finished', result: { ...result, format: 'custom', compression: { algorithm: 'gzip', level: 6 } } }),
      { link: { kind: 'withheld' } },
    );
    expect(custom.text).toContain("Compression: gzip level 6, inside pg_dump's archive");
  });

  it('success in a channel the target does not allow: no link', () => {
    const message = resultMessage(view({ kind: 'finished', result }), { link: { kind: 'withheld' } });
    expect(message.text.split('\n').at(-1)).toBe('No download link here: `app-db` does not allow this channel.');
    expect(JSON.stringify(message.blocks)).not.toContain('https://');
    expect(message.blocks.at(-1)).toEqual(
      context('No download link: `app-db` does not allow this channel. Use `/backup link app-db latest` in one it allows.'),
    );
  });

  it("an encrypted backup: says so, with the recipients' fingerprints and the exact restore command, in text and blocks", () => {
    const encrypted = fakeResult('app-db', { key: `${KEY}.age`, encryption: { recipients: ['0123456789abcdef', 'fedcba9876543210'] } });
    const message = resultMessage(view({ kind: 'finished', result: encrypted }), { link: { kind: 'ok', link } });
    expect(message.text.split('\n').slice(1, 6)).toEqual([
      `Key: ${KEY}.age`,
      'Size: 12.0 MiB stored, 45.0 MiB dumped',
      `SHA-256: ${'a'.repeat(64)}`,
      'Duration: 1m 3s',
      'Encrypted with age to 2 recipients (0123456789abcdef, fedcba9876543210); restore with the private key: age -d -i key.txt app-db_20240501T030000Z.sql.gz.age | gunzip | psql -v ON_ERROR_STOP=1 "$DATABASE_URL"',
    ]);
    expect(message.text.split('\n').at(-1)).toBe(`Download (link expires 2024-05-02 03:01 UTC): ${link.url}`);
    expect(message.blocks[2]).toEqual(
      section(
        ':lock: Encrypted with age to 2 recipients (`0123456789abcdef`, `fedcba9876543210`). Restore with the private key:\n`age -d -i key.txt app-db_20240501T030000Z.sql.gz.age | gunzip | psql -v ON_ERROR_STOP=1 "$DATABASE_URL"`',
      ),
    );
  });

  it('a target with links: false: no link at all, and it says why', () => {
    const message = resultMessage(view({ kind: 'finished', result }), { link: { kind: 'disabled' } });
    expect(message.text.split('\n').at(-1)).toBe('No download link: links are turned off for `app-db`.');
    expect(JSON.stringify(message.blocks)).not.toContain('https://');
    expect(message.blocks.at(-1)).toEqual(context('No download link: links are turned off for `app-db` (`links: false`).'));
  });

  it('success whose link could not be made', () => {
    const message = resultMessage(view({ kind: 'finished', result }), { link: { kind: 'error', message: 'storage failed: <timeout>' } });
    expect(message.text.split('\n').at(-1)).toBe('The download link could not be made: storage failed: &lt;timeout&gt;');
  });

  it('failure: stage and reason (escaped, so stderr cannot ping a channel) and a Retry button', () => {
    const reason = userMessage(dumpError);
    const retry = { target: 'app-db', ownParent: true };
    const head = ':x: Backup of `app-db` failed (stage `dump`). Nothing was stored.';
    const escaped =
      'dump failed: pg_dump exited with code 1\npg_dump said:\npg_dump: error: database "nope" does not exist &lt;!channel&gt;';
    expect(resultMessage(view({ kind: 'failed', error: dumpError }), { reason, retry })).toEqual({
      text: `${head}\n${escaped}`,
      blocks: [
        section(head),
        section(`\`\`\`${escaped}\`\`\``),
        {
          type: 'actions',
          elements: [
            {
              type: 'button',
              action_id: 'dumptruck_retry',
              text: { type: 'plain_text', text: 'Retry' },
              value: '{"target":"app-db","ownParent":true}',
            },
          ],
        },
      ],
    });
  });

  it('cancelled: who cancelled it, no Retry', () => {
    const text = ':no_entry_sign: Backup of `app-db` cancelled by <@U2>. Nothing was stored.';
    expect(resultMessage(view({ kind: 'failed', error: new CancelledError('cancelled by <@U2>') }), {})).toEqual({
      text,
      blocks: [section(text)],
    });
  });

  it('cuts a very long reason to fit a section', () => {
    const long = resultMessage(view({ kind: 'failed', error: dumpError }), { reason: 'x'.repeat(5000) });
    const block = long.blocks[1] as { text: { text: string } };
    expect(block.text.text.length).toBeLessThanOrEqual(3000);
  });
});

describe('applyEvent', () => {
  it('folds events into the newest phase, keeping start info for progress and failure', () => {
    let v = view({ kind: 'queued', position: 2 });
    v = applyEvent(v, { type: 'queued', jobId: 'job1', target: 'app-db', position: 1 });
    expect(v.phase).toEqual({ kind: 'queued', position: 1 });
    v = applyEvent(v, { type: 'started', jobId: 'job1', info: started });
    v = applyEvent(v, { type: 'progress', jobId: 'job1', progress });
    expect(v.phase).toEqual({ kind: 'running', started, progress });
    v = applyEvent(v, { type: 'failed', jobId: 'job1', target: 'app-db', error: dumpError });
    expect(v.phase).toEqual({ kind: 'failed', started, progress, error: dumpError });
  });
});
