/**
 * Rollout strategies: how a ring's hosts get a release. A strategy is plain data (so the ledger
 * can record exactly what ran): batch size or steps, a failure budget, and what to do when the
 * budget is spent. Steps are Argo Rollouts' canary steps for hosts: "up to 1 host", a pause for
 * a person or for a while, and a verify (the ring's gates) before the rollout goes on.
 */
import { z } from 'zod';
import { parseOptions } from '../errors.js';
import { durationSchema, formatDuration, parseDuration } from '../model/duration.js';

/** The default deadline of one host's step: generous, since a slow dpkg is never killed. */
export const DEFAULT_HOST_TIMEOUT_MS = 30 * 60_000;

const percent = z.string().regex(/^(100|[1-9]?\d)(\.\d+)?%$/, 'expected a percentage such as "25%"');
const share = (p: string) => Number(p.slice(0, -1)) / 100;
const hostCount = z.number().int('expected a whole number').min(1, 'expected a whole number ≥ 1');

/** A pause's length: `'manual'` (until a person resumes the rollout), or a duration. */
const pauseLength = z.union([z.string(), z.number()]).transform((value, ctx): 'manual' | number => {
  if (value === 'manual') return 'manual';
  const ms = parseDuration(value);
  if (ms !== undefined) return ms;
  ctx.addIssue({
    code: 'custom',
    message: `expected "manual" or a duration such as "10m", got ${JSON.stringify(value)}`,
  });
  return z.NEVER;
});

/** Each kind of step, by the key that names it. */
const STEP_KINDS = {
  hosts: z.object({ hosts: z.union([hostCount, percent]) }).strict(),
  pause: z.object({ pause: pauseLength }).strict(),
  verify: z.object({ verify: z.literal(true) }).strict(),
};
const percentStep = z.number().min(0.01).max(100);

/** A step as written: a percentage (the older spelling), or one of the objects below. */
export type RolloutStepInput =
  | number
  | { hosts: number | string }
  | { pause: 'manual' | string | number }
  | { verify: true };

/**
 * One step of a rollout. Host steps are cumulative: `{ hosts: 1 }` then `{ hosts: '50%' }` updates
 * one host, then up to half of them; a bare number is the older spelling of a percentage step.
 * `{ pause: 'manual' }` waits for `ringmaster resume`, `{ pause: '10m' }` on the engine's clock;
 * `{ verify: true }` runs the ring's gates on the hosts updated so far. Checked by the key that
 * names the kind, so a mistake is reported where it is, not as "no kind matched".
 */
export const rolloutStepSchema = z.custom<RolloutStepInput>().transform((value, ctx) => {
  const key =
    typeof value === 'object' && value !== null ? Object.keys(value).find((k) => k in STEP_KINDS) : undefined;
  const schema =
    typeof value === 'number' ? percentStep : key ? STEP_KINDS[key as keyof typeof STEP_KINDS] : undefined;
  if (!schema) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a percentage, { hosts }, { pause } or { verify: true }, got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  }
  const parsed = schema.safeParse(value);
  if (parsed.success)
    return parsed.data as
      | number
      | { hosts: number | string }
      | { pause: 'manual' | number }
      | { verify: true };
  for (const issue of parsed.error.issues)
    ctx.addIssue({ ...issue, code: 'custom', message: issue.message, path: issue.path });
  return z.NEVER;
});
export type RolloutStep = z.output<typeof rolloutStepSchema>;

/** How far a host step reaches: a share of the hosts (0–1], or a count. */
type Reach = { share: number } | { count: number };
function reachOf(step: RolloutStep): Reach | undefined {
  if (typeof step === 'number') return { share: step / 100 };
  if ('hosts' in step)
    return typeof step.hosts === 'number' ? { count: step.hosts } : { share: share(step.hosts) };
  return undefined;
}

export const rolloutSchema = z
  .object({
    /** Hosts updated at once: a count, or a percentage of the ring's hosts. @default 1 */
    batch: z
      .union([z.number().int('expected a whole number').min(1, 'expected a whole number ≥ 1'), percent])
      .default(1),
    /**
     * Steps instead of a fixed batch (see {@link canary}): host steps (cumulative counts or
     * percentages), pauses and verifies. `[10, 50, 100]` updates 10% of the hosts, then up to
     * 50%, then the rest. Hosts a last step leaves out are updated in a final batch.
     */
    steps: z
      .array(rolloutStepSchema)
      .min(1)
      .superRefine((steps, ctx) => {
        // Shares and counts cannot be compared before the ring's size is known: each kind must grow.
        let lastShare = 0;
        let lastCount = 0;
        for (const [i, step] of steps.entries()) {
          const reach = reachOf(step);
          if (!reach) continue;
          if ('share' in reach) {
            if (reach.share <= lastShare)
              ctx.addIssue({ code: 'custom', path: [i], message: 'expected increasing host steps' });
            lastShare = reach.share;
          } else {
            if (reach.count <= lastCount)
              ctx.addIssue({ code: 'custom', path: [i], message: 'expected increasing host steps' });
            lastCount = reach.count;
          }
        }
      })
      .optional(),
    /** With `batch`: run the ring's gates after every batch but the last (whose gates run anyway). */
    verifyEach: z.boolean().optional(),
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
 * batches(2, { verifyEach: true }) // the ring's gates after every batch, before the next
 * ```
 */
export function batches(
  size: number | string,
  options: FailureOptions & Pick<RolloutOptions, 'verifyEach'> = {},
): RolloutSpec {
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

/** A pause step: until a person resumes the rollout, or for a while (`'10m'`, ms). */
export function pause(how: 'manual' | string | number): { pause: 'manual' | number } {
  return parseOptions(STEP_KINDS.pause, { pause: how }, 'rollout', 'pause');
}

/** A verify step: the ring's gates run on the hosts updated so far, before the next step. */
export function verify(): { verify: true } {
  return { verify: true };
}

/** A step as written for {@link canary}: a host count, a percentage, or a pause or verify. */
export type CanaryStep = number | string | RolloutStep;

/**
 * Canary steps, Argo Rollouts style: host counts (`1`) or shares (`'25%'`), cumulative, with
 * pauses and verifies between them. Hosts the last step leaves out are updated at the end.
 *
 * @example
 * ```ts
 * canary([1, verify(), pause('manual'), '50%', pause('10m'), verify(), '100%'], { onFailure: 'rollback' })
 * ```
 */
export function canary(steps: readonly CanaryStep[], options: FailureOptions = {}): RolloutSpec {
  const written = steps.map((s) =>
    typeof s === 'number' ? { hosts: s } : typeof s === 'string' ? { hosts: s } : s,
  );
  return parseOptions(rolloutSchema, { ...options, steps: written }, 'rollout', 'rollout');
}

/** A step between host batches: wait, or check the hosts done so far. */
export type Checkpoint = { pause: 'manual' | number } | { verify: true };

/**
 * A rollout as it runs: host batches and the checkpoints between them, in order. `step` numbers
 * them from 1 as `status` and `explain` say "step 2 of 5".
 */
export type PlannedStep = { step: number } & ({ batch: number } | Checkpoint);

/** Splits hosts into batches, in order. Every host appears exactly once. */
export function planBatches(spec: RolloutSpec, hosts: readonly string[]): string[][] {
  return planRollout(spec, hosts).batches;
}

/**
 * Plans a rollout over `hosts`: its batches (every host exactly once, in order) and, when the
 * strategy has pauses or verifies, every step in order. A host step that adds no host (10% of
 * three hosts, then 20%) is left out; a verify after the last batch is left out too, since the
 * ring's gates run then anyway.
 */
export function planRollout(
  spec: RolloutSpec,
  hosts: readonly string[],
): { batches: string[][]; steps?: PlannedStep[] } {
  const n = hosts.length;
  const batches: string[][] = [];
  const plan: ({ batch: number } | Checkpoint)[] = [];
  const addBatch = (from: number, to: number) => {
    plan.push({ batch: batches.length });
    batches.push(hosts.slice(from, to));
  };
  if (n === 0) return { batches };
  if (spec.steps) {
    let done = 0;
    for (const step of spec.steps) {
      const reach = reachOf(step);
      if (!reach) {
        plan.push(step as Checkpoint);
        continue;
      }
      if (done >= n) continue;
      const wanted = 'share' in reach ? Math.ceil(reach.share * n) : reach.count;
      const upTo = Math.min(n, Math.max(done + 1, wanted));
      addBatch(done, upTo);
      done = upTo;
    }
    if (done < n) addBatch(done, n);
  } else {
    const size = typeof spec.batch === 'number' ? spec.batch : Math.max(1, Math.ceil(share(spec.batch) * n));
    for (let i = 0; i < n; i += size) {
      if (i > 0 && spec.verifyEach) plan.push({ verify: true });
      addBatch(i, Math.min(n, i + size));
    }
  }
  // A verify with no batch after it is the ring's own verification: the gates run then anyway.
  while (plan.length && 'verify' in plan.at(-1)!) plan.pop();
  if (!plan.some((s) => !('batch' in s))) return { batches };
  return { batches, steps: plan.map((s, i) => ({ step: i + 1, ...s })) };
}

/** `pause for a person`, `pause 10m`, `verify`, `batch 2 (3 hosts)`. */
export function describeStep(step: PlannedStep, batches: readonly (readonly string[])[]): string {
  if ('batch' in step) {
    const size = batches[step.batch]?.length ?? 0;
    return `batch ${step.batch + 1} (${size} host${size === 1 ? '' : 's'})`;
  }
  if ('verify' in step) return 'verify';
  return step.pause === 'manual' ? 'pause for a person' : `pause ${formatDuration(step.pause)}`;
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

/** One step as `status` lists a strategy: `10%`, `1 host`, `pause`, `pause 10m`, `verify`. */
function stepLabel(step: RolloutStep): string {
  if (typeof step === 'number') return `${step}%`;
  if ('hosts' in step)
    return typeof step.hosts === 'number' ? `${step.hosts} host${step.hosts === 1 ? '' : 's'}` : step.hosts;
  if ('verify' in step) return 'verify';
  return step.pause === 'manual' ? 'pause' : `pause ${formatDuration(step.pause)}`;
}

/** `one at a time`, `batches of 5`, `steps 10%→50%→100%`, plus the failure budget. */
export function describeRollout(spec: RolloutSpec): string {
  const reachesAll = (s: RolloutStep | undefined) =>
    s !== undefined && (s === 100 || (typeof s === 'object' && 'hosts' in s && s.hosts === '100%'));
  const lastHostStep = spec.steps?.findLast((s) => reachOf(s) !== undefined);
  const shape = spec.steps
    ? `steps ${[...spec.steps.map(stepLabel), ...(reachesAll(lastHostStep) ? [] : ['100%'])].join('→')}`
    : spec.batch === 1
      ? `one at a time${spec.verifyEach ? ', verified after each' : ''}`
      : `batches of ${spec.batch}${spec.verifyEach ? ', verified after each' : ''}`;
  return `${shape}, max failures ${spec.maxFailures}, then ${spec.onFailure}`;
}
