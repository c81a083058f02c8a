import { setTimeout as sleep } from 'node:timers/promises';

/** Time as the progress reporter sees it; tests pass a fake one and advance it by hand. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => sleep(ms),
};
