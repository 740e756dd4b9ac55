/** Deploy windows: days of the week and hours of the day, in a named time zone (DST-aware). */
import { z } from 'zod';
import { parseOptions } from '../errors.js';
import type { Decision, Policy } from './types.js';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
type Day = (typeof DAYS)[number];
const dayName = z
  .string()
  .transform((d) => d.toLowerCase().slice(0, 3))
  .pipe(z.enum(DAYS, { message: 'expected a day such as "mon" or "monday"' }));

/** `mon-thu` → [1,2,3,4]; `fri` → [5]. */
function expandDays(spec: readonly string[]): Set<number> {
  const out = new Set<number>();
  for (const item of spec) {
    const [a, b] = item.split('-').map((d) => dayName.parse(d) as Day);
    const from = DAYS.indexOf(a!);
    const to = b === undefined ? from : DAYS.indexOf(b);
    for (let d = from; ; d = (d + 1) % 7) {
      out.add(d);
      if (d === to) break;
    }
  }
  return out;
}

const hhmm = /^([01]\d|2[0-3]):([0-5]\d)$/;
const toMinutes = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));

export const windowOptionsSchema = z
  .object({
    /** Days the window is open: `['mon-thu']`, `['mon', 'wed']`. */
    days: z
      .array(
        z
          .string()
          .refine(
            (d) => d.split('-').length <= 2 && d.split('-').every((part) => dayName.safeParse(part).success),
            'expected a day ("mon", "monday") or a range such as "mon-thu"',
          ),
      )
      .min(1)
      .default(['mon-sun']),
    /** Hours the window is open, local time, `10:00-16:00` (end exclusive; may wrap midnight). */
    hours: z
      .string()
      .regex(/^\d\d:\d\d-\d\d:\d\d$/, 'expected hours such as "10:00-16:00"')
      .refine((h) => {
        const [from, to] = h.split('-') as [string, string];
        return hhmm.test(from) && (hhmm.test(to) || to === '24:00');
      }, 'expected valid 24-hour times such as "10:00-16:00"')
      .default('00:00-24:00'),
    /** IANA time zone, e.g. `Asia/Kolkata`. */
    timeZone: z.string().refine((tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'expected an IANA time zone such as "Europe/Berlin"'),
  })
  .strict();
export type WindowOptions = z.input<typeof windowOptionsSchema>;

const QUARTER = 15 * 60_000;
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
  const days = expandDays(opts.days);
  const [startText, endText] = opts.hours.split('-') as [string, string];
  const start = toMinutes(startText);
  const end = toMinutes(endText);
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: opts.timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });

  // Local weekday and minute of day at each quarter hour (every UTC offset in use is a whole
  // number of quarter hours), cached: formatting is the slow part of a simulated week.
  const quarterCache = new Map<number, { weekday: number; minutes: number }>();
  const localAt = (t: number) => {
    const quarter = Math.floor(t / QUARTER);
    let local = quarterCache.get(quarter);
    if (!local) {
      let weekday = 0;
      let minutes = 0;
      for (const part of format.formatToParts(quarter * QUARTER)) {
        if (part.type === 'weekday') weekday = DAYS.indexOf(part.value.toLowerCase() as Day);
        else if (part.type === 'hour') minutes += Number(part.value) * 60;
        else if (part.type === 'minute') minutes += Number(part.value);
      }
      local = { weekday, minutes };
      if (quarterCache.size > 10_000) quarterCache.clear();
      quarterCache.set(quarter, local);
    }
    return { weekday: local.weekday, minutes: local.minutes + Math.floor((t - quarter * QUARTER) / 60_000) };
  };

  const isOpen = (t: number): boolean => {
    const { weekday, minutes } = localAt(t);
    if (start <= end) return days.has(weekday) && minutes >= start && minutes < end;
    // A window that wraps midnight belongs to the day it starts on.
    if (minutes >= start) return days.has(weekday);
    return minutes < end && days.has((weekday + 6) % 7);
  };

  /** The first instant at or after `t` when the window is open (minute precision). */
  const nextOpening = (t: number): number | undefined => {
    let probe = Math.ceil(t / QUARTER) * QUARTER;
    for (let i = 0; i < SEARCH_LIMIT; i++, probe += QUARTER) {
      if (!isOpen(probe)) continue;
      // Refine inside the previous quarter hour, for windows that open off the quarter.
      let first = probe;
      for (let m = probe - 60_000; m > probe - QUARTER && m >= t; m -= 60_000) {
        if (isOpen(m)) first = m;
        else break;
      }
      return first;
    }
    return undefined;
  };

  const label = `window ${opts.days.join(',')} ${opts.hours} ${opts.timeZone}`;
  return {
    kind: 'window',
    approvers: [],
    describe: () => label,
    evaluate(context): Decision {
      const now = context.now.getTime();
      if (isOpen(now)) return { verdict: 'promote', reason: `inside ${label}` };
      const next = nextOpening(now);
      if (next === undefined) return { verdict: 'blocked', reason: `${label} never opens` };
      return { verdict: 'wait', until: new Date(next).toISOString(), reason: `outside ${label}` };
    },
  };
}
