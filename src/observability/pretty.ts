// One JSON log line -> one line a person can read: "12:03:04.567 INFO  [a1b2c3d4 app-db] backup started key=... size=...".
// A dozen lines instead of pino-pretty and its dependencies: it runs in-process and synchronously
// (no transport worker whose last lines are lost when the process exits), after redaction.

const LEVEL_COLOR: Readonly<Record<string, string>> = { trace: '90', debug: '36', info: '32', warn: '33', error: '31', fatal: '35' };
const SHOWN_ELSEWHERE = new Set(['time', 'level', 'msg', 'jobId', 'target', 'err', 'pid', 'hostname']);

export function prettyLine(line: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const paint = (code: string | undefined, text: string) => (color && code ? `\u001b[${code}m${text}\u001b[0m` : text);
  const level = String(entry.level ?? 'info');
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const job =
    entry.jobId !== undefined || entry.target !== undefined
      ? ` [${[entry.jobId, entry.target].filter((v) => v !== undefined).join(' ')}]`
      : '';
  const fields = Object.entries(entry)
    .filter(([k, v]) => !SHOWN_ELSEWHERE.has(k) && v !== undefined)
    .map(([k, v]) => `${paint('90', `${k}=`)}${typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)}`);
  const err = entry.err as { stack?: string; message?: string } | undefined;
  const stack = err ? `\n    ${(err.stack ?? err.message ?? '').split('\n').join('\n    ')}` : '';
  return `${time} ${paint(LEVEL_COLOR[level], level.toUpperCase().padEnd(5))}${job} ${String(entry.msg ?? '')}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}${stack}\n`;
}
