/** The system clock and a manual clock whose time only moves when a test says so. */
import type { Clock } from '../contracts/clock.js';

/** Real time. */
export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        signal?.removeEventListener('abort', done);
        clearTimeout(timer);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/**
 * A clock for tests and policy replay: `now()` stays put until `advance()` or `set()`, and
 * `sleep()` resolves when the clock is advanced past its deadline.
 *
 * @example
 * ```ts
 * const clock = manualClock('2026-11-02T09:00:00Z');
 * clock.advance('24h');
 * ```
 */
export interface ManualClock extends Clock {
  advance(ms: number): Date;
  set(time: Date | string): Date;
}

export function manualClock(start: Date | string | number = 0): ManualClock {
  let now = new Date(start).getTime();
  const sleepers: { until: number; resolve: () => void }[] = [];
  const wake = () => {
    for (const s of [...sleepers]) {
      if (s.until <= now) {
        sleepers.splice(sleepers.indexOf(s), 1);
        s.resolve();
      }
    }
  };
  return {
    now: () => new Date(now),
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        if (ms <= 0 || signal?.aborted) return resolve();
        const entry = { until: now + ms, resolve };
        sleepers.push(entry);
        signal?.addEventListener(
          'abort',
          () => {
            const i = sleepers.indexOf(entry);
            if (i >= 0) sleepers.splice(i, 1);
            resolve();
          },
          { once: true },
        );
      }),
    advance(ms) {
      now += ms;
      wake();
      return new Date(now);
    },
    set(time) {
      now = new Date(time).getTime();
      wake();
      return new Date(now);
    },
  };
}
