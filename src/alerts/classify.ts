// Is this message a backup-FAILURE alert? Built-in rules for the usual English and Korean wording
// of cloud providers' and monitoring tools' alerts, plus the team's own patterns from config.
// An ignore rule (success, start, progress, recovery) wins over any failure rule: a recovery
// notice repeats the failure's title, and a success message must never start a run. Pure.
//
// Alerts are untrusted text, read on the event loop: every built-in rule runs in time linear in
// the message. None has an unbounded repeat; spacing is normalised to single characters first,
// so `\s?` stands where `\s*` would let a long run of whitespace be split in quadratically many
// ways (a 40 KB alert held the bot for seconds). The input itself is bounded (SCAN_LIMITS), and
// teams' patterns are held to the same standard when the config is loaded.
import { boundWords } from './words.js';

export interface AlertPatterns {
  /** Regular expression sources, matched case-insensitively against the alert's words. */
  readonly failure: readonly string[];
  readonly ignore: readonly string[];
}

export interface Rule {
  /** Shown in logs and replies: what kind of wording matched. */
  readonly name: string;
  readonly regex: RegExp;
  /** Wordings this rule is meant for (tests and the README list them). */
  readonly examples: readonly string[];
  /** A team's pattern from config: it also reads the words as shown, not only the normalised copy. */
  readonly own?: boolean;
}

export interface AlertRules {
  readonly failure: readonly Rule[];
  readonly ignore: readonly Rule[];
}

export type Classification =
  | { readonly kind: 'failure'; readonly rule: string; readonly phrase: string }
  /** Failure wording may be present too, but an ignore rule matched. */
  | { readonly kind: 'ignored'; readonly rule: string; readonly phrase: string }
  | { readonly kind: 'other' };

// English words are matched on letter boundaries rather than \b, so that `db_backup_failed`
// (underscores become spaces first) and Unicode neighbours behave.
const L = '(?<![\\p{L}\\p{N}])';
const R = '(?![\\p{L}\\p{N}])';
/** Up to `n` characters within one sentence: no line break, no sentence-ending punctuation followed by a space. */
const near = (n: number) => `(?:(?![.!?](?:\\s|$))[^\\n]){0,${n}}?`;

const BACKUP = `(?:backups?|snapshots?|backing up|pg dump)`;
const FAILED = `(?:failed|fails|failing|failure|failures|errors?|errored|unsuccessful|did not (?:complete|succeed|finish)|could not be (?:completed|created|taken|started)|was not (?:completed|created|taken)|not completed)`;
const ACTION = `(?:create|take|complete|perform|run|start|finish|make|initiate|back up)`;

/** "백업 완료하지 못함", "백업 시작 실패": the word after a success/start word turns it into a failure. */
const NOT_FAILED_KO = '(?! ?(?:하지|되지|못|실패|오류|에러))';

const en = (name: string, pattern: string, examples: readonly string[]): Rule => ({
  name,
  regex: new RegExp(`${L}${pattern}${R}`, 'iu'),
  examples,
});
const ko = (name: string, pattern: string, examples: readonly string[]): Rule => ({ name, regex: new RegExp(pattern, 'u'), examples });

export const BUILT_IN_FAILURE: readonly Rule[] = [
  en('backup failed', `${BACKUP}${near(80)}${L}${FAILED}`, [
    'backup failed',
    'Backup failure',
    'backup job failed',
    'Automated backup of app-db failed',
    'The backup of database app-db has failed',
    'backup completed with errors',
    'backup error',
    'Backup: FAILED',
    'BACKUP_JOB_FAILED',
    'snapshot creation failed',
    'pg_dump failed',
  ]),
  en('failed to back up', `(?:failed to|unable to|could not|couldn't|cannot|can't) ${ACTION}${near(40)}${L}${BACKUP}`, [
    'failed to create backup',
    'Failed to create DB snapshot',
    'failed to take automated backup',
    'unable to create a snapshot',
    'could not complete the backup',
  ]),
  en(
    'error during backup',
    `(?:failed|failure|error|errors)(?: occurred)? (?:during|in|while|with|of|on|for)(?: the| a| an)?(?: automated| automatic| scheduled| daily| nightly| manual)? ${BACKUP}`,
    ['error during backup', 'Failure of automated backup', 'error while backing up'],
  ),
  en('failed backup', `(?:failed|unsuccessful)(?: automated| automatic| scheduled| daily| nightly| manual)? ${BACKUP}`, [
    'Failed backup for app-db',
    'failed automated backup',
  ]),
  en('backup status failed', `${BACKUP}[\\s\\S]{0,300}?${L}(?:status|state|result)\\s?[:=-]?\\s?(?:failed|failure|error|errored)`, [
    'Backup job 1a2b\nState: FAILED',
    'Backup app-db Status - Failed',
  ]),
  ko('백업 실패', `(?:백업|스냅샷|덤프)[^\\n]{0,40}?(?:실패|오류|에러|장애|중단)`, [
    '백업 실패',
    '백업실패',
    '백업이 실패했습니다',
    '백업에 실패했습니다',
    '백업 작업 실패',
    '자동 백업 실패',
    '백업 중 오류 발생',
    '스냅샷 생성에 실패',
  ]),
  ko('실패한 백업', `(?:실패한|실패된) ?(?:자동 ?)?(?:백업|스냅샷)`, ['실패한 백업']),
  ko('백업하지 못함', `(?:백업|스냅샷)(?:을|를|이|가)? ?(?:(?:하지|완료하지|생성하지|수행하지) ?못|완료되지 ?않)`, [
    '백업하지 못했습니다',
    '백업을 완료하지 못했습니다',
    '백업이 완료되지 않았습니다',
  ]),
];

export const BUILT_IN_IGNORE: readonly Rule[] = [
  en('resolved', `(?:resolved|recovered|back to normal|\\[ok\\])`, ['[RESOLVED] Backup failed', 'Recovered: backup failure']),
  en(
    'backup succeeded',
    `${BACKUP}(?: job| task| run| operation)?(?: has| have| was| were| is)?(?: been)? (?:completed|complete|succeeded|successful|succeeds|finished|done|created|ok)(?! with (?:errors?|failures?))`,
    ['backup completed', 'backup succeeded', 'Backup job completed', 'snapshot created', 'backup has been completed'],
  ),
  en(
    'completed successfully',
    `(?:completed successfully|successfully (?:completed|created|finished|taken)|backup success|successful backup)`,
    ['Backup job completed successfully', 'successful backup of app-db'],
  ),
  en(
    'backup started',
    `(?:${BACKUP}(?: job| task| run| operation)?(?: has| have| was| is)?(?: been)? (?:started|starting|in progress|running|initiated|scheduled|queued|pending)|(?:starting|started|initiating|initiated) (?:the |a |an )?(?:automated |automatic |scheduled |daily |nightly |manual )?${BACKUP})`,
    ['backup started', 'backup in progress', 'Backup job is running', 'Starting automated backup'],
  ),
  en('no failures', `(?:(?:0|no|zero) (?:backups? )?(?:failures|failed|errors)|(?:failed|failures|errors) ?[:=] ?0${R})`, [
    '0 failed',
    'no failures',
    'Failures: 0',
  ]),
  ko('백업 성공', `(?:백업|스냅샷) ?(?:이|을|가|를)? ?(?:정상 ?)?(?:성공|완료|생성 ?완료)${NOT_FAILED_KO}`, [
    '백업 성공',
    '백업 완료',
    '백업이 완료되었습니다',
    '백업 정상 완료',
    '스냅샷 생성 완료',
  ]),
  ko('성공적으로 완료', `성공적으로 ?(?:완료|생성|수행)`, ['성공적으로 완료되었습니다']),
  ko('백업 시작', `(?:백업|스냅샷) ?(?:이|을|를|가)? ?(?:시작|진행 ?중|예약)${NOT_FAILED_KO}`, [
    '백업 시작',
    '백업을 시작합니다',
    '백업이 시작되었습니다',
    '백업 진행 중',
  ]),
  ko('복구됨', `(?:복구됨|해결됨|해소됨|정상화|정상 ?복구|복구 ?완료)`, ['복구됨', '해결됨', '[해결됨] 백업 실패']),
  ko('실패 없음', `실패 ?(?:: ?)?(?:0 ?건|없음)`, ['실패 0건', '실패 없음']),
];

/** Built-in rules plus the team's; config validation has already rejected patterns that do not compile. */
export function compileRules(patterns: AlertPatterns = { failure: [], ignore: [] }): AlertRules {
  const own =
    (kind: string) =>
    (source: string): Rule => ({ name: `alerts.patterns.${kind}: ${source}`, regex: new RegExp(source, 'iu'), examples: [], own: true });
  return {
    failure: [...patterns.failure.map(own('failure')), ...BUILT_IN_FAILURE],
    ignore: [...patterns.ignore.map(own('ignore')), ...BUILT_IN_IGNORE],
  };
}

const DEFAULT_RULES = compileRules();

/**
 * `words` as messageWords() returns them. Built-in rules read a normalised copy (Unicode NFKC,
 * lower case, Slack's *bold*, _italic_, ~strike~ and `code` marks and underscores as spaces);
 * teams' patterns read both that copy and the words as shown, so `BACKUP_FAILED` can be written as is.
 */
export function classifyAlert(words: string, rules: AlertRules = DEFAULT_RULES): Classification {
  // Bounded again after NFKC, which can lengthen text (one ligature becomes up to 18 characters).
  const shown = boundWords(words.normalize('NFKC'));
  const normal = normalise(shown);
  const find = (list: readonly Rule[]) => {
    for (const rule of list) {
      const m = rule.own ? (rule.regex.exec(shown) ?? rule.regex.exec(normal)) : rule.regex.exec(normal);
      if (m) return { rule: rule.name, phrase: m[0].trim() };
    }
    return undefined;
  };
  const ignored = find(rules.ignore);
  if (ignored) return { kind: 'ignored', ...ignored };
  const failure = find(rules.failure);
  return failure ? { kind: 'failure', ...failure } : { kind: 'other' };
}

/** Every run of spacing becomes one character (a line break if it holds one), so the rules need no `\s*`. */
function normalise(text: string): string {
  return text
    .toLowerCase()
    .replace(/[*_~`]+/g, ' ')
    .replace(/\s+/gu, (run) => (/[\n\r\u2028\u2029]/.test(run) ? '\n' : ' '));
}
