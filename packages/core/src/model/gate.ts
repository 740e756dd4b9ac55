/**
 * Gates: checks that must pass in a ring after a rollout — unit tests on ENG, smoke tests on
 * Sandbox, functional tests before production. A gate is an argv command (on the runner or on
 * every host of the ring) or a function, with a timeout and a captured log.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import type { CommandEnv, Target } from '../contracts/target.js';
import { parseOptions } from '../errors.js';
import { SAFE_NAME } from '../exec/quote.js';
import { runCommand, tail } from '../exec/run.js';
import { durationSchema } from './duration.js';

export interface GateContext {
  pipeline: string;
  ring: string;
  release: { id: string; version: string; revision: string };
  hosts: readonly string[];
  target: Target;
  signal: AbortSignal;
  log(line: string): void;
  /**
   * Called with the pid (= process group) of a command the gate runs on the runner, before it
   * starts (it waits), so it can be recorded and found again after a crash.
   */
  beforeStart?(pid: number): Promise<void>;
  /**
   * A fresh checkout of the release's revision, made on first call (and removed after the gate):
   * where a gate that runs on the runner works, so `['make', 'unit']` finds the release's Makefile.
   */
  checkout?(): Promise<string>;
  /**
   * The ring's vars and secrets, read on first call (a secret only now: the release is in the
   * ring). A command gate passes them to its command as environment variables; a function gate
   * may ask for them. Values read are masked in everything the ledger records.
   */
  env?(): Promise<CommandEnv>;
}

/** A gate check function: throw, or return `false` or a reason string, to fail; anything else passes. */
export type GateCheck = (context: GateContext) => unknown;

export const gateOptionsSchema = z
  .object({
    /** Also names the gate's scratch folder, so a name as safe as a ring's. */
    name: z.string().regex(SAFE_NAME, 'expected a name of letters, digits, ".", "_" or "-" (at most 63)'),
    /**
     * An argv command. With `on: 'hosts'` it runs on every host of the ring through the target.
     * It gets the ring's vars and secrets as environment variables (on hosts, through a target
     * with `capabilities.env`, off the command's argv).
     */
    run: z.array(z.string()).min(1).optional(),
    /** A function gate. */
    check: z.custom<GateCheck>((v) => typeof v === 'function', 'expected a function').optional(),
    /** Where `run` runs. @default 'runner' */
    on: z.enum(['runner', 'hosts']).default('runner'),
    /**
     * Where a `run` gate on the runner works: relative to a fresh checkout of the release's
     * revision (the default is the checkout itself), or an absolute path. @default the checkout
     */
    cwd: z.string().optional(),
    env: z.record(z.string(), z.string()).default({}),
    /** @default '5m' */
    timeout: durationSchema.default(300_000),
  })
  .strict()
  .refine((g) => (g.run === undefined) !== (g.check === undefined), {
    message: 'expected exactly one of "run" (an argv command) or "check" (a function)',
  });
export type GateOptions = z.input<typeof gateOptionsSchema>;

export interface GateOutcome {
  ok: boolean;
  log: string;
}

export interface Gate {
  readonly name: string;
  readonly timeoutMs: number;
  describe(): string;
  run(context: GateContext): Promise<GateOutcome>;
}

/**
 * A gate.
 *
 * @example
 * ```ts
 * gate({ name: 'smoke', run: ['curl', '-fsS', 'http://localhost:8080/health'], on: 'hosts', timeout: '30s' })
 * gate({ name: 'unit', check: async ({ release }) => release.version !== '0.0.0' })
 * ```
 */
export function gate(options: GateOptions, path = 'gate'): Gate {
  const opts = parseOptions(gateOptionsSchema, options, 'gate', path);
  const timeoutMs = opts.timeout;
  const env = (context: GateContext) => ({
    ...opts.env,
    RINGMASTER_PIPELINE: context.pipeline,
    RINGMASTER_RING: context.ring,
    RINGMASTER_RELEASE: context.release.id,
    RINGMASTER_VERSION: context.release.version,
    RINGMASTER_REVISION: context.release.revision,
    RINGMASTER_HOSTS: context.hosts.join(' '),
  });
  return {
    name: opts.name,
    timeoutMs,
    describe: () =>
      opts.run ? `${opts.name}: ${opts.run.join(' ')} (on ${opts.on})` : `${opts.name}: function`,
    async run(context) {
      const lines: string[] = [];
      const log = (line: string) => lines.push(line);
      const withTimeout = async <T>(work: Promise<T>): Promise<T> => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          return await Promise.race([work, timeout]);
        } finally {
          clearTimeout(timer);
        }
      };
      try {
        if (opts.check) {
          const verdict = await withTimeout(Promise.resolve(opts.check({ ...context, log })));
          if (verdict === false) return { ok: false, log: [...lines, 'check returned false'].join('\n') };
          if (typeof verdict === 'string') return { ok: false, log: [...lines, verdict].join('\n') };
          return { ok: true, log: lines.join('\n') };
        }
        const argv = opts.run!;
        if (opts.on === 'runner') {
          const base = context.checkout ? await context.checkout() : process.cwd();
          const ringEnv = context.env ? await context.env() : {};
          const r = await runCommand(argv, {
            cwd: resolve(base, opts.cwd ?? '.'),
            env: { ...ringEnv, ...env(context) },
            timeoutMs,
            signal: context.signal,
            ...(context.beforeStart ? { beforeStart: (pid: number) => context.beforeStart!(pid) } : {}),
          });
          const out = `$ ${argv.join(' ')}\n${r.stdout}${r.stderr}`;
          if (r.timedOut) return { ok: false, log: `${out}\ntimed out after ${timeoutMs} ms` };
          return { ok: r.exitCode === 0, log: r.exitCode === 0 ? out : `${out}\nexit code ${r.exitCode}` };
        }
        let ok = true;
        const ringEnv = context.env ? await context.env() : {};
        const withEnv = Object.keys(ringEnv).length > 0;
        if (withEnv && !context.target.capabilities?.env)
          return {
            ok: false,
            log: `the ring has vars or secrets, and target ${context.target.name} cannot pass environment variables to host commands (capabilities.env)`,
          };
        for (const host of context.hosts) {
          const r = await withTimeout(
            context.target.run(host, argv, withEnv ? { timeoutMs, env: ringEnv } : { timeoutMs }),
          );
          lines.push(`[${host}] $ ${argv.join(' ')} → ${r.exitCode}`);
          if (r.exitCode !== 0) {
            ok = false;
            lines.push(tail(r.stderr || r.stdout, 10));
          }
        }
        return { ok, log: lines.join('\n') };
      } catch (error) {
        return {
          ok: false,
          log: [...lines, error instanceof Error ? error.message : String(error)].join('\n'),
        };
      }
    },
  };
}

export function isGate(value: unknown): value is Gate {
  const g = value as Gate | null;
  return typeof g === 'object' && g !== null && typeof g.run === 'function' && typeof g.name === 'string';
}

/**
 * The line of a failed gate's log a person needs first: its last line of output that is not the
 * command echo (`$ make unit`) or the exit code the gate adds, e.g.
 * `make: *** No rule to make target 'unit'.  Stop.`
 */
export function gateFailureLine(log: string): string {
  const lines = log
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('$ ') && !/^exit code \d+$/.test(l) && !/^\[[^\]]+\] \$ /.test(l));
  return (lines.at(-1) ?? '').slice(0, 300);
}
