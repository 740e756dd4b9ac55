/**
 * Error helpers of target-ssh: every failure is a `RingmasterError` scoped `target-ssh` that
 * names the host and, for a command, the command and its stderr tail. Secrets are scrubbed.
 */
import { type ErrorCode, RingmasterError, tail } from '@ringmaster/core/adapter';

export const SCOPE = 'target-ssh';

/** Facts an error carries in `details`. */
export interface FailureFacts {
  host: string;
  command?: string;
  exitCode?: number;
  stderr?: string;
  cause?: unknown;
}

/** Replaces every occurrence of each secret with `***`. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) if (secret && secret.length > 0) out = out.split(secret).join('***');
  return out;
}

/** A `TARGET` (or other code) error naming the host, the command and the stderr tail. */
export function hostError(
  message: string,
  facts: FailureFacts,
  secrets: readonly (string | undefined)[] = [],
  code: ErrorCode = 'TARGET',
): RingmasterError {
  const stderrTail = facts.stderr ? tail(facts.stderr, 15) : '';
  let text = `host ${facts.host}: ${message}`;
  if (facts.command) text += ` [command: ${facts.command}]`;
  if (stderrTail) text += `\n${stderrTail}`;
  return new RingmasterError(code, redact(text, secrets), {
    scope: SCOPE,
    ...(facts.cause === undefined ? {} : { cause: facts.cause }),
    details: {
      host: facts.host,
      ...(facts.command ? { command: redact(facts.command, secrets) } : {}),
      ...(facts.exitCode === undefined ? {} : { exitCode: facts.exitCode }),
      ...(stderrTail ? { stderr: redact(stderrTail, secrets) } : {}),
    },
  });
}
