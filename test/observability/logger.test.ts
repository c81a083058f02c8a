import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { DumptruckError } from '../../src/errors.js';
import {
  createLogger,
  jobLogger,
  logJobEvents,
  logUnexpectedErrors,
  Redactor,
  type LogDestination,
} from '../../src/observability/index.js';
import { fakeResult, fakeStarted } from '../jobs/fake-runner.js';

function capture(isTTY = false): LogDestination & { lines: string[]; text: () => string } {
  const lines: string[] = [];
  return { isTTY, lines, write: (s: string) => lines.push(s), text: () => lines.join('') };
}

const json = (line: string) => JSON.parse(line) as Record<string, unknown>;

// Values that look like what production holds.
const SIGNING_SECRET = '8f14e45fceea167a5a36dedd4bea2543';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const BOT_TOKEN = 'xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx';
const APP_TOKEN = 'xapp-1-A0123456789-1234567890123-abcdef0123456789abcdef';
const DB_PASSWORD = 'correct-horse-battery';
const env = {
  SLACK_BOT_TOKEN: BOT_TOKEN,
  SLACK_APP_TOKEN: APP_TOKEN,
  SLACK_SIGNING_SECRET: SIGNING_SECRET,
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: AWS_SECRET,
  APP_DB_PASSWORD: DB_PASSWORD,
  LOG_LEVEL: 'debug',
};
const PRESIGNED =
  'https://backups.s3.eu-west-1.amazonaws.com/dumptruck/app-db/2024/05/01/app-db_20240501T030000Z.sql.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
  '&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240501%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20240501T030000Z&X-Amz-Expires=86400' +
  '&X-Amz-SignedHeaders=host&X-Amz-Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7';

describe('logger', () => {
  it('writes JSON lines with an ISO time and the level name', () => {
    const out = capture();
    createLogger({ destination: out, env }).info({ target: 'app-db' }, 'hello');
    const line = json(out.lines[0]!);
    expect(line).toMatchObject({ level: 'info', msg: 'hello', target: 'app-db' });
    expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it("every line of a job's logger carries its id and target", () => {
    const out = capture();
    const log = createLogger({ destination: out, env });
    const job = { id: 'a1b2c3d4', target: 'app-db' };
    jobLogger(log, job).info('something about the job');
    const listener = logJobEvents(log, job.target);
    listener({ type: 'queued', jobId: job.id, target: job.target, position: 2 });
    listener({ type: 'started', jobId: job.id, info: fakeStarted('app-db') });
    listener({
      type: 'progress',
      jobId: job.id,
      progress: { dumpedBytes: 10, storedBytes: 3, elapsedMs: 1000, bytesPerSecond: 10, estimatedBytes: 100 },
    });
    listener({ type: 'finished', jobId: job.id, result: fakeResult('app-db') });
    listener({
      type: 'failed',
      jobId: job.id,
      target: job.target,
      error: new DumptruckError('DUMP_FAILED', 'dump', 'pg_dump exited with code 1'),
    });
    const lines = out.lines.map(json);
    expect(lines.map((l) => l.msg)).toEqual([
      'something about the job',
      'backup queued',
      'backup started',
      'backup progress',
      'backup finished',
      'backup failed',
    ]);
    for (const l of lines) expect(l).toMatchObject({ jobId: 'a1b2c3d4', target: 'app-db' });
    expect(lines[4]).toMatchObject({ level: 'info', sha256: 'a'.repeat(64), storedBytes: 12_582_912 });
    expect(lines[5]).toMatchObject({ level: 'error', code: 'DUMP_FAILED', stage: 'dump', error: 'pg_dump exited with code 1' });
  });

  it('redacts passwords, Slack tokens, the signing secret, AWS secrets and presigned-URL signatures in objects, strings and errors', () => {
    const out = capture();
    const log = createLogger({ destination: out, env });
    log.info(
      {
        password: DB_PASSWORD,
        target: { password: 'nested-password-1', secretId: 'prod/app-db' },
        slack: { botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET },
        credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: AWS_SECRET },
        request: {
          headers: {
            Authorization: `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240501/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024`,
          },
        },
        link: PRESIGNED,
      },
      'objects',
    );
    log.warn(`Slack said invalid_auth for ${BOT_TOKEN}; socket with ${APP_TOKEN}`);
    log.warn(`env: PGPASSWORD=${DB_PASSWORD} url postgres://backup:s3cr3t-in-url@db:5432/app secret ${SIGNING_SECRET} key ${AWS_SECRET}`);
    log.info({ link: PRESIGNED }, `download ${PRESIGNED}`);
    const err = Object.assign(new Error(`request failed with Bearer ${BOT_TOKEN}`), { config: { password: 'error-prop-password' } });
    log.error({ err }, 'an error');

    const text = out.text();
    for (const secret of [
      DB_PASSWORD,
      'nested-password-1',
      BOT_TOKEN,
      APP_TOKEN,
      SIGNING_SECRET,
      AWS_SECRET,
      's3cr3t-in-url',
      'error-prop-password',
      '5d672d79c15b',
      'fe5f80f77d5f',
      'aws4_request',
    ]) {
      expect(text).not.toContain(secret);
    }
    // Still one valid JSON object per line, with what is useful left in place.
    const lines = out.lines.map(json);
    expect(lines[0]).toMatchObject({
      password: '[redacted]',
      target: { password: '[redacted]', secretId: 'prod/app-db' },
      credentials: '[redacted]',
    });
    expect(lines[1]!.msg).toBe('Slack said invalid_auth for xoxb-[redacted]; socket with xapp-[redacted]');
    expect(lines[2]!.msg).toBe('env: PGPASSWORD=[redacted] url postgres://backup:[redacted]@db:5432/app secret [redacted] key [redacted]');
    expect(lines[3]!.link).toContain('X-Amz-Credential=[redacted]&X-Amz-Date=20240501T030000Z');
    expect(lines[3]!.link).toContain('X-Amz-Signature=[redacted]');
    expect(lines[3]!.link).toContain('app-db_20240501T030000Z.sql.gz');
    expect(lines[4]).toMatchObject({ err: { message: 'request failed with Bearer [redacted]', config: { password: '[redacted]' } } });
  });

  it('redacts values added later, also when JSON escaping changes them', () => {
    const out = capture();
    const redactor = new Redactor();
    const log = createLogger({ destination: out, redactor });
    const fetched = 'pa"ss\\word-from-manager';
    redactor.add(fetched);
    log.info({ note: `the value is ${fetched}` }, `and here ${fetched}`);
    expect(out.text()).not.toContain('ss\\\\word-from');
    expect(json(out.lines[0]!)).toMatchObject({ msg: 'and here [redacted]', note: 'the value is [redacted]' });
  });

  it('writes one readable line per entry on a TTY, JSON when LOG_FORMAT=json', () => {
    const tty = capture(true);
    const log = createLogger({ destination: tty, env: {}, color: false });
    jobLogger(log, { id: 'a1b2c3d4', target: 'app-db' }).info(
      { key: 'dumptruck/app-db/x.sql.gz', storedBytes: 42, note: 'two words' },
      'backup finished',
    );
    log.error({ err: new Error('boom') }, 'it broke');
    expect(tty.lines[0]).toMatch(
      /^\d{2}:\d{2}:\d{2}\.\d{3} INFO  \[a1b2c3d4 app-db\] backup finished key=dumptruck\/app-db\/x\.sql\.gz storedBytes=42 note="two words"\n$/,
    );
    expect(tty.lines[1]).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} ERROR it broke\n {4}Error: boom\n {8}at /);

    const forced = capture(true);
    createLogger({ destination: forced, env: { LOG_FORMAT: 'json' } }).info('x');
    expect(json(forced.lines[0]!)).toMatchObject({ msg: 'x' });
  });

  it('colours the level on a TTY unless NO_COLOR is set', () => {
    const tty = capture(true);
    createLogger({ destination: tty, env: {} }).warn('careful');
    expect(tty.lines[0]).toContain('\u001b[33mWARN \u001b[0m');
    const plain = capture(true);
    createLogger({ destination: plain, env: { NO_COLOR: '1' } }).warn('careful');
    expect(plain.lines[0]).not.toContain('\u001b[');
  });
});

describe('a destination that breaks (EPIPE: the log reader went away)', () => {
  /** A stream-like destination: writes succeed until broken, then fail the way process.stdout does (an 'error' event) or throw. */
  function pipe(fails: 'emits' | 'throws') {
    const emitter = new EventEmitter();
    let broken = false;
    let attempts = 0;
    return {
      on: (event: 'error', listener: (err: Error) => void) => emitter.on(event, listener),
      write(chunk: string) {
        attempts++;
        if (!broken) return true;
        const err = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
        if (fails === 'throws') throw err;
        process.nextTick(() => emitter.emit('error', err));
        return false;
      },
      break: () => (broken = true),
      attempts: () => attempts,
      listeners: () => emitter.listenerCount('error'),
    };
  }

  for (const fails of ['emits', 'throws'] as const) {
    it(`is dropped after its first failed write (${fails === 'emits' ? "an 'error' event" : 'a throw'}), noted once on stderr, and never written again`, async () => {
      const out = pipe(fails);
      const notice = capture();
      const log = createLogger({ destination: out, notice, env: {} });
      log.info('before');
      expect(out.listeners()).toBe(1);
      out.break();
      log.info('first line after the break');
      await new Promise((resolve) => process.nextTick(resolve));
      for (let i = 0; i < 100; i++) log.error({ i }, 'more');
      expect(out.attempts()).toBe(2);
      expect(notice.lines).toEqual(['dumptruck: the log output failed (EPIPE); logging stops, the bot goes on\n']);
    });
  }

  it('a notice destination that is broken too is ignored', () => {
    const out = pipe('throws');
    const log = createLogger({
      destination: out,
      notice: {
        write: () => {
          throw new Error('EPIPE');
        },
      },
      env: {},
    });
    out.break();
    expect(() => log.info('x')).not.toThrow();
  });
});

describe('logUnexpectedErrors', () => {
  it('logs unhandled rejections and uncaught exceptions (redacted) instead of ending the process', () => {
    const out = capture();
    const proc = new EventEmitter();
    const remove = logUnexpectedErrors(createLogger({ destination: out }), proc as unknown as NodeJS.Process);
    proc.emit('unhandledRejection', new Error(`listener failed near ${BOT_TOKEN}`));
    proc.emit('uncaughtException', new Error('reporter threw'), 'uncaughtException');
    const lines = out.lines.map(json);
    expect(lines.map((l) => l.msg)).toEqual(['unhandled promise rejection; still running', 'uncaught exception; still running']);
    expect(lines[0]).toMatchObject({ level: 'error', err: { message: 'listener failed near xoxb-[redacted]' } });
    remove();
    expect(proc.listenerCount('unhandledRejection') + proc.listenerCount('uncaughtException')).toBe(0);
  });
});
