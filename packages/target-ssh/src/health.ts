/**
 * The health check: a command on the host, or an HTTP URL fetched from the host with curl,
 * retried until it passes, the attempts run out or the deadline passes (all bounded).
 */
import type { CommandEnv } from '@ringmaster/core/adapter';
import type { ExecResult } from './connection.js';
import { hostError } from './errors.js';
import type { ResolvedSshOptions } from './options.js';
import type { Remote } from './remote.js';
import { sleep } from './util/sleep.js';

type HealthCheck = NonNullable<ResolvedSshOptions['healthCheck']>;

/** The argv that probes the host once. */
export function healthArgv(check: HealthCheck, attemptMs: number): string[] {
  if (check.command) return [...check.command];
  const seconds = String(Math.max(1, Math.ceil(attemptMs / 1000)));
  return ['curl', '-fsS', '-o', '/dev/null', '--max-time', seconds, check.url!];
}

/**
 * Resolves once the host is healthy; rejects `TARGET` with the last attempt's output otherwise.
 * A command check gets `env` (the ring's vars and secrets) on its stdin, off its argv.
 */
export async function checkHealth(
  remote: Remote,
  check: HealthCheck,
  commandMs: number,
  env?: CommandEnv,
): Promise<void> {
  const started = Date.now();
  let last: ExecResult | undefined;
  let lastError: unknown;
  let attempts = 0;
  while (attempts < check.retries) {
    const remaining = check.deadlineMs - (Date.now() - started);
    if (remaining <= 0) break;
    attempts++;
    const attemptMs = Math.max(1, Math.min(commandMs, remaining));
    try {
      last = await remote.run(healthArgv(check, attemptMs), {
        timeoutMs: attemptMs,
        ...(env && check.command ? { env } : {}),
      });
      lastError = undefined;
      if (last.exitCode === 0) return;
    } catch (error) {
      lastError = error;
    }
    const pause = Math.min(check.intervalMs, check.deadlineMs - (Date.now() - started));
    if (attempts < check.retries && pause > 0) await sleep(pause);
  }
  const argv = healthArgv(check, commandMs);
  const hint =
    last?.exitCode === 127 ? ' (command not found on the host; curl is needed for a url check)' : '';
  throw hostError(
    `the health check did not pass after ${attempts} attempt(s) in ${Date.now() - started} ms${hint}`,
    {
      host: remote.host.name,
      command: remote.commandLine(argv),
      ...(last ? { exitCode: last.exitCode, stderr: last.stderr || last.stdout } : {}),
      ...(lastError ? { stderr: lastError instanceof Error ? lastError.message : String(lastError) } : {}),
    },
  );
}
