/** Time, injectable: soak times and deploy windows read it, so tests simulate a week in milliseconds. */

export interface Clock {
  now(): Date;
  /** Resolves after `ms` of this clock's time (or when `signal` aborts). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}
