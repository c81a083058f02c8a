// The words of a Slack message, wherever its poster put them: `text`, legacy attachments, Block
// Kit blocks (also inside attachments). Alerts from webhooks often have an empty `text` and all
// their words in attachments or blocks. Pure.

/** The parts of a Slack message event that carry words; everything else is ignored. */
export interface MessageContent {
  readonly text?: string | undefined;
  readonly attachments?: readonly unknown[] | undefined;
  readonly blocks?: readonly unknown[] | undefined;
}

type Json = Record<string, unknown>;

/**
 * How much of a message is read as words: alerts say what failed in their first lines, and every
 * rule (ours and the team's) then runs over a bounded text whatever a poster sends (a Slack
 * message may carry 40,000 characters of text alone, plus attachments and blocks).
 */
export const SCAN_LIMITS = { lineChars: 1_000, totalChars: 8_000 } as const;

/**
 * Every human-readable string of the message, one per line, in reading order, with Slack's
 * markup resolved (`<url|label>` -> `label url`, `<@U1>` -> `@U1`, `&amp;` -> `&`). A field
 * becomes one line `title: value`, so "Status: Failed" stays together.
 */
export function messageWords(message: MessageContent): string {
  const lines: string[] = [];
  add(lines, message.text);
  for (const attachment of message.attachments ?? []) attachmentWords(asObject(attachment), lines);
  for (const block of message.blocks ?? []) blockWords(asObject(block), lines);
  return boundWords(
    lines
      .flatMap((l) => plainText(l).split('\n'))
      .map((l) => l.replace(/[ \t\u00a0]+/g, ' ').trim())
      .filter((l) => l !== '')
      .join('\n'),
  );
}

/** Line by line, each cut at SCAN_LIMITS.lineChars, until SCAN_LIMITS.totalChars are kept. */
export function boundWords(words: string): string {
  const kept: string[] = [];
  let total = 0;
  for (let start = 0; start <= words.length && total < SCAN_LIMITS.totalChars; ) {
    const next = words.indexOf('\n', start);
    const end = next < 0 ? words.length : next;
    const cut = words.slice(start, Math.min(end, start + SCAN_LIMITS.lineChars, start + SCAN_LIMITS.totalChars - total));
    kept.push(cut);
    total += cut.length + 1;
    start = end + 1;
  }
  return kept.join('\n');
}

function attachmentWords(a: Json | undefined, lines: string[]): void {
  if (!a) return;
  for (const key of ['pretext', 'author_name', 'title', 'text'] as const) add(lines, a[key]);
  for (const field of asArray(a.fields)) {
    const f = asObject(field);
    if (f) add(lines, [str(f.title), str(f.value)].filter(Boolean).join(': '));
  }
  add(lines, a.footer);
  // Clients show the fallback only when they cannot render the rest; it often holds the summary.
  add(lines, a.fallback);
  for (const block of asArray(a.blocks)) blockWords(asObject(block), lines);
}

function blockWords(block: Json | undefined, lines: string[]): void {
  if (!block) return;
  switch (block.type) {
    case 'section':
      add(lines, textOf(block.text));
      for (const field of asArray(block.fields)) add(lines, textOf(field));
      return;
    case 'header':
      add(lines, textOf(block.text));
      return;
    case 'context':
      for (const element of asArray(block.elements)) add(lines, textOf(element));
      return;
    case 'markdown':
      add(lines, block.text);
      return;
    case 'rich_text':
      for (const element of asArray(block.elements)) richTextWords(asObject(element), lines);
      return;
    default:
      return;
  }
}

/** rich_text containers (section, list, quote, preformatted) hold inline elements or more containers. */
function richTextWords(element: Json | undefined, lines: string[]): void {
  if (!element) return;
  const children = asArray(element.elements).map(asObject);
  if (element.type === 'rich_text_list') {
    for (const child of children) richTextWords(child, lines);
    return;
  }
  let line = '';
  for (const child of children) {
    if (!child) continue;
    if (typeof child.type === 'string' && child.type.startsWith('rich_text_')) {
      // A nested container: finish the current line first.
      add(lines, line);
      line = '';
      richTextWords(child, lines);
    } else {
      line += inlineText(child);
    }
  }
  add(lines, line);
}

function inlineText(e: Json): string {
  switch (e.type) {
    case 'text':
      return str(e.text);
    case 'link':
      return e.text ? `${str(e.text)} ${str(e.url)}` : str(e.url);
    case 'user':
      return `@${str(e.user_id)}`;
    case 'usergroup':
      return `@${str(e.usergroup_id)}`;
    case 'channel':
      return `#${str(e.channel_id)}`;
    case 'emoji':
      return `:${str(e.name)}:`;
    case 'broadcast':
      return `@${str(e.range)}`;
    case 'date':
      return str(e.fallback);
    default:
      return str(e.text);
  }
}

/** A text object ({ type: mrkdwn | plain_text, text }) or a context element. */
function textOf(value: unknown): string | undefined {
  const o = asObject(value);
  return o && typeof o.text === 'string' ? o.text : undefined;
}

/**
 * Slack's control sequences and entities as words: `<https://x|View>` -> `View https://x`,
 * `<#C1|ops>` -> `#ops`, `<@U1>` -> `@U1`, `<!subteam^S1|@dba>` -> `@dba`, `<!date^..|Jan 1>` -> `Jan 1`.
 */
export function plainText(mrkdwn: string): string {
  return mrkdwn
    .replace(/<([^<>]*)>/g, (_, inner: string) => {
      const bar = inner.indexOf('|');
      const target = bar < 0 ? inner : inner.slice(0, bar);
      const label = bar < 0 ? undefined : inner.slice(bar + 1);
      if (target.startsWith('@')) return label ? `@${label.replace(/^@/, '')}` : target;
      if (target.startsWith('#')) return label ? `#${label}` : target;
      if (target.startsWith('!')) return label ?? `@${target.slice(1).replace(/^subteam\^/, '')}`;
      return label ? `${label} ${target}` : target;
    })
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function add(lines: string[], value: unknown): void {
  if (typeof value === 'string' && value.trim() !== '') lines.push(value);
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function asObject(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function asArray(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}
