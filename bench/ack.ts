// Ack latency under load: the real bot (`node dist/slack/main.js`, Bolt's HTTP receiver) in a
// child process, a fake Slack Web API here, two backups streaming, then a burst of signed
// slash commands sent at once. Prints the median and slowest ack. Run by bench/run.mjs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from '../test/helpers/free-port.js';
import { startFakeSlack } from '../test/helpers/slack-fake.js';
import { sendCommand, TEST_SIGNING_SECRET } from '../test/helpers/slack-sign.js';
import { BENCH_BOT_TOKEN, spawnBot } from './bot.js';

export interface AckBenchOptions {
  readonly root: string;
  /** YAML for two targets `ack-a` and `ack-b` on a large database. */
  readonly configYaml: string;
  readonly env: Record<string, string | undefined>;
  readonly burst?: number;
}

export interface AckBenchResult {
  readonly medianMs: number;
  readonly slowestMs: number;
  readonly count: number;
  readonly okCount: number;
}

export async function ackBench(o: AckBenchOptions): Promise<AckBenchResult> {
  const slack = await startFakeSlack({ token: BENCH_BOT_TOKEN });
  const port = await freePort();
  const configPath = join(o.root, '.local', 'bench-ack.yml');
  writeFileSync(configPath, o.configYaml);
  const bot = spawnBot({ root: o.root, configPath, env: o.env, port, slackApiUrl: slack.apiUrl, stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}/slack/events`;
  try {
    await waitForPort('127.0.0.1', port, { timeoutMs: 30_000 });
    for (const target of ['ack-a', 'ack-b']) {
      await sendCommand(url, TEST_SIGNING_SECRET, { text: `run ${target}`, response_url: slack.responseUrl() });
    }
    // Both streaming: each thread has had a progress edit.
    await slack.waitForCall(
      (c) => c.method === 'chat.update' && /ack-a/.test(JSON.stringify(c.args)) && /dumped/.test(JSON.stringify(c.args)),
      60_000,
    );
    await slack.waitForCall(
      (c) => c.method === 'chat.update' && /ack-b/.test(JSON.stringify(c.args)) && /dumped/.test(JSON.stringify(c.args)),
      60_000,
    );
    const burst = o.burst ?? 100;
    const commands = ['status', 'help', 'targets', 'run nope', 'list'];
    const results = await Promise.all(
      Array.from({ length: burst }, (_, i) =>
        sendCommand(url, TEST_SIGNING_SECRET, { text: commands[i % commands.length]!, response_url: slack.responseUrl() }),
      ),
    );
    const ms = results.map((r) => r.ms).sort((a, b) => a - b);
    await sendCommand(url, TEST_SIGNING_SECRET, { text: 'cancel ack-a', response_url: slack.responseUrl() });
    await sendCommand(url, TEST_SIGNING_SECRET, { text: 'cancel ack-b', response_url: slack.responseUrl() });
    return {
      medianMs: ms[Math.floor(ms.length / 2)]!,
      slowestMs: ms.at(-1)!,
      count: ms.length,
      okCount: results.filter((r) => r.status === 200).length,
    };
  } finally {
    const exited = new Promise((done) => bot.once('close', done));
    bot.kill('SIGTERM');
    await Promise.race([exited, new Promise((done) => setTimeout(done, 30_000))]);
    bot.kill('SIGKILL');
    await slack.close();
  }
}
