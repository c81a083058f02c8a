import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { USAGE } from '../../src/slack/commands/parse.js';

describe('manifest.yml', () => {
  it('declares /backup, interactivity, alert messages, Socket Mode and only the scopes the bot uses', async () => {
    const manifest = parse(await readFile('manifest.yml', 'utf8'));
    expect(manifest.features.slash_commands.map((c: { command: string }) => c.command)).toEqual(['/backup']);
    expect(manifest.oauth_config.scopes.bot).toEqual(['commands', 'chat:write', 'channels:history', 'groups:history']);
    expect(manifest.oauth_config.scopes.user).toBeUndefined();
    // Messages only, for alert channels (public and private); no other events.
    expect(manifest.settings.event_subscriptions).toEqual({ bot_events: ['message.channels', 'message.groups'] });
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.settings.socket_mode_enabled).toBe(true);
  });

  it("the command's usage hint names every command the bot parses, as the help does", async () => {
    const manifest = parse(await readFile('manifest.yml', 'utf8'));
    const hint = Object.values(USAGE)
      .map((usage) => usage.replace(/^\/backup /, ''))
      .join(' | ');
    expect(manifest.features.slash_commands[0].usage_hint).toBe(hint);
    // Slack's manifest schema (slackapi/manifest-schema) caps usage_hint at 1,000 characters.
    expect(hint.length).toBeLessThanOrEqual(1000);
  });
});
