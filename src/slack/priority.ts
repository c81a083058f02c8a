import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { deflate } from 'node:zlib';

/** Niceness given to the bot's background threads (compression pool, V8 helpers). */
export const BACKGROUND_NICENESS = 10;

/**
 * Keeps Slack acks fast while backups stream: on Linux, every thread of this process but the
 * main one (libuv's threadpool, where gzip blocks are compressed, and V8's helpers) gets a lower
 * CPU priority, so the event loop that answers Slack wins the cores when they are contended.
 * Best effort: elsewhere, or without /proc, it does nothing. Returns how many threads it changed.
 */
export async function deprioritizeBackgroundThreads(niceness = BACKGROUND_NICENESS): Promise<number> {
  if (process.platform !== 'linux') return 0;
  // libuv starts its pool on first use; make it exist now so its threads are renamed below,
  // and threads started later inherit the main thread's priority, not this one.
  await new Promise<void>((done) => deflate(Buffer.alloc(1), () => done()));
  let changed = 0;
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return 0;
  }
  for (const tid of tasks) {
    if (Number(tid) === process.pid) continue;
    try {
      setPriority(Number(tid), niceness);
      changed++;
    } catch {
      // A thread that ended meanwhile, or a platform that refuses: not worth failing start-up.
    }
  }
  return changed;
}
