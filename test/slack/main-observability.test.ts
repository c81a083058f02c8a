// /healthz, /readyz and /metrics on the real bot process (`node dist/slack/main.js`), in both
// Slack modes: on Bolt's own port next to /slack/events in HTTP mode, on a server of its own on
// PORT in Socket Mode (which the fake Slack cannot complete: it has no WebSocket).
import { describe, expect, it } from 'vitest';
import { botProcesses, eventually, type BotProcess } from '../helpers/bot-process.js';
import { configYaml, testServers, uniquePrefix } from '../helpers/fixtures.js';
import { freePort } from '../helpers/free-port.js';
import { TEST_BOT_TOKEN } from '../helpers/slack-bot.js';

const servers = testServers();
const prefix = uniquePrefix('main-obs');
const config = configYaml(servers, prefix, { 'app-db': { db: 'postgres' } });
const APP_TOKEN = 'xapp-1-A0DUMPTRUCK-1-0123abcd';
const bots = botProcesses(servers);

/** SIGTERM with nothing running: a clean, quick exit 0. */
async function stopCleanly(b: BotProcess): Promise<void> {
  b.child.kill('SIGTERM');
  const { code } = await b.exited;
  expect(code, b.stderr()).toBe(0);
  expect(b.stdout()).toContain('shut down cleanly');
}

const ready = (a: { status: number }) => a.status === 200;

describe('health and metrics of the running bot', () => {
  it('HTTP mode: /healthz, /readyz and /metrics on Bolt’s port beside /slack/events; a backup shows up in /metrics', async () => {
    const { bot: b, slack } = await bots.start({ config, fakeToken: TEST_BOT_TOKEN });
    const readyz = await b.waitFor('/readyz', ready);
    expect(readyz.json).toEqual({ status: 'ready', checks: { config: { ok: true }, slack: { ok: true }, bucket: { ok: true } } });
    const healthz = await b.get('/healthz');
    expect(healthz).toMatchObject({ status: 200, json: { status: 'ok' } });
    expect(healthz.type).toContain('application/json');

    // Same port, Bolt's route still answers and still verifies signatures.
    const help = await b.command('help');
    expect(help.status).toBe(200);
    expect(help.json?.text).toMatch(/^\*dumptruck\* backs up/);
    expect((await b.get('/slack/events')).status).not.toBe(200);

    const before = await b.get('/metrics');
    expect(before.status).toBe(200);
    expect(before.type).toMatch(/^text\/plain/);
    expect(before.text).toMatch(/^dumptruck_queue_depth 0$/m);
    expect(before.text).toMatch(/^dumptruck_jobs_running 0$/m);
    expect(before.text).toContain('# TYPE dumptruck_backups_total counter');
    expect(before.text).toContain('# TYPE dumptruck_alert_reruns_total counter');
    expect(before.text).toContain('dumptruck_process_resident_memory_bytes');

    const run = await b.command('run app-db');
    expect(run.status).toBe(200);
    const result = await slack.waitForCall(
      (c) => c.method === 'chat.postMessage' && /Backup of `app-db` (finished|stored|failed)/.test(String(c.args.text)),
      60_000,
    );
    // The `postgres` database has no tables: stored, and flagged as an empty dump rather than a plain success.
    expect(result.args.text).toMatch(/^:warning: Backup of `app-db` stored, but flagged: the dump is empty/);

    const after = await b.get('/metrics');
    expect(after.text).toMatch(/^dumptruck_backups_total\{target="app-db",result="success"\} 1$/m);
    expect(after.text).toMatch(/^dumptruck_backup_duration_seconds_count\{target="app-db",result="success"\} 1$/m);
    expect(after.text).toMatch(/^dumptruck_backup_size_bytes_count\{target="app-db"\} 1$/m);
    expect(after.text).toMatch(/^dumptruck_bytes_streamed_total\{target="app-db",stage="stored"\} [1-9]\d*$/m);
    expect(after.text).toMatch(/^dumptruck_last_success_timestamp_seconds\{target="app-db"\} \d{10}/m);
    expect(after.text).toMatch(/^dumptruck_jobs_running 0$/m);

    // Logs: JSON lines; the job's lines carry its id and target.
    const lines = b
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const finished = lines.find((l) => l.msg === 'backup finished');
    expect(finished).toMatchObject({
      level: 'info',
      target: 'app-db',
      jobId: expect.stringMatching(/^[0-9a-f]{8}$/),
      key: expect.stringContaining(`${prefix}/app-db/`),
    });
    expect(lines.find((l) => l.msg === 'backup started')).toMatchObject({ jobId: finished!.jobId, target: 'app-db' });

    await stopCleanly(b);
  });

  it('HTTP mode, bucket unreachable: alive on /healthz, not ready on /readyz naming the bucket', async () => {
    const closed = await freePort();
    const { bot: b } = await bots.start({ config, fakeToken: TEST_BOT_TOKEN, env: { S3_ENDPOINT: `http://127.0.0.1:${closed}` } });
    const readyz = await b.waitFor('/readyz', (a) => a.status === 503 && a.json?.checks?.slack?.ok === true);
    expect(readyz.json).toMatchObject({
      status: 'not ready',
      failing: ['bucket'],
      checks: { config: { ok: true }, slack: { ok: true }, bucket: { ok: false } },
    });
    expect(readyz.json!.checks.bucket.detail).toContain(`bucket ${servers.bucket}`);
    expect((await b.get('/healthz')).status).toBe(200);
    expect((await b.get('/metrics')).status).toBe(200);
    await stopCleanly(b);
  });

  it('Socket Mode: health on PORT while Slack cannot be reached; not ready (slack), no crash, clean exit', async () => {
    // Any token: auth.test passes, apps.connections.open is unknown to the fake, so the Socket
    // Mode client keeps retrying, as it would while Slack is down.
    const { bot: b, slack } = await bots.start({ config, appToken: APP_TOKEN });
    const healthz = await b.waitFor('/healthz', ready);
    expect(healthz.json).toEqual({ status: 'ok' });
    const notReady = await b.get('/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.json).toMatchObject({
      status: 'not ready',
      failing: ['slack'],
      checks: { config: { ok: true }, slack: { ok: false }, bucket: { ok: true } },
    });

    // A retry after the client's first back-off (5 s): still alive, still not ready, still serving.
    const connects = () => slack.calls.filter((c) => c.method === 'apps.connections.open').length;
    await eventually(() => (connects() >= 2 ? true : undefined), 'a second apps.connections.open', 60_000);
    expect(b.child.exitCode).toBeNull();
    const still = await b.get('/readyz');
    expect(still.status).toBe(503);
    expect(still.json!.checks.slack).toEqual({ ok: false, detail: 'Socket Mode reconnecting' });
    const metrics = await b.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^dumptruck_queue_depth 0$/m);
    // Slack's API is never asked for anything else: no HTTP receiver, no events endpoint.
    expect((await b.get('/slack/events')).status).toBe(404);

    await stopCleanly(b);
  });
});
