/**
 * Builds: argv steps (or functions) run in a fresh checkout, each with a timeout, the whole log
 * kept. A build produces a directory tree (the `output` folder of the checkout).
 */
import { resolve, sep } from 'node:path';
import { z } from 'zod';
import type { Revision } from '../contracts/source.js';
import { parseOptions, plainMessage } from '../errors.js';
import { runCommand, tail } from '../exec/run.js';
import { durationSchema } from './duration.js';

export interface BuildContext {
  /** The fresh checkout the step runs in. */
  dir: string;
  revision: Revision;
  pipeline: string;
  /** Appends a line to the build log. */
  log(line: string): void;
  signal: AbortSignal;
}

export type BuildFunction = (context: BuildContext) => Promise<void> | void;

const argv = z.array(z.string()).min(1, 'expected a command such as ["make", "test"]');
const stepSchema = z.union([
  argv,
  z
    .object({
      name: z.string().optional(),
      run: argv,
      /** Relative to the checkout. */
      cwd: z.string().optional(),
      env: z.record(z.string(), z.string()).optional(),
      timeout: durationSchema.optional(),
    })
    .strict(),
  z.custom<BuildFunction>(
    (v) => typeof v === 'function',
    'expected an argv array, a step object or a function',
  ),
]);

export const buildOptionsSchema = z
  .object({
    /** Steps in order; the build fails at the first that fails. */
    steps: z.array(stepSchema).default([]),
    /** The folder of the checkout that becomes the package tree. @default '.' */
    output: z.string().default('.'),
    /** Time limit per step unless the step sets its own. @default '10m' */
    timeout: durationSchema.default(600_000),
    /** Extra environment for every step. */
    env: z.record(z.string(), z.string()).default({}),
  })
  .strict();
export type BuildOptions = z.input<typeof buildOptionsSchema>;
export type BuildSpec = z.output<typeof buildOptionsSchema>;

/**
 * Describes how every commit is built.
 *
 * @example
 * ```ts
 * build({ steps: [['npm', 'ci'], ['npm', 'test'], ['npm', 'run', 'build']], output: 'dist' })
 * ```
 */
export function build(options: BuildOptions = {}): BuildSpec {
  return parseOptions(buildOptionsSchema, options, 'build', 'build');
}

export interface BuildResult {
  ok: boolean;
  log: string;
  /** Absolute path of the output tree. */
  outputDir: string;
  error?: string;
  durationMs: number;
}

/** Keeps a build log bounded: the head and the tail survive, the middle is elided. */
class BuildLog {
  private lines: string[] = [];
  private size = 0;
  constructor(private readonly limit = 256 * 1024) {}
  add(text: string): void {
    this.lines.push(text);
    this.size += text.length;
    while (this.size > this.limit && this.lines.length > 2) {
      const dropped = this.lines.splice(1, 1)[0]!;
      this.size -= dropped.length;
    }
  }
  toString(): string {
    return this.lines.join('');
  }
}

export interface RunBuildOptions {
  /** Which attempt at this revision it is (1 for the first), given to the steps as `RINGMASTER_BUILD_ATTEMPT`. */
  attempt?: number;
  /**
   * Called with the pid (= process group) and command line of each command step before it
   * starts; the step waits for it (see `runCommand`'s `beforeStart`).
   */
  beforeStart?: (pid: number, command: string) => Promise<void>;
}

/** Runs the steps of `spec` in `dir`. Never throws for a failing step: the result says why. */
export async function runBuild(
  spec: BuildSpec,
  dir: string,
  revision: Revision,
  pipeline: string,
  signal: AbortSignal,
  options: RunBuildOptions = {},
): Promise<BuildResult> {
  const started = performance.now();
  const log = new BuildLog();
  const done = (ok: boolean, error?: string): BuildResult => ({
    ok,
    log: log.toString(),
    outputDir: resolve(dir, spec.output),
    durationMs: performance.now() - started,
    ...(error ? { error } : {}),
  });
  const outputDir = resolve(dir, spec.output);
  if (outputDir !== resolve(dir) && !outputDir.startsWith(resolve(dir) + sep)) {
    return done(false, `build output ${spec.output} is outside the checkout`);
  }
  const env = {
    ...spec.env,
    RINGMASTER_PIPELINE: pipeline,
    RINGMASTER_REVISION: revision.id,
    ...(revision.number !== undefined ? { RINGMASTER_REVISION_NUMBER: String(revision.number) } : {}),
    ...(options.attempt !== undefined ? { RINGMASTER_BUILD_ATTEMPT: String(options.attempt) } : {}),
  };
  for (const [i, step] of spec.steps.entries()) {
    if (typeof step === 'function') {
      const name = step.name || `step ${i + 1}`;
      log.add(`$ (function ${name})\n`);
      try {
        await step({ dir, revision, pipeline, log: (line) => log.add(`${line}\n`), signal });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log.add(`${message}\n`);
        return done(false, `${name} failed: ${message}`);
      }
      continue;
    }
    const s = Array.isArray(step) ? { run: step } : step;
    log.add(`$ ${s.run.join(' ')}\n`);
    const timeoutMs = ('timeout' in s ? s.timeout : undefined) ?? spec.timeout;
    let result: Awaited<ReturnType<typeof runCommand>>;
    try {
      result = await runCommand(s.run, {
        cwd: 'cwd' in s && s.cwd ? resolve(dir, s.cwd) : dir,
        env: { ...env, ...('env' in s ? s.env : {}) },
        timeoutMs,
        signal,
        onOutput: (chunk) => log.add(chunk),
        ...(options.beforeStart
          ? { beforeStart: (pid: number) => options.beforeStart!(pid, s.run.join(' ')) }
          : {}),
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log.add(`${message}\n`);
      const why = plainMessage(message).replace(`cannot run ${s.run[0]}: `, '');
      return done(false, `${s.run[0]} could not start: ${why}`);
    }
    if (result.timedOut) return done(false, `${s.run.join(' ')} timed out after ${timeoutMs} ms`);
    if (result.exitCode !== 0) {
      return done(
        false,
        `${s.run.join(' ')} exited with ${result.exitCode}: ${tail(result.stderr || result.stdout, 3)}`,
      );
    }
  }
  return done(true);
}
