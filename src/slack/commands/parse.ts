import { InputError } from '../../errors.js';

// `/backup ...` text -> a command, or an InputError that says what was wrong and what would
// work. Pure: the listener acks with the message, nothing is queued.

export type Command =
  | { readonly kind: 'run'; readonly target: string }
  | { readonly kind: 'status' }
  | { readonly kind: 'list'; readonly target: string }
  | { readonly kind: 'link'; readonly target: string; readonly key: string }
  | { readonly kind: 'cancel'; readonly target: string }
  | { readonly kind: 'verify'; readonly target: string; readonly key: string }
  /** Without `confirm`, a dry run: the plan, nothing deleted. */
  | { readonly kind: 'prune'; readonly target: string; readonly confirm: boolean }
  | { readonly kind: 'snapshot'; readonly target: string }
  /** Never started by the command alone: it asks for approval. */
  | {
      readonly kind: 'restore';
      readonly target: string;
      readonly key: string;
      readonly database: string;
      readonly replace: boolean;
      readonly fromMirror: boolean;
    }
  | { readonly kind: 'snapshots'; readonly target: string }
  /** The target's last `count` runs, from the state database. */
  | { readonly kind: 'history'; readonly target: string; readonly count: number }
  | { readonly kind: 'targets' }
  | { readonly kind: 'help' };

export type CommandKind = Command['kind'];

export const USAGE: Readonly<Record<CommandKind, string>> = {
  run: '/backup run <target>',
  status: '/backup status',
  list: '/backup list <target>',
  link: '/backup link <target> [key|latest]',
  cancel: '/backup cancel <target>',
  verify: '/backup verify <target> [key|latest]',
  prune: '/backup prune <target> [confirm]',
  snapshot: '/backup snapshot <target>',
  restore: '/backup restore <target> [key|latest] into <database> [replace] [from mirror]',
  snapshots: '/backup snapshots <target>',
  history: '/backup history <target> [n]',
  targets: '/backup targets',
  help: '/backup help',
};

/** Longer text is refused before it is looked at: no command needs more, and it is echoed back in part. */
export const MAX_COMMAND_LENGTH = 300;

const VERBS = new Set<string>(Object.keys(USAGE));
/** What a target word may contain before it is looked up; anything else (`;`, `/`, `$`, `..`) is refused outright. */
const NAME_CHARS = /^[A-Za-z0-9_-]+$/;
/** S3 key characters the storage prefix allows; `..` is refused separately. */
const KEY_CHARS = /^[A-Za-z0-9!_.*'()/-]+$/;
const MAX_KEY_LENGTH = 1024;

export function parseCommand(text: string, targets: readonly string[]): Command {
  const trimmed = text.trim();
  if (trimmed.length > MAX_COMMAND_LENGTH) {
    throw new InputError(
      `that command is ${trimmed.length} characters long; /backup commands are at most ${MAX_COMMAND_LENGTH}`,
      `Try \`${USAGE.run.replace('<target>', example(targets))}\` or \`${USAGE.help}\`.`,
    );
  }
  const words = trimmed.split(/\s+/).filter(Boolean);
  const [first, ...rest] = words;
  if (first === undefined) {
    throw new InputError(
      'tell me what to do: /backup needs a command or a target',
      `Try \`${USAGE.run.replace('<target>', example(targets))}\`, or \`${USAGE.help}\` for every command.`,
    );
  }
  const verb = first.toLowerCase();
  if (!VERBS.has(verb)) {
    if (rest.length > 0) {
      throw new InputError(`unknown command \`${show(first)}\``, `Commands: ${[...VERBS].join(', ')}. Try \`${USAGE.help}\`.`);
    }
    // `/backup app-db` is shorthand for `/backup run app-db`.
    return { kind: 'run', target: checkTarget(first, targets, 'run') };
  }
  switch (verb) {
    case 'status':
    case 'targets':
    case 'help':
      noExtraWords(rest, 0, verb);
      return { kind: verb };
    case 'run':
    case 'list':
    case 'cancel':
    case 'snapshot':
    case 'snapshots': {
      noExtraWords(rest, 1, verb);
      return { kind: verb, target: checkTarget(requireTarget(rest[0], targets, verb), targets, verb) };
    }
    case 'link':
    case 'verify': {
      noExtraWords(rest, 2, verb);
      const target = checkTarget(requireTarget(rest[0], targets, verb), targets, verb);
      return { kind: verb, target, key: checkKey(rest[1], target, verb) };
    }
    case 'restore':
      return parseRestore(rest, targets);
    case 'history': {
      noExtraWords(rest, 2, verb);
      const target = checkTarget(requireTarget(rest[0], targets, verb), targets, verb);
      return { kind: verb, target, count: checkCount(rest[1], target) };
    }
    case 'prune': {
      noExtraWords(rest, 2, verb);
      const target = checkTarget(requireTarget(rest[0], targets, verb), targets, verb);
      const word = rest[1];
      if (word !== undefined && word.toLowerCase() !== 'confirm') {
        throw new InputError(
          `\`${show(word)}\` is not \`confirm\``,
          `\`/backup prune ${target}\` shows what would be deleted; \`/backup prune ${target} confirm\` deletes it.`,
        );
      }
      return { kind: verb, target, confirm: word !== undefined };
    }
    default:
      throw new InputError(`unknown command \`${show(first)}\``, `Try \`${USAGE.help}\`.`);
  }
}

/** How many runs `/backup history` shows by default, and at most (one reply stays readable). */
export const HISTORY_DEFAULT = 10;
export const HISTORY_MAX = 50;

function checkCount(word: string | undefined, target: string): number {
  if (word === undefined) return HISTORY_DEFAULT;
  const n = /^\d{1,3}$/.test(word) ? Number(word) : NaN;
  if (!(n >= 1 && n <= HISTORY_MAX)) {
    throw new InputError(
      `\`${show(word)}\` is not a number of runs from 1 to ${HISTORY_MAX}`,
      `e.g. \`/backup history ${target} 20\`; without a number, the last ${HISTORY_DEFAULT}.`,
    );
  }
  return n;
}

/** `<target> [key|latest] into <database> [replace] [from mirror]`. */
function parseRestore(rest: readonly string[], targets: readonly string[]): Command {
  const target = checkTarget(requireTarget(rest[0], targets, 'restore'), targets, 'restore');
  const into = rest.findIndex((w) => w.toLowerCase() === 'into');
  const database = into < 0 ? undefined : rest[into + 1];
  if (into < 1 || into > 2 || database === undefined) {
    throw new InputError(
      `into which database? \`${USAGE.restore}\``,
      `e.g. \`/backup restore ${target} latest into ${target.replace(/-/g, '_')}_restored\``,
    );
  }
  const key = checkKey(into === 2 ? rest[1] : undefined, target, 'restore');
  const tail = rest.slice(into + 2).map((w) => w.toLowerCase());
  const replace = tail[0] === 'replace';
  const mirror = tail.slice(replace ? 1 : 0);
  if (mirror.length > 0 && mirror.join(' ') !== 'from mirror') {
    throw new InputError(
      `unexpected words after the database: \`${show(rest.slice(into + 2).join(' '))}\``,
      `Usage: \`${USAGE.restore}\`.`,
    );
  }
  return { kind: 'restore', target, key, database, replace, fromMirror: mirror.length > 0 };
}

function requireTarget(word: string | undefined, targets: readonly string[], verb: CommandKind): string {
  if (word === undefined) {
    throw new InputError(
      `which target? \`${USAGE[verb]}\` needs a target name`,
      `Try \`${USAGE[verb].replace('<target>', example(targets)).replace(/ \[.*\]$/, '')}\`; targets: ${listTargets(targets)}.`,
    );
  }
  return word;
}

function checkTarget(word: string, targets: readonly string[], verb: CommandKind): string {
  if (!NAME_CHARS.test(word)) {
    throw new InputError(
      `\`${show(word)}\` is not a target name: names use only lowercase letters, digits, - and _`,
      `Targets: ${listTargets(targets)}. \`${USAGE.targets}\` lists them.`,
    );
  }
  if (targets.includes(word)) return word;
  const lower = word.toLowerCase();
  if (targets.includes(lower)) {
    throw new InputError(
      `unknown target \`${show(word)}\`: target names are lowercase`,
      `Try \`${exampleCommand(verb, lower)}\`.`,
      'UNKNOWN_TARGET',
    );
  }
  throw new InputError(
    `unknown target \`${show(word)}\``,
    `Targets: ${listTargets(targets)}. \`${USAGE.targets}\` lists them.`,
    'UNKNOWN_TARGET',
  );
}

function checkKey(word: string | undefined, target: string, verb: CommandKind): string {
  if (word === undefined) return 'latest';
  // People paste keys from the result message, where they are shown as code.
  const key = word.replace(/^`+|`+$/g, '');
  if (key.toLowerCase() === 'latest') return 'latest';
  if (key.length > MAX_KEY_LENGTH || !KEY_CHARS.test(key) || key.split('/').includes('..')) {
    throw new InputError(
      `\`${show(word)}\` is not a backup key`,
      `Use \`latest\` or a key from \`${USAGE.list.replace('<target>', target)}\`, e.g. \`${exampleCommand(verb, target)} latest\`.`,
    );
  }
  return key;
}

function noExtraWords(rest: readonly string[], allowed: number, verb: CommandKind): void {
  if (rest.length <= allowed) return;
  const extra = rest.slice(allowed).join(' ');
  throw new InputError(`unexpected extra words after \`${USAGE[verb].split(' [')[0]}\`: \`${show(extra)}\``, `Usage: \`${USAGE[verb]}\`.`);
}

function exampleCommand(verb: CommandKind, target: string): string {
  return `/backup ${verb} ${target}`;
}

function example(targets: readonly string[]): string {
  return targets[0] ?? 'app-db';
}

const MAX_LISTED = 10;

function listTargets(targets: readonly string[]): string {
  if (targets.length === 0) return 'none configured';
  const shown = targets.slice(0, MAX_LISTED).map((t) => `\`${t}\``);
  return targets.length > MAX_LISTED ? `${shown.join(', ')} and ${targets.length - MAX_LISTED} more` : shown.join(', ');
}

/** User text echoed back: short, and unable to close the code span it is shown in. */
export function show(text: string): string {
  const clean = text.replace(/[`\r\n]/g, '');
  return clean.length > 40 ? `${clean.slice(0, 39)}…` : clean;
}
