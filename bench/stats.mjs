// What every benchmark reports with: the machine's load, and a median with its min and max.
import { loadavg } from 'node:os';

/** The 1, 5 and 15 minute load averages: `0.42 0.37 0.30`. */
export const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** The median (the upper one of an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `median (min–max)`, to `digits` places. */
export const spread = (xs, digits = 1) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
