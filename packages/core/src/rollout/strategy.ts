/**
 * Rollout strategies: how a ring's hosts get a release. A strategy is plain data (so the ledger
 * can record exactly what ran): batch size or percentage steps, a failure budget, and what to
 * do when the budget is spent.
 */
import { z } from 'zod';
import { parseOptions } from '../errors.js';
import { durationSchema } from '../model/duration.js';

/** The default deadline of one host's step: generous, since a slow dpkg is never killed. */
export const DEFAULT_HOST_TIMEOUT_MS = 30 * 60_000;

const percent = z.string().regex(/^(100|[1-9]?\d)(\.\d+)?%$/, 'expected a percentage such as "25%"');

export const rolloutSchema = z
  .object({
    /** Hosts updated at once: a count, or a percentage of the ring's hosts. @default 1 */
    batch: z
      .union([z.number().int('expected a whole number').min(1, 'expected a whole number ≥ 1'), percent])
      .default(1),
    /**
     * Cumulative percentage steps instead of a fixed batch: `[10, 50, 100]` updates 10% of the
     * hosts, then up to 50%, then the rest.
     */
    steps: z
      .array(z.number().min(0.01).max(100), { error: 'expected percentages between 0 and 100' })
      .min(1)
      .refine((s) => s.every((v, i) => i === 0 || v > s[i - 1]!), 'expected increasing percentages')
      .optional(),
    /**
     * Failure budget. A number: the rollout stops when more than this many hosts failed in
     * total. A percentage: Ansible's `max_fail_percentage` — it stops when the failed hosts of
     * the current batch exceed that share of the batch (strictly more than, not equal).
     * @default 0
     */
    maxFailures: z
      .union([z.number().int('expected a whole number').min(0, 'expected a number ≥ 0'), percent])
      .default(0),
    /** When the budget is spent: `rollback` reinstalls what each changed host ran before; `halt` stops there. @default 'rollback' */
    onFailure: z.enum(['halt', 'rollback']).default('rollback'),
    /**
     * Deadline of one host's step (install, health check, read-back). When it passes the engine
     * stops waiting and records the host as `unknown` (TIMEOUT) — it never kills the install,
     * which may still be running dpkg. @default '30m'
     */
    hostTimeout: durationSchema.default(DEFAULT_HOST_TIMEOUT_MS),
  })
  .strict();

/** The options as written. */
export type RolloutOptions = z.input<typeof rolloutSchema>;
/** The parsed strategy, as recorded in the ledger. */
export type RolloutSpec = z.output<typeof rolloutSchema>;

/** `maxFailures`, `onFailure` and `hostTimeout` (used by the factories below). */
export type FailureOptions = Pick<RolloutOptions, 'maxFailures' | 'onFailure' | 'hostTimeout'>;

/**
 * One host at a time, checking each: the seed's "one server at a time, check if it works".
 *
 * @example
 * ```ts
 * ring({ name: 'prod', target, rollout: oneAtATime({ maxFailures: 0, onFailure: 'rollback' }) })
 * ```
 */
export function oneAtATime(options: FailureOptions = {}): RolloutSpec {
  return parseOptions(rolloutSchema, { ...options, batch: 1 }, 'rollout', 'rollout');
}

/**
 * Fixed-size batches (`3`) or a share of the hosts (`'25%'`).
 *
 * @example
 * ```ts
 * batches(5, { maxFailures: '20%' })
 * ```
 */
export function batches(size: number | string, options: FailureOptions = {}): RolloutSpec {
  return parseOptions(rolloutSchema, { ...options, batch: size }, 'rollout', 'rollout');
}

/**
 * Cumulative percentage steps, canary style.
 *
 * @example
 * ```ts
 * percentages([10, 50, 100], { maxFailures: 1, onFailure: 'halt' })
 * ```
 */
export function percentages(steps: number[], options: FailureOptions = {}): RolloutSpec {
  return parseOptions(rolloutSchema, { ...options, steps }, 'rollout', 'rollout');
}

const share = (p: string) => Number(p.slice(0, -1)) / 100;

/** Splits hosts into batches, in order. Every host appears exactly once. */
export function planBatches(spec: RolloutSpec, hosts: readonly string[]): string[][] {
  const n = hosts.length;
  const out: string[][] = [];
  if (n === 0) return out;
  if (spec.steps) {
    let done = 0;
    for (const step of [...spec.steps, 100]) {
      const upTo = Math.min(n, Math.max(done + 1, Math.ceil((step / 100) * n)));
      if (upTo > done) out.push(hosts.slice(done, upTo));
      done = upTo;
      if (done >= n) break;
    }
    return out;
  }
  const size = typeof spec.batch === 'number' ? spec.batch : Math.max(1, Math.ceil(share(spec.batch) * n));
  for (let i = 0; i < n; i += size) out.push(hosts.slice(i, i + size));
  return out;
}

/**
 * True when the failure budget is spent, given total failures so far and the current batch's.
 */
export function budgetSpent(
  spec: RolloutSpec,
  totalFailures: number,
  batchFailures: number,
  batchSize: number,
): boolean {
  if (typeof spec.maxFailures === 'number') return totalFailures > spec.maxFailures;
  return batchSize > 0 && batchFailures / batchSize > share(spec.maxFailures);
}

/** `one at a time`, `batches of 5`, `steps 10%→50%→100%`, plus the failure budget. */
export function describeRollout(spec: RolloutSpec): string {
  const shape = spec.steps
    ? `steps ${[...spec.steps, ...(spec.steps.at(-1) === 100 ? [] : [100])].map((s) => `${s}%`).join('→')}`
    : spec.batch === 1
      ? 'one at a time'
      : `batches of ${spec.batch}`;
  return `${shape}, max failures ${spec.maxFailures}, then ${spec.onFailure}`;
}
