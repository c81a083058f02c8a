// A clock that moves only when the test says so: throttling and Retry-After waits take no real time.
import type { Clock } from '../../src/slack/clock.js';

export class FakeClock implements Clock {
  private t: number;
  private timers: Array<{ at: number; resolve: () => void }> = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timers.push({ at: this.t + Math.max(0, ms), resolve }));
  }

  /** Sleepers waiting right now. */
  get sleeping(): number {
    return this.timers.length;
  }

  /** Moves time forward, waking sleepers in order and letting the code they resume run. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.resolve();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Lets pending promise chains (and fake I/O resolved with setImmediate) run to their next wait. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}
