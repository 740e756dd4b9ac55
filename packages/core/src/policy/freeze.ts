/**
 * Deploy freezes: recurring weekly periods, dated periods and lists of days, in a time zone
 * (DST-aware), or the single dated period `freeze({ reason, from, until })` of before.
 */
import { z } from 'zod';
import { parseOptions } from '../errors.js';
import {
  DAY_MS,
  daySpecSchema,
  expandDays,
  formatLocal,
  hoursSchema,
  inWeekly,
  localClock,
  MINUTE,
  nextDate,
  nextWhere,
  parseHours,
  parseLocalDate,
  timeZoneSchema,
  type Weekly,
  zonedInstant,
} from './calendar.js';
import type { Decision, Policy } from './types.js';

/** A point in time as written: an instant, or a local date (and time) read in `timeZone`. */
type Point =
  | { instant: number; text: string }
  | { local: { year: number; month: number; day: number }; ms: number; text: string };

const LOCAL = /^(\d{4}-\d{2}-\d{2})(?:T([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?)?$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/i;

/**
 * Reads a point. Strict (periods): a local date or time, or an ISO instant with `Z` or an
 * offset. Lenient (the old top-level `from`/`until`): anything `new Date()` reads, as before.
 */
const point = (lenient: boolean) =>
  z.union([z.string(), z.date(), z.number()]).transform((value, ctx): Point => {
    if (typeof value === 'string') {
      const local = LOCAL.exec(value);
      const date = local ? parseLocalDate(local[1]!) : undefined;
      if (local && date) {
        const ms =
          (Number(local[2] ?? 0) * 60 + Number(local[3] ?? 0)) * 60_000 + Number(local[4] ?? 0) * 1000;
        return { local: date, ms, text: value };
      }
    }
    const t = new Date(value).getTime();
    if (Number.isNaN(t) || (!lenient && typeof value === 'string' && !INSTANT.test(value))) {
      ctx.addIssue({
        code: 'custom',
        message: lenient
          ? `expected a date, got ${JSON.stringify(value)}`
          : `expected a local date "2026-12-20", a local time "2026-12-20T16:00" or an instant "2026-12-20T15:00:00Z", got ${JSON.stringify(value)}`,
      });
      return z.NEVER;
    }
    return { instant: t, text: new Date(t).toISOString() };
  });

const localDateSchema = z
  .string()
  .refine((d) => parseLocalDate(d) !== undefined, 'expected a date such as "2027-02-14"');

const periodSchema = z
  .object({
    /** Why this period is frozen, in the decision's reason; the freeze's `reason` when omitted. */
    reason: z.string().min(1).optional(),
    /** Weekly: days frozen, `['fri']`, `['sat-sun']`; every day when only `hours` is given. */
    days: z.array(daySpecSchema).min(1).optional(),
    /** Weekly: local hours frozen on those days, `16:00-24:00` (end exclusive; may wrap midnight). */
    hours: hoursSchema.optional(),
    /** Dated: start, a local date (midnight in `timeZone`), local time or instant; open when omitted. */
    from: point(false).optional(),
    /** Dated: end, exclusive, as `from`; frozen until lifted when omitted. */
    until: point(false).optional(),
    /** Whole local days: `['2027-02-14', '2027-03-01']`. */
    dates: z.array(localDateSchema).min(1).optional(),
  })
  .strict();

/** A period resolved to instants (dated, dates) or local weekly spans, with its reason and label. */
type Compiled = { reason: string; label: string } & (
  | { kind: 'weekly'; span: Weekly }
  | { kind: 'dated'; from: number; until: number }
  | { kind: 'dates'; spans: [number, number][] }
);

export const freezeOptionsSchema = z
  .object({
    /** Why promotion is frozen, in the decision's reason and the label. */
    reason: z.string().min(1).default('deploy freeze'),
    /** Start of the single dated freeze; frozen from now when omitted. Not with `periods`. */
    from: point(true).optional(),
    /** End of the single dated freeze; frozen until lifted when omitted. Not with `periods`. */
    until: point(true).optional(),
    /** IANA time zone for local days, hours and dates, e.g. `Europe/Berlin`. */
    timeZone: timeZoneSchema.optional(),
    /** Frozen whenever any of these periods covers the time. */
    periods: z.array(periodSchema).min(1, 'expected at least one period').optional(),
  })
  .strict()
  .transform((opts, ctx) => {
    const { reason, timeZone } = opts;
    let ok = true;
    const issue = (path: (string | number)[], message: string) => {
      ok = false;
      ctx.addIssue({ code: 'custom', path, message });
    };
    const needsZone = (path: (string | number)[], what: string) =>
      issue(path, `${what} is local: set timeZone (e.g. "Europe/Berlin")`);
    const resolve = (p: Point, path: (string | number)[], lenient: boolean): number => {
      if ('instant' in p) return p.instant;
      if (timeZone) return zonedInstant(timeZone, p.local) + p.ms;
      if (lenient) return new Date(p.text).getTime(); // the old form read it as `new Date()` does
      needsZone(path, JSON.stringify(p.text));
      return Number.NaN;
    };
    const dated = (
      from: Point | undefined,
      until: Point | undefined,
      path: (string | number)[],
      lenient: boolean,
    ) => {
      const start = from ? resolve(from, [...path, 'from'], lenient) : -Infinity;
      const end = until ? resolve(until, [...path, 'until'], lenient) : Infinity;
      if (end <= start) issue([...path, 'until'], `expected a time after from (${from?.text})`);
      return { from: start, until: end };
    };

    if (!opts.periods) {
      const { from, until } = dated(opts.from, opts.until, [], true);
      if (!ok) return z.NEVER;
      return { reason, timeZone, single: { from, until }, periods: [] as Compiled[] };
    }
    if (opts.from !== undefined || opts.until !== undefined) {
      issue([opts.from !== undefined ? 'from' : 'until'], 'with periods, give the dated freeze as a period');
    }
    const periods: Compiled[] = [];
    for (const [i, p] of opts.periods.entries()) {
      const path = ['periods', i];
      const kinds = [
        p.days !== undefined || p.hours !== undefined,
        p.from !== undefined || p.until !== undefined,
        p.dates !== undefined,
      ].filter(Boolean).length;
      if (kinds !== 1) {
        issue(
          path,
          kinds === 0
            ? 'expected days and/or hours (weekly), from and/or until (dated), or dates'
            : 'expected one kind of period: days/hours, from/until or dates; give each its own period',
        );
        continue;
      }
      const own = p.reason ? ` (${p.reason})` : '';
      const base = { reason: p.reason ?? reason };
      if (p.days !== undefined || p.hours !== undefined) {
        const span: Weekly = {
          days: expandDays(p.days ?? ['mon-sun']),
          ...parseHours(p.hours ?? '00:00-24:00'),
        };
        if (span.start === span.end)
          issue([...path, 'hours'], 'expected hours that start and end at different times');
        if (!timeZone) needsZone([...path, p.days ? 'days' : 'hours'], 'a weekly period');
        const label = `${p.days?.join(',') ?? 'daily'}${p.hours ? ` ${p.hours}` : ''} ${timeZone}${own}`;
        periods.push({ ...base, label, kind: 'weekly', span });
      } else if (p.dates !== undefined) {
        if (!timeZone) {
          needsZone([...path, 'dates'], 'a list of dates');
          continue;
        }
        const days = [...new Set(p.dates)].sort().map((d) => parseLocalDate(d)!);
        const spans: [number, number][] = [];
        for (const day of days) {
          const [from, until] = [zonedInstant(timeZone, day), zonedInstant(timeZone, nextDate(day))];
          const last = spans.at(-1);
          if (last && last[1] >= from) last[1] = until;
          else spans.push([from, until]);
        }
        const label = `${p.dates.length === 1 ? p.dates[0] : `${days.length} dates`}${own}`;
        periods.push({ ...base, label, kind: 'dates', spans });
      } else {
        const { from, until } = dated(p.from, p.until, path, false);
        const span = !p.until
          ? `${p.from!.text} onwards`
          : !p.from
            ? `until ${p.until.text}`
            : `${p.from.text}–${p.until.text}`;
        const label = `${span}${own}`;
        periods.push({ ...base, label, kind: 'dated', from, until });
      }
    }
    if (!ok) return z.NEVER;
    return { reason, timeZone, single: undefined, periods };
  });
export type FreezeOptions = z.input<typeof freezeOptionsSchema>;

/** How far ahead a freeze's end is looked for before it is reported as blocked. */
const HORIZON = 400 * DAY_MS;
const WEEK_QUARTERS = 8 * 24 * 4; // quarter hours in 8 days: a weekly period ends within that, or never
const MAX_STEPS = 100_000; // period ends walked through: a guard, the horizon stops first

/**
 * No promotion while frozen. With `periods` (weekly days and hours, dated spans, lists of days,
 * in `timeZone`), the policy waits until the first moment no period covers, chaining periods
 * that overlap or meet. The old single period (`from`, `until`) waits until its end, and without
 * one it is blocked until someone changes the configuration.
 *
 * @example
 * ```ts
 * freeze({
 *   reason: 'no Friday deploys',
 *   timeZone: 'Europe/Berlin',
 *   periods: [
 *     { days: ['fri'], hours: '16:00-24:00' },
 *     { reason: 'winter holiday', from: '2026-12-20', until: '2027-01-04' },
 *     { dates: ['2027-02-14', '2027-03-01'] },
 *   ],
 * })
 * ```
 */
export function freeze(options: FreezeOptions = {}): Policy {
  const opts = parseOptions(freezeOptionsSchema, options, 'policy', 'freeze');
  const localAt = opts.timeZone ? localClock(opts.timeZone) : undefined;

  const covers = (p: Compiled, t: number): boolean => {
    if (p.kind === 'dated') return t >= p.from && t < p.until;
    if (p.kind === 'dates') return p.spans.some(([from, until]) => t >= from && t < until);
    return inWeekly(p.span, localAt!(t));
  };
  /** The first instant at or after `t` (which `p` covers) that `p` no longer covers. */
  const endOf = (p: Compiled, t: number): number => {
    if (p.kind === 'dated') return p.until;
    if (p.kind === 'dates') return p.spans.find(([from, until]) => t >= from && t < until)?.[1] ?? t;
    return nextWhere(t, (u) => !covers(p, u), WEEK_QUARTERS) ?? Infinity;
  };
  const when = (t: number) =>
    opts.timeZone ? `${formatLocal(opts.timeZone, t)} ${opts.timeZone}` : new Date(t).toISOString();

  const { single } = opts;
  const label = single
    ? `freeze (${opts.reason}${single.until !== Infinity ? ` until ${new Date(single.until).toISOString()}` : ''})`
    : `freeze (${opts.reason}: ${opts.periods.map((p) => p.label).join('; ')})`;

  return {
    kind: 'freeze',
    approvers: [],
    describe: () => label,
    evaluate(context): Decision {
      const now = context.now.getTime();
      if (single) {
        if (now < single.from) return { verdict: 'promote', reason: 'freeze not started' };
        if (now >= single.until) return { verdict: 'promote', reason: 'freeze over' };
        if (single.until === Infinity) return { verdict: 'blocked', reason: `frozen: ${opts.reason}` };
        return {
          verdict: 'wait',
          until: new Date(single.until).toISOString(),
          reason: `frozen: ${opts.reason}`,
        };
      }
      if (!opts.periods.some((p) => covers(p, now))) return { verdict: 'promote', reason: 'not frozen' };

      // Walk from period end to period end while another period covers it.
      const reasons = new Set<string>();
      let t = now;
      for (let step = 0; step < MAX_STEPS && t - now <= HORIZON; step++) {
        const covering = opts.periods.filter((p) => covers(p, t));
        if (!covering.length)
          return {
            verdict: 'wait',
            until: new Date(t).toISOString(),
            reason: `frozen: ${[...reasons].join('; ')} (until ${when(t)})`,
          };
        for (const p of covering) reasons.add(p.reason);
        const end = Math.max(...covering.map((p) => endOf(p, t)));
        if (end === Infinity)
          return { verdict: 'blocked', reason: `frozen: ${[...reasons].join('; ')} (no end set)` };
        t = end > t ? end : t + MINUTE;
      }
      return {
        verdict: 'blocked',
        reason: `frozen: ${[...reasons].join('; ')} (still frozen on ${when(t)}, more than 400 days ahead)`,
      };
    },
    frozen(context) {
      const d = this.evaluate(context);
      if (d.verdict === 'promote') return undefined;
      return { reason: d.reason, ...(d.verdict === 'wait' && d.until ? { until: d.until } : {}) };
    },
  };
}
