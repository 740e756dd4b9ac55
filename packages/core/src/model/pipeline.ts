/**
 * Rings and pipelines: the typed objects a team composes in its own script. Each is validated
 * once, here, so a typo fails where it was written with the option path named.
 */
import { z } from 'zod';
import type { Packager, Repository } from '../contracts/artifact.js';
import type { Notifier } from '../contracts/notifier.js';
import type { Source } from '../contracts/source.js';
import type { Target } from '../contracts/target.js';
import { parseOptions } from '../errors.js';
import { SAFE_NAME } from '../exec/quote.js';
import { auto } from '../policy/basic.js';
import { isPolicy, type Policy } from '../policy/types.js';
import { type RolloutSpec, rolloutSchema } from '../rollout/strategy.js';
import { type BuildSpec, buildOptionsSchema } from './build.js';
import { type Gate, type GateOptions, gate, gateOptionsSchema, isGate } from './gate.js';
import { type Once, onceOptionsSchema } from './once.js';
import { checkEnvNames, type ResolvedSecretSource, secretSourceSchema } from './secrets.js';

const hasMethods =
  (...methods: string[]) =>
  (v: unknown) =>
    typeof v === 'object' &&
    v !== null &&
    methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function');

const name = z.string().regex(SAFE_NAME, 'expected a name of letters, digits, ".", "_" or "-" (at most 63)');

const targetSchema = z.custom<Target>(
  (v) => hasMethods('installed', 'install', 'run')(v) && Array.isArray((v as Target).hosts),
  'expected a Target such as localTarget(…) or ssh(…)',
);

const gateEntry = z
  .custom<Gate | GateOptions>(() => true)
  .transform((value, ctx): Gate => {
    if (isGate(value)) return value;
    const parsed = gateOptionsSchema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    }
    return gate(parsed.data);
  });

export const ringOptionsSchema = z
  .object({
    name,
    /** The hosts of the ring and how to reach them. */
    target: targetSchema,
    /** How hosts get a release. @default one at a time, no failures allowed, roll back */
    rollout: rolloutSchema.prefault({}),
    /** Checks run after each rollout; all must pass for the release to be verified here. */
    gates: z.array(gateEntry).default([]),
    /** When a release verified in the previous ring may enter this one. @default auto() */
    policy: z
      .custom<Policy>(isPolicy, 'expected a policy such as auto(), manual() or soak("24h")')
      .optional(),
    /**
     * The ring's own line of development (the seed's `eng/` branch): each commit to it is built
     * and deployed to this ring only, and mainline releases skip the ring. The default, and the
     * recommendation, is none: every ring gets the one artifact built from the mainline.
     */
    line: z
      .custom<Source>(
        hasMethods('head', 'log', 'checkout'),
        'expected a Source such as svn({ line: "branches/eng" })',
      )
      .optional(),
    /** After a failing gate: roll the ring back to what it ran before, or leave it for a person. @default 'rollback' */
    onGateFailure: z.enum(['rollback', 'halt']).default('rollback'),
    /**
     * Plain values for the ring's gates, hooks and health checks, as environment variables
     * (`DB_HOST: 'db.sandbox'`). Not secret: they may be shown and recorded. @default {}
     */
    vars: z
      .record(
        z.string(),
        z.string().refine((v) => !v.includes('\0'), 'must not contain NUL bytes'),
      )
      .default({}),
    /**
     * Secrets for the same commands, by variable name: `{ file }`, `{ env }` or `{ command }`.
     * Read only when a rollout or a gate of this ring runs (after its policy let the release
     * in), never written anywhere, and masked (`***`) in everything the ledger records. @default {}
     */
    secrets: z.record(z.string(), secretSourceSchema).default({}),
    /**
     * Steps run once per deploy to the ring, not per host: `before` the first host (a schema
     * migration; a failure stops the rollout with nothing installed) and `after` the last. Each
     * is recorded, never run twice for one rollout, and undone by a rollback only through its
     * `down` command. @default none
     */
    once: onceOptionsSchema.prefault({}),
  })
  .strict()
  .superRefine((ring, ctx) => {
    checkEnvNames(ring.vars ?? {}, ring.secrets ?? {}, ctx);
    if (ring.target && ring.target.hosts.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['target', 'hosts'], message: 'expected at least one host' });
    }
    // One name per step across before and after: a rollback's down steps are known by it.
    const names = new Set<string>();
    for (const phase of ['before', 'after'] as const) {
      ring.once[phase].forEach((step, i) => {
        if (names.has(step.name))
          ctx.addIssue({
            code: 'custom',
            path: ['once', phase, i, 'name'],
            message: `duplicate step name "${step.name}"`,
          });
        names.add(step.name);
        const on = step.on;
        if (on !== 'runner' && ring.target && !ring.target.hosts.some((h) => h.name === on.host))
          ctx.addIssue({
            code: 'custom',
            path: ['once', phase, i, 'on', 'host'],
            message: `"${on.host}" is not a host of this ring (its hosts: ${ring.target.hosts.map((h) => h.name).join(', ')})`,
          });
      });
    }
    const seen = new Set<string>();
    ring.gates.forEach((g, i) => {
      if (seen.has(g.name))
        ctx.addIssue({
          code: 'custom',
          path: ['gates', i, 'name'],
          message: `duplicate gate name "${g.name}"`,
        });
      seen.add(g.name);
    });
  });
export type RingOptions = z.input<typeof ringOptionsSchema>;

/** A ring of environments: ENG, Sandbox, Production. */
export interface Ring {
  readonly name: string;
  readonly target: Target;
  readonly rollout: RolloutSpec;
  readonly gates: readonly Gate[];
  readonly policy: Policy;
  readonly onGateFailure: 'rollback' | 'halt';
  /** The ring's own line of development, when it has one. */
  readonly line?: Source;
  /** Plain environment variables for the ring's gates, hooks and health checks. */
  readonly vars: Readonly<Record<string, string>>;
  /** Where each secret of the ring comes from (never its value: that is read when needed). */
  readonly secrets: Readonly<Record<string, ResolvedSecretSource>>;
  /** The steps a deploy to the ring runs once, before its first host and after its last. */
  readonly once: Once;
}

function toRing(parsed: z.output<typeof ringOptionsSchema>): Ring {
  return { ...parsed, policy: parsed.policy ?? auto() };
}

/**
 * A ring.
 *
 * @example
 * ```ts
 * ring({
 *   name: 'sandbox',
 *   target: localTarget({ root: '/srv/sandbox', hosts: ['sb-1', 'sb-2'] }),
 *   rollout: batches(1, { maxFailures: 0 }),
 *   gates: [gate({ name: 'smoke', run: ['./smoke.sh'] })],
 *   policy: auto(),
 * })
 * ```
 */
export function ring(options: RingOptions): Ring {
  return toRing(parseOptions(ringOptionsSchema, options, 'pipeline', 'ring'));
}

export const pipelineOptionsSchema = z
  .object({
    name,
    /** Where code comes from, and the line that is watched. */
    source: z.custom<Source>(
      hasMethods('head', 'log', 'checkout'),
      'expected a Source such as git(…) or svn(…)',
    ),
    /** How every commit is built. @default no steps: the checkout is the package tree */
    build: buildOptionsSchema.default({ steps: [], output: '.', timeout: 600_000, env: {} }),
    packager: z.custom<Packager>(
      hasMethods('package', 'versionFor', 'compareVersions'),
      'expected a Packager such as deb(…) or tarball(…)',
    ),
    repository: z.custom<Repository>(hasMethods('publish', 'versions', 'find'), 'expected a Repository'),
    /** Rings in promotion order: ENG → Sandbox → Production. */
    rings: z.array(ringOptionsSchema).min(1, 'expected at least one ring'),
    /** Who hears about builds and rollouts. */
    notifiers: z.array(z.custom<Notifier>(hasMethods('notify'), 'expected a Notifier')).default([]),
    /** Commit author → address for notifications (`alice` → `alice@example.com`). */
    authors: z.record(z.string(), z.string()).default({}),
  })
  .strict()
  .superRefine((p, ctx) => {
    const seen = new Map<string, number>();
    p.rings.forEach((r, i) => {
      if (seen.has(r.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['rings', i, 'name'],
          message: `duplicate ring name "${r.name}" (also rings[${seen.get(r.name)}])`,
        });
      }
      seen.set(r.name, i);
    });
  });
export type PipelineOptions = z.input<typeof pipelineOptionsSchema>;

/** One package's way from commit to production. */
export interface Pipeline {
  readonly name: string;
  readonly source: Source;
  readonly build: BuildSpec;
  readonly packager: Packager;
  readonly repository: Repository;
  readonly rings: readonly Ring[];
  readonly notifiers: readonly Notifier[];
  readonly authors: Readonly<Record<string, string>>;
}

/**
 * A pipeline: source → build → package → repository → rings.
 *
 * @example
 * ```ts
 * const app = pipeline({
 *   name: 'foostat',
 *   source: git({ url: '/srv/git/foostat.git' }),
 *   build: build({ steps: [['make']], output: 'out' }),
 *   packager: deb({ name: 'foostat', maintainer: 'Ops <ops@example.com>', description: 'Foostat' }),
 *   repository: aptRepository({ dir: '/srv/apt' }),
 *   rings: [eng, sandbox, prod],
 * });
 * ```
 */
export function pipeline(options: PipelineOptions): Pipeline {
  const parsed = parseOptions(pipelineOptionsSchema, options, 'pipeline', '');
  return { ...parsed, rings: parsed.rings.map(toRing) };
}
