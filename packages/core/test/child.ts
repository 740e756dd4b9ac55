/**
 * Real processes for the fault tests: a fixture under `test/fixtures/` bundled into a runnable
 * script (so the child runs core's source as the test does), and a bounded way to run it, kill
 * it at a chosen moment, and read what it said.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll } from 'vitest';

/**
 * Bundles `fixtures/<name>.ts` before the file's tests (into a temp dir removed after them);
 * `script()` is its path, `root()` a scratch directory beside it.
 */
export function fixtureScript(name: string): { script: () => string; root: () => string } {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `rm-${name}-`));
    await build({
      entryPoints: [fileURLToPath(new URL(`./fixtures/${name}.ts`, import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: join(dir, `${name}.mjs`),
      logLevel: 'warning',
    });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return { script: () => join(dir, `${name}.mjs`), root: () => dir };
}

export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunChildOptions {
  env?: Record<string, string>;
  /** SIGKILL after this many ms. */
  killAfterMs?: number;
  /** SIGKILL as soon as this says so (polled every 20 ms). */
  killWhen?: () => boolean;
  /** The bound on any run. @default 60000 */
  limitMs?: number;
}

/** Runs `node script ...args`, bounded, and resolves with how it ended and what it printed. */
export function runChild(script: string, args: string[], options: RunChildOptions = {}): Promise<ChildRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    const kill = () => p.kill('SIGKILL');
    const killer = options.killAfterMs !== undefined ? setTimeout(kill, options.killAfterMs) : undefined;
    const poll = options.killWhen
      ? setInterval(() => {
          if (options.killWhen?.()) kill();
        }, 20)
      : undefined;
    const limit = setTimeout(kill, options.limitMs ?? 60_000);
    p.on('close', (code, signal) => {
      clearTimeout(killer);
      clearInterval(poll);
      clearTimeout(limit);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}
