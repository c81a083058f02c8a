// The real bot as `npm start` runs it (`node dist/slack/main.js` with its flags), in HTTP mode
// against a fake Slack Web API: started by the benches that send it signed slash commands.
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { TEST_SIGNING_SECRET } from '../test/helpers/slack-sign.js';

export const BENCH_BOT_TOKEN = 'xoxb-1111-2222-benchtoken';

export interface BenchBotOptions {
  readonly root: string;
  readonly configPath: string;
  readonly env: Record<string, string | undefined>;
  readonly port: number;
  /** The fake Slack's SLACK_API_URL. */
  readonly slackApiUrl: string;
  readonly stdio: StdioOptions;
}

export function spawnBot(o: BenchBotOptions): ChildProcess {
  return spawn(
    process.execPath,
    ['--max-semi-space-size=4', '--optimize-for-size', '--no-incremental-marking', '--expose-gc', 'dist/slack/main.js'],
    {
      cwd: o.root,
      env: {
        ...o.env,
        MALLOC_MMAP_THRESHOLD_: '131072',
        DUMPTRUCK_CONFIG: o.configPath,
        SLACK_MODE: 'http',
        PORT: String(o.port),
        SLACK_BOT_TOKEN: BENCH_BOT_TOKEN,
        SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
        SLACK_API_URL: o.slackApiUrl,
        LOG_LEVEL: 'warn',
      },
      stdio: o.stdio,
    },
  );
}
