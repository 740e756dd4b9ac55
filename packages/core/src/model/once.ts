/**
 * Once-per-rollout steps: commands a ring runs once for a rollout, not once per host — before
 * the first host (a schema migration, as Capistrano's `deploy:migrate` runs on the primary db
 * role) and after the last (warming a cache, the contract half of a migration). They run on the
 * runner, in a checkout of the release's revision (where the migrations live, with the code), or
 * on one named host of the ring. Each start and end is recorded: after a crash a step that
 * finished is never run again, and one that was cut off is run again only when it says it may be
 * (`idempotent`). A rollback undoes a step only by its `down` command, when one is given.
 */
import { z } from 'zod';
import { SAFE_NAME } from '../exec/quote.js';
import { durationSchema } from './duration.js';

const argv = z.array(z.string()).min(1, 'expected a command as an argv array, such as ["./migrate", "up"]');

export const onceStepSchema = z
  .object({
    /** Recorded and shown: `migrate`. */
    name: z.string().regex(SAFE_NAME, 'expected a name of letters, digits, ".", "_" or "-" (at most 63)'),
    /** The command (an argv array, never a shell string). */
    run: argv,
    /**
     * Where it runs: `'runner'` (in a checkout of the release's revision; the default), or
     * `{ host }`, one host of the ring (over its target, with the ring's vars and secrets).
     */
    on: z.union([z.literal('runner'), z.object({ host: z.string().min(1) }).strict()]).default('runner'),
    /** Run by a rollback away from the release, after its hosts are back: the step's undo. */
    down: argv.optional(),
    /**
     * Running it twice does no harm (a migration tool that skips what it applied): a run cut
     * off by a crash is run again. Otherwise it is not, and the rollout stops saying so. @default false
     */
    idempotent: z.boolean().default(false),
    timeout: durationSchema.default(30 * 60_000),
    /** Extra environment (beside the ring's vars and secrets). */
    env: z.record(z.string(), z.string()).default({}),
  })
  .strict();
export type OnceStepOptions = z.input<typeof onceStepSchema>;
export type OnceStep = z.output<typeof onceStepSchema>;

export const onceOptionsSchema = z
  .object({
    /** Before the first host of a deploy: a failure stops the rollout with nothing installed. */
    before: z.array(onceStepSchema).default([]),
    /** After the last host of a deploy that succeeded, before the ring's gates. */
    after: z.array(onceStepSchema).default([]),
  })
  .strict();
export type OnceOptions = z.input<typeof onceOptionsSchema>;
export type Once = z.output<typeof onceOptionsSchema>;

/** Which part of a rollout a once-step ran in: before its hosts, after them, or undone by a rollback. */
export type OncePhase = 'before' | 'after' | 'down';

/** `before/migrate`: a once-step's key in a rollout. */
export const onceKey = (phase: OncePhase, name: string) => `${phase}/${name}`;
