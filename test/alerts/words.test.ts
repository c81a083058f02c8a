import { describe, expect, it } from 'vitest';
import { messageWords, plainText } from '../../src/alerts/words.js';

describe('messageWords', () => {
  it('reads text, resolving Slack markup and entities', () => {
    expect(
      messageWords({
        text: '*Backup failed* for <https://console.example/db?id=pg-1|pg-1> &amp; <#C1|ops>, cc <@U1> <!subteam^S1|@dba> <!here>',
      }),
    ).toBe('*Backup failed* for pg-1 https://console.example/db?id=pg-1 & #ops, cc @U1 @dba @here');
  });

  it('reads legacy attachments: pretext, author, title, text, fields as "title: value", footer, fallback', () => {
    const words = messageWords({
      text: '',
      attachments: [
        {
          pretext: 'RDS event',
          author_name: 'AWS Chatbot',
          title: 'DB instance event',
          text: 'Automated backup failed',
          fields: [{ title: 'Instance', value: 'pg-32lqva', short: true }, { title: 'Status', value: 'Failed' }, { value: 'no title' }],
          footer: 'Amazon RDS',
          fallback: 'RDS: backup failed for pg-32lqva',
          color: 'danger',
        },
      ],
    });
    expect(words).toBe(
      [
        'RDS event',
        'AWS Chatbot',
        'DB instance event',
        'Automated backup failed',
        'Instance: pg-32lqva',
        'Status: Failed',
        'no title',
        'Amazon RDS',
        'RDS: backup failed for pg-32lqva',
      ].join('\n'),
    );
  });

  it('reads Block Kit: header, section text and fields, context, markdown, and rich text recursively', () => {
    const words = messageWords({
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: '🔴 Backup failure' } },
        {
          type: 'section',
          text: { type: 'mrkdwn', text: '*Database:* `app-db-prod`' },
          fields: [{ type: 'mrkdwn', text: '*Region*\nap-northeast-2' }],
        },
        { type: 'divider' },
        {
          type: 'context',
          elements: [
            { type: 'image', image_url: 'x', alt_text: 'logo' },
            { type: 'mrkdwn', text: 'Grafana' },
          ],
        },
        { type: 'markdown', text: '**bold** markdown' },
        {
          type: 'rich_text',
          elements: [
            {
              type: 'rich_text_section',
              elements: [
                { type: 'text', text: '백업이 ' },
                { type: 'text', text: '실패', style: { bold: true } },
                { type: 'emoji', name: 'x' },
              ],
            },
            {
              type: 'rich_text_list',
              style: 'bullet',
              elements: [
                { type: 'rich_text_section', elements: [{ type: 'link', url: 'https://x.example', text: 'console' }] },
                {
                  type: 'rich_text_section',
                  elements: [
                    { type: 'user', user_id: 'U1' },
                    { type: 'text', text: ' ' },
                    { type: 'channel', channel_id: 'C1' },
                    { type: 'usergroup', usergroup_id: 'S1' },
                  ],
                },
              ],
            },
            {
              type: 'rich_text_quote',
              elements: [
                { type: 'text', text: 'quoted' },
                { type: 'date', timestamp: 1, format: '{date}', fallback: 'Jan 1' },
                { type: 'broadcast', range: 'channel' },
              ],
            },
            { type: 'rich_text_preformatted', elements: [{ type: 'text', text: 'ERROR: pg_dump failed\nline 2' }] },
          ],
        },
      ],
    });
    expect(words).toBe(
      [
        '🔴 Backup failure',
        '*Database:* `app-db-prod`',
        '*Region*',
        'ap-northeast-2',
        'Grafana',
        '**bold** markdown',
        '백업이 실패:x:',
        'console https://x.example',
        '@U1 #C1@S1',
        'quotedJan 1@channel',
        'ERROR: pg_dump failed',
        'line 2',
      ].join('\n'),
    );
  });

  it('reads blocks inside attachments, and survives shapes it does not know', () => {
    expect(
      messageWords({
        attachments: [{ blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'backup error' } }] }, null, 'x', 3] as unknown[],
      }),
    ).toBe('backup error');
    expect(messageWords({ blocks: [{ type: 'section' }, { type: 'rich_text', elements: 'nope' }, null] as unknown[] })).toBe('');
    expect(messageWords({})).toBe('');
  });

  it('plainText: a bare link stays a link; a date shows its fallback', () => {
    expect(plainText('<https://a.example/x>')).toBe('https://a.example/x');
    expect(plainText('<!date^1392734382^{date}|Feb 18, 2014>')).toBe('Feb 18, 2014');
    expect(plainText('<@U123>')).toBe('@U123');
    expect(plainText('<#C123>')).toBe('#C123');
  });
});
