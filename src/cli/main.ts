import { hostname, userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { createAppDeps, loadEnvironment, type AppDeps } from '../app.js';
import type { BackupState } from '../types.js';
import { describeCompression } from '../config/compression.js';
import { formatBytes, formatDuration } from '../config/units.js';
import { CancelledError, ConfigError, DumptruckError, InputError, TimeoutError, userMessage } from '../errors.js';
import { TARGET_NAME } from '../config/schema.js';
import { createProgressPrinter } from './progress.js';
import { createSnapshotPrinter, snapshotListLines, snapshotResultLines } from './snapshot.js';
import { sizeWarnings } from '../jobs/after-backup.js';
import { pruneTarget } from '../retention/prune.js';
import { verifyBackup } from '../verify/verify.js';
import { afterBackupLines, pruneLines, verifyLines } from './trust.js';
import { lookupTarget, requireLinks } from '../config/targets.js';
import { planRestore, runRestore } from '../restore/restore.js';
import { assertLegacyTrustable } from '../restore/trust.js';
import { isEncryptedKey } from '../storage/keys.js';
import { encryptedLine } from '../storage/restore-hint.js';
import { UNSIGNED_NOTE } from '../storage/catalog.js';
import { Redactor, secretsInEnv } from '../redact.js';
import { recordRuns } from '../state/record.js';
import { openState, type StateStore } from '../state/store.js';
import { historyLines } from './history.js';
import { parseRestoreArgs, restorePlanLines, restoreResultLines, RESTORE_SHAPE, type RestoreArgs } from './restore.js';

/** Exit codes: cron and CI only need "0 means a backup exists", the rest helps humans. */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 3, flagged: 4, unverified: 5 } as const;

export const USAGE = `usage: dumptruck <command>

commands:
  backup <target>              dump <target> into the bucket now
  list <target>                stored backups of <target>, newest first
  link <target> [key|latest]   a presigned download link (default: latest)
  verify <target> [key|latest] check a backup's HMAC, checksum, decompression and owner, and
                               restore it on verify.restoreUrl when set (default: latest)
  verify <target> <key> --trust-legacy
                               the same for one backup written before backups were signed
  prune <target> [--dry-run]   delete what targets.<target>.retention no longer keeps
  restore <target> [key|latest] --into <database> [--yes] [--replace] [--from-mirror] [--trust-legacy]
                               restore a backup into a new database (or, with --replace and
                               restore.allowReplace, over one, which is renamed aside); asks for
                               the database name typed back, or --yes in scripts
  snapshot <target>            an RDS snapshot of <target>'s instance (targets.<target>.rds),
                               followed until it is available
  snapshots <target>           recent manual and automated RDS snapshots of <target>'s instance
  history <target> [n]         the last n (default 10) runs of <target>, from the state database (state:)
  targets                      configured targets
  help                         this text

environment: DUMPTRUCK_CONFIG (default ./dumptruck.yml), DUMPTRUCK_HMAC_KEY, S3_*, AWS_* (see README)
exit codes: 0 success, 1 the operation failed, 2 bad usage, 3 invalid configuration,
  4 backup stored but flagged (empty or much smaller than usual), 5 backup stored but its verification failed`;

export interface CliIO {
  readonly stdout: { write(text: string): void; isTTY?: boolean };
  readonly stderr: { write(text: string): void };
  /** A line typed on the terminal (restore's confirmation); absent when stdin is not a terminal. */
  readonly ask?: (question: string) => Promise<string>;
}

export type Command =
  | { readonly name: 'backup' | 'list' | 'snapshot' | 'snapshots'; readonly target: string }
  | { readonly name: 'link'; readonly target: string; readonly key: string | undefined }
  | { readonly name: 'verify'; readonly target: string; readonly key: string | undefined; readonly trustLegacy: boolean }
  | { readonly name: 'prune'; readonly target: string; readonly dryRun: boolean }
  | { readonly name: 'history'; readonly target: string; readonly count: number }
  | ({ readonly name: 'restore' } & RestoreArgs)
  | { readonly name: 'targets' | 'help' };

/** Pure: argv (without node and script) -> command, or an InputError saying what would work. */
export function parseCommand(argv: readonly string[]): Command {
  const [name, ...rest] = argv;
  const arity = (min: number, max: number, shape: string) => {
    if (rest.length < min || rest.length > max) throw new InputError(`${name} takes ${shape}`, `usage: dumptruck ${name} ${shape}`);
    if (rest[0] !== undefined && !TARGET_NAME.test(rest[0])) {
      throw new InputError(
        `${JSON.stringify(rest[0])} is not a target name`,
        'target names are lowercase letters, digits, - and _; see: dumptruck targets',
      );
    }
  };
  switch (name) {
    case 'backup':
    case 'list':
    case 'snapshot':
    case 'snapshots':
      arity(1, 1, '<target>');
      return { name, target: rest[0]! };
    case 'link':
      arity(1, 2, '<target> [key|latest]');
      return { name, target: rest[0]!, key: rest[1] };
    case 'verify': {
      const trustLegacy = rest.includes('--trust-legacy');
      rest.splice(0, rest.length, ...rest.filter((a) => a !== '--trust-legacy'));
      arity(1, 2, '<target> [key|latest] [--trust-legacy]');
      // Trust is given to one object the operator names, never to whatever `latest` turns out to be.
      if (trustLegacy && (rest[1] === undefined || rest[1] === 'latest')) {
        throw new InputError(
          '--trust-legacy needs the exact key of one backup, not latest',
          `list the keys with: dumptruck list ${rest[0]}`,
        );
      }
      return { name, target: rest[0]!, key: rest[1], trustLegacy };
    }
    case 'prune': {
      const dryRun = rest.includes('--dry-run');
      rest.splice(0, rest.length, ...rest.filter((a) => a !== '--dry-run'));
      arity(1, 1, '<target> [--dry-run]');
      return { name, target: rest[0]!, dryRun };
    }
    case 'history': {
      arity(1, 2, '<target> [n]');
      const count = rest[1] === undefined ? 10 : /^\d{1,3}$/.test(rest[1]) ? Number(rest[1]) : NaN;
      if (!(count >= 1 && count <= 500))
        throw new InputError(`${JSON.stringify(rest[1])} is not a number of runs from 1 to 500`, `usage: dumptruck history <target> [n]`);
      return { name, target: rest[0]!, count };
    }
    case 'restore': {
      const args = parseRestoreArgs(rest);
      rest.splice(0, rest.length, args.target);
      arity(1, 1, RESTORE_SHAPE);
      return { name, ...args };
    }
    case 'targets':
    case 'help':
    case '--help':
    case '-h':
      if (rest.length > 0 && name === 'targets') throw new InputError('targets takes no arguments', 'usage: dumptruck targets');
      return { name: name === 'targets' ? 'targets' : 'help' };
    case undefined:
      throw new InputError('no command given', USAGE);
    default:
      throw new InputError(`unknown command ${JSON.stringify(name)}`, USAGE);
  }
}

function requireTarget(deps: AppDeps, target: string): void {
  lookupTarget(deps.config, target);
}

/** How `list` marks a dump that is not a complete backup. */
const STATE_NOTE: Readonly<Record<BackupState, string>> = {
  complete: '',
  legacy: '',
  incomplete: 'incomplete (no manifest)',
  foreign: 'not written by dumptruck',
};

/** `state`: the state database, opened when the config has `state:` and the command needs it. */
export async function runCommand(command: Command, deps: AppDeps, io: CliIO, state?: StateStore): Promise<number> {
  const out = (line: string) => io.stdout.write(`${line}\n`);
  switch (command.name) {
    case 'help':
      out(USAGE);
      return EXIT.ok;
    case 'targets':
      for (const [name, t] of Object.entries(deps.config.targets)) out(`${name}\t${t.format}\t${t.url}`);
      return EXIT.ok;
    case 'list': {
      requireTarget(deps, command.target);
      const items = await deps.catalog.list(command.target);
      if (items.length === 0) out(`no backups of ${command.target} yet`);
      for (const o of items)
        out(
          `${o.lastModified.toISOString()}\t${formatBytes(o.size).padStart(10)}\t${o.key}${STATE_NOTE[o.state] ? `\t${STATE_NOTE[o.state]}` : ''}`,
        );
      return EXIT.ok;
    }
    case 'link': {
      requireTarget(deps, command.target);
      requireLinks(deps.config, command.target);
      const { object, link } = await deps.catalog.linkStored(command.target, command.key);
      out(
        `${object.key} (${formatBytes(object.size)}${object.state === 'incomplete' ? ', incomplete: no manifest' : ''}), link valid until ${link.expiresAt.toISOString()}`,
      );
      if (isEncryptedKey(object.key)) out(encryptedLine(object.key));
      if (object.provenance === 'unsigned') out(`warning: ${UNSIGNED_NOTE}`);
      // Last, alone on its line: scripts take the URL from there.
      out(link.url);
      return EXIT.ok;
    }
    case 'verify': {
      requireTarget(deps, command.target);
      const object = await deps.catalog.resolve(command.target, command.key);
      if (command.trustLegacy) assertLegacyTrustable(object.key);
      out(`verifying ${object.key} (${formatBytes(object.size)})...`);
      // Ctrl-C or SIGTERM stops the download and the restore; the scratch database is dropped all the same.
      const report = await untilSignal((signal) =>
        verifyBackup(deps, command.target, object.key, { signal, trustLegacy: command.trustLegacy }),
      );
      for (const line of verifyLines(report)) out(line);
      return EXIT.ok;
    }
    case 'prune': {
      requireTarget(deps, command.target);
      const report = await pruneTarget(deps, command.target, { dryRun: command.dryRun });
      for (const line of pruneLines(report)) out(line);
      return report.failed.length > 0 ? EXIT.failed : EXIT.ok;
    }
    case 'restore': {
      requireTarget(deps, command.target);
      const plan = await planRestore(deps, {
        target: command.target,
        key: command.key ?? 'latest',
        database: command.database,
        replace: command.replace,
        source: command.source,
        trustLegacy: command.trustLegacy,
      });
      for (const line of restorePlanLines(plan)) out(line);
      await confirmRestore(command, io);
      // Ctrl-C or SIGTERM stops the restore; the half-restored database is dropped (a replaced one gets its name back).
      const report = await untilSignal((signal) => runRestore(deps, plan, { signal, trustLegacy: command.trustLegacy }));
      for (const line of restoreResultLines(report)) out(line);
      return EXIT.ok;
    }
    case 'snapshot': {
      requireTarget(deps, command.target);
      const print = createSnapshotPrinter({ isTTY: io.stdout.isTTY === true, write: (t) => io.stdout.write(t) }, command.target);
      // Ctrl-C or SIGTERM stops following; the snapshot itself goes on at AWS (the error says so).
      const result = await untilSignal((signal) =>
        deps.snapshots.run(
          { target: command.target, trigger: { kind: 'cli', by: safeUser(), detail: `host ${hostname()}` } },
          { signal, onEvent: print },
        ),
      );
      for (const line of snapshotResultLines(result)) out(line);
      return EXIT.ok;
    }
    case 'snapshots': {
      requireTarget(deps, command.target);
      for (const line of snapshotListLines(command.target, await deps.snapshots.list(command.target))) out(line);
      return EXIT.ok;
    }
    case 'history': {
      requireTarget(deps, command.target);
      if (!state)
        throw new InputError(
          'run history is kept only with a state database',
          'add a `state:` section to the config: its url and, as a secret source, its password (see README)',
        );
      for (const line of historyLines(command.target, await state.history(command.target, command.count))) out(line);
      return EXIT.ok;
    }
    case 'backup': {
      requireTarget(deps, command.target);
      const runBackup = state
        ? recordRuns(deps.runBackup, {
            state,
            redactor: new Redactor(secretsInEnv(deps.env)),
            // The backup's own result matters more than its line in the history.
            onRecordError: (err) => io.stderr.write(`dumptruck: warning: ${userMessage(err)}\n`),
          })
        : deps.runBackup;
      const print = createProgressPrinter({ isTTY: io.stdout.isTTY === true, write: (t) => io.stdout.write(t) }, command.target);
      // Ctrl-C, a cron timeout's SIGTERM or queue.jobTimeout cancels cleanly: pg_dump killed, upload aborted.
      const result = await untilSignal(async (signal) => {
        // At start: what a killed run (SIGKILL, power loss) left behind, since no cleanup of its own ran.
        for (const key of await deps.uploads.sweep(signal)) out(`aborted an upload orphaned by a crash: ${key}`);
        return runBackup({ target: command.target, trigger: { kind: 'cli', by: safeUser() } }, { signal, onEvent: print });
      }, deps.config.queue.jobTimeoutMs);
      const compression = describeCompression(result);
      const compressed = compression ? ` (${compression})` : '';
      out(
        `${command.target}: done in ${formatDuration(result.durationMs)}: ${formatBytes(result.dumpedBytes)} dumped, ${formatBytes(result.storedBytes)} stored${compressed}`,
      );
      out(`key: s3://${result.bucket}/${result.key}`);
      // Read by npm run bench (ratio finalize/backup).
      if (result.finishMs !== undefined) out(`finish step: ${result.finishMs} ms`);
      out(`sha256: ${result.sha256}`);
      if (result.encryption) out(encryptedLine(result.key, result.encryption.recipients));
      if (deps.config.targets[command.target]?.links !== false) {
        const link = await deps.catalog.link(result.key);
        out(`link (until ${link.expiresAt.toISOString()}): ${link.url}`);
      }
      for (const line of afterBackupLines(result)) out(line);
      if (result.verification?.ok === false) return EXIT.unverified;
      return sizeWarnings(result).length > 0 ? EXIT.flagged : EXIT.ok;
    }
  }
}

/** A restore writes a database: a person types its name back, a script says --yes; nothing else starts it. */
async function confirmRestore(command: RestoreArgs, io: CliIO): Promise<void> {
  if (command.yes) return;
  if (!io.ask) throw new InputError('restore needs a confirmation and stdin is not a terminal', 'add --yes to restore from a script');
  const typed = (await io.ask(`type the database name (${command.database}) to restore into it: `)).trim();
  if (typed !== command.database)
    throw new InputError(`you typed ${JSON.stringify(typed)}, not ${JSON.stringify(command.database)}; nothing was restored`);
}

/**
 * Runs `work` with a signal that SIGINT and SIGTERM abort (and `timeoutMs`, the same job timeout
 * as in the bot), so that it can clean up before the process exits. A second signal finds no
 * handler left and ends the process at once.
 */
async function untilSignal<T>(work: (signal: AbortSignal) => Promise<T>, timeoutMs?: number): Promise<T> {
  const controller = new AbortController();
  const cancel = (signal: NodeJS.Signals) => controller.abort(new CancelledError(`cancelled by ${signal}`));
  process.once('SIGINT', cancel);
  process.once('SIGTERM', cancel);
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => controller.abort(new TimeoutError(`timed out after ${formatDuration(timeoutMs)} (queue.jobTimeout)`)), timeoutMs);
  // A timer of its own must not keep a finished run alive.
  timer?.unref();
  try {
    return await work(controller.signal);
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', cancel);
    process.off('SIGTERM', cancel);
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof ConfigError) return EXIT.config;
  if (err instanceof InputError) return EXIT.usage;
  return EXIT.failed;
}

export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(argv);
  } catch (err) {
    io.stderr.write(`dumptruck: ${userMessage(err)}\n`);
    return exitCodeFor(err);
  }
  if (command.name === 'help') return runCommand(command, undefined as never, io);
  let state: StateStore | undefined;
  try {
    const deps = await createAppDeps(loadEnvironment());
    // Opened (created or migrated) only for what uses it, so a state database that is down never stops a list or a link.
    state =
      deps.config.state && (command.name === 'backup' || command.name === 'history')
        ? await openState(deps.config.state, { env: deps.env })
        : undefined;
    return await runCommand(command, deps, io, state);
  } catch (err) {
    const prefix = err instanceof DumptruckError ? '' : 'unexpected error: ';
    io.stderr.write(`dumptruck: ${prefix}${userMessage(err)}\n`);
    return exitCodeFor(err);
  } finally {
    await state?.close();
  }
}

/** The process's streams; `ask` only when stdin is a terminal, so that cron and pipes never wait on a prompt. */
function processIO(): CliIO {
  if (!process.stdin.isTTY) return process;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    ask: async (question) => {
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
  };
}
