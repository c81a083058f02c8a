import { format } from 'node:util';
import { LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from 'pino';

// Bolt, the WebClient and the Socket Mode client log through this, so one process writes one
// kind of log line (pino JSON) at one level.

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

export function boltLogger(log: Logger): BoltLogger {
  const at =
    (level: Level) =>
    (...msg: unknown[]) => {
      const errors = msg.filter((m): m is Error => m instanceof Error);
      const text = format(...msg.filter((m) => !(m instanceof Error)));
      if (errors[0]) log[level]({ err: errors[0] }, text || errors[0].message);
      else log[level](text);
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    // The level is pino's (LOG_LEVEL); Bolt must not change it behind our back.
    setLevel: () => {},
    getLevel: () => {
      const level = log.level as string;
      return level === 'trace' || level === 'debug'
        ? LogLevel.DEBUG
        : level === 'info'
          ? LogLevel.INFO
          : level === 'warn'
            ? LogLevel.WARN
            : LogLevel.ERROR;
    },
    setName: () => {},
  };
}
