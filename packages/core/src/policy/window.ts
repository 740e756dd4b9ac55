/** Deploy windows: days of the week and hours of the day, in a named time zone (DST-aware). */
import { z } from 'zod';
import { parseOptions } from '../errors.js';
import {
  daySpecSchema,
  expandDays,
  hoursSchema,
  inWeekly,
  localClock,
  nextWhere,
  parseHours,
  timeZoneSchema,
  type Weekly,
} from './calendar.js';
import type { Decision, Policy } from './types.js';

export const windowOptionsSchema = z
  .object({
    /** Days the window is open: `['mon-thu']`, `['mon', 'wed']`. */
    days: z.array(daySpecSchema).min(1).default(['mon-sun']),
    /** Hours the window is open, local time, `10:00-16:00` (end exclusive; may wrap midnight). */
    hours: hoursSchema.default('00:00-24:00'),
    /** IANA time zone, e.g. `Asia/Kolkata`. */
    timeZone: timeZoneSchema,
  })
  .strict();
export type WindowOptions = z.input<typeof windowOptionsSchema>;

const SEARCH_LIMIT = 8 * 24 * 4; // quarter hours in 8 days: every weekly window opens within that

/**
 * Promote only inside a weekly window in a time zone; outside, wait until it next opens.
 *
 * @example
 * ```ts
 * window({ days: ['mon-thu'], hours: '10:00-16:00', timeZone: 'Asia/Kolkata' })
 * ```
 */
export function window(options: WindowOptions): Policy {
  const opts = parseOptions(windowOptionsSchema, options, 'policy', 'window');
  const span: Weekly = { days: expandDays(opts.days), ...parseHours(opts.hours) };
  const localAt = localClock(opts.timeZone);
  const isOpen = (t: number): boolean => inWeekly(span, localAt(t));

  const label = `window ${opts.days.join(',')} ${opts.hours} ${opts.timeZone}`;
  return {
    kind: 'window',
    approvers: [],
    describe: () => label,
    evaluate(context): Decision {
      const now = context.now.getTime();
      if (isOpen(now)) return { verdict: 'promote', reason: `inside ${label}` };
      const next = nextWhere(now, isOpen, SEARCH_LIMIT);
      if (next === undefined) return { verdict: 'blocked', reason: `${label} never opens` };
      return { verdict: 'wait', until: new Date(next).toISOString(), reason: `outside ${label}` };
    },
  };
}
