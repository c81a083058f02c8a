// `npm start`: the Slack bot. Socket Mode with SLACK_APP_TOKEN, Bolt's HTTP receiver with
// SLACK_MODE=http. Configuration problems stop start-up with one message naming each variable.
import pino from 'pino';
import { createAppDeps, loadEnvironment } from '../app.js';
import { DumptruckError, userMessage } from '../errors.js';
import { createSlackApp } from './app.js';
import { readSlackEnv } from './env.js';

async function main(): Promise<void> {
  const env = loadEnvironment();
  const logger = pino({ level: env.LOG_LEVEL || 'info' });
  let bot: ReturnType<typeof createSlackApp>;
  try {
    // Slack variables first: they are the usual mistake, and need no config file to check.
    readSlackEnv(env);
    const deps = await createAppDeps(env);
    bot = createSlackApp({ config: deps.config, env, runBackup: deps.runBackup, catalog: deps.catalog, logger });
    await bot.start();
  } catch (err) {
    const prefix = err instanceof DumptruckError ? '' : 'unexpected error: ';
    process.stderr.write(`dumptruck: ${prefix}${userMessage(err)}\n`);
    process.exit(1);
  }
  logger.info({ mode: bot.slack.mode, port: bot.slack.mode === 'http' ? bot.slack.port : undefined }, 'dumptruck is listening for /backup');

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for running backups to clean up');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping: cancelling queued and running backups so that nothing is left half-uploaded');
    bot.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

await main();
