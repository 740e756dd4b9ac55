/**
 * Calendar helpers shared by `window()` and `freeze()`: day and hour specs, IANA time zones,
 * local wall time at an instant (cached), and the instant a local date and time begins.
 */
import { z } from 'zod';

export const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Day = (typeof DAYS)[number];
const dayName = z
  .string()
  .transform((d) => d.toLowerCase().slice(0, 3))
  .pipe(z.enum(DAYS, { message: 'expected a day such as "mon" or "monday"' }));

/** `mon-thu` → [1,2,3,4]; `fri` → [5]. */
export function expandDays(spec: readonly string[]): Set<number> {
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

/** One day or a range of days: `mon`, `monday`, `mon-thu`. */
export const daySpecSchema = z
  .string()
  .refine(
    (d) => d.split('-').length <= 2 && d.split('-').every((part) => dayName.safeParse(part).success),
    'expected a day ("mon", "monday") or a range such as "mon-thu"',
  );

const hhmm = /^([01]\d|2[0-3]):([0-5]\d)$/;
export const toMinutes = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));

/** Local hours `10:00-16:00`: end exclusive, `24:00` for midnight, may wrap midnight. */
export const hoursSchema = z
  .string()
  .regex(/^\d\d:\d\d-\d\d:\d\d$/, 'expected hours such as "10:00-16:00"')
  .refine((h) => {
    const [from, to] = h.split('-') as [string, string];
    return hhmm.test(from) && (hhmm.test(to) || to === '24:00');
  }, 'expected valid 24-hour times such as "10:00-16:00"');

/** `10:00-16:00` → minutes of the day, start inclusive, end exclusive. */
export function parseHours(hours: string): { start: number; end: number } {
  const [start, end] = hours.split('-') as [string, string];
  return { start: toMinutes(start), end: toMinutes(end) };
}

export const timeZoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'expected an IANA time zone such as "Europe/Berlin"');

/** Days of the week and hours of the day, as `window()` and weekly freezes take them. */
export interface Weekly {
  days: ReadonlySet<number>;
  start: number;
  end: number;
}

/** Whether a local weekday and minute of day fall inside a weekly span. */
export function inWeekly(span: Weekly, local: { weekday: number; minutes: number }): boolean {
  const { days, start, end } = span;
  if (start <= end) return days.has(local.weekday) && local.minutes >= start && local.minutes < end;
  // A span that wraps midnight belongs to the day it starts on.
  if (local.minutes >= start) return days.has(local.weekday);
  return local.minutes < end && days.has((local.weekday + 6) % 7);
}

export const MINUTE = 60_000;
export const QUARTER = 15 * MINUTE;
export const DAY_MS = 24 * 60 * MINUTE;

/**
 * The local weekday and minute of day at an instant in `timeZone`. Formatted once per quarter
 * hour (every UTC offset in use is a whole number of quarter hours) and cached: formatting is
 * the slow part of evaluating a policy every pass, or of a simulated week.
 */
export function localClock(timeZone: string): (t: number) => { weekday: number; minutes: number } {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const cache = new Map<number, { weekday: number; minutes: number }>();
  return (t) => {
    const quarter = Math.floor(t / QUARTER);
    let local = cache.get(quarter);
    if (!local) {
      let weekday = 0;
      let minutes = 0;
      for (const part of format.formatToParts(quarter * QUARTER)) {
        if (part.type === 'weekday') weekday = DAYS.indexOf(part.value.toLowerCase() as Day);
        else if (part.type === 'hour') minutes += Number(part.value) * 60;
        else if (part.type === 'minute') minutes += Number(part.value);
      }
      local = { weekday, minutes };
      if (cache.size > 10_000) cache.clear();
      cache.set(quarter, local);
    }
    return { weekday: local.weekday, minutes: local.minutes + Math.floor((t - quarter * QUARTER) / MINUTE) };
  };
}

/**
 * The first instant at or after `t` where `holds` (minute precision), probing quarter hours up
 * to `quarters` ahead; undefined when it never holds that far. `holds(t)` is expected false.
 */
export function nextWhere(t: number, holds: (t: number) => boolean, quarters: number): number | undefined {
  let probe = Math.ceil(t / QUARTER) * QUARTER;
  for (let i = 0; i < quarters; i++, probe += QUARTER) {
    if (!holds(probe)) continue;
    // Refine inside the previous quarter hour, for spans that change off the quarter.
    let first = probe;
    for (let m = probe - MINUTE; m > probe - QUARTER && m >= t; m -= MINUTE) {
      if (holds(m)) first = m;
      else break;
    }
    return first;
  }
  return undefined;
}

const fullFormats = new Map<string, Intl.DateTimeFormat>();
function fullFormat(timeZone: string): Intl.DateTimeFormat {
  let format = fullFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    fullFormats.set(timeZone, format);
  }
  return format;
}

/** The UTC offset in `timeZone` at an instant, in milliseconds (local − UTC), to the second. */
export function offsetAt(timeZone: string, t: number): number {
  const parts: Record<string, number> = {};
  for (const part of fullFormat(timeZone).formatToParts(t)) parts[part.type] = Number(part.value);
  const local = Date.UTC(
    parts.year!,
    parts.month! - 1,
    parts.day!,
    parts.hour!,
    parts.minute!,
    parts.second!,
  );
  return local - (t - (((t % 1000) + 1000) % 1000));
}

/**
 * The instant a local date and time begins in `timeZone`: the earlier one when clocks go back
 * and it happens twice, the end of the gap when clocks go forward over it (a day in a zone
 * that changes at midnight then starts at 01:00).
 */
export function zonedInstant(
  timeZone: string,
  date: { year: number; month: number; day: number },
  minutes = 0,
): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day) + minutes * MINUTE;
  const offsets = [...new Set([offsetAt(timeZone, wall - DAY_MS), offsetAt(timeZone, wall + DAY_MS)])];
  const valid = offsets.map((o) => wall - o).filter((t) => offsetAt(timeZone, t) === wall - t);
  if (valid.length) return Math.min(...valid);
  // In a gap: the first minute whose local time is at or after the wall time.
  let lo = wall - Math.max(...offsets);
  let hi = wall - Math.min(...offsets);
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
    if (mid + offsetAt(timeZone, mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** An instant as local ISO time with its offset: `2027-01-04T00:00:00+01:00`. */
export function formatLocal(timeZone: string, t: number): string {
  const offset = offsetAt(timeZone, t);
  const wall = new Date(t + offset).toISOString().slice(0, 19);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(Math.round(offset / MINUTE));
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${wall}${sign}${hh}:${mm}`;
}

/** A calendar date, `YYYY-MM-DD`, parsed and checked (no 2026-02-30). */
export function parseLocalDate(text: string): { year: number; month: number; day: number } | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const check = new Date(Date.UTC(year, month - 1, day));
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day)
    return undefined;
  return { year, month, day };
}

/** The calendar date after `date`. */
export function nextDate(date: { year: number; month: number; day: number }): {
  year: number;
  month: number;
  day: number;
} {
  const next = new Date(Date.UTC(date.year, date.month - 1, date.day + 1));
  return { year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate() };
}
