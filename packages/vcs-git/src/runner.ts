/**
 * Runs the real `git` client through core's safe runner: argv only, a timeout on every call, no
 * prompt that could hang a poll, an environment that a parent git (a hook) cannot hijack, and
 * failures turned into `SOURCE` errors that carry git's own words with credentials removed.
 */
import { RingmasterError, type RunCommandResult, runCommand, tail } from '@ringmaster/core/adapter';
import type { ResolvedOptions } from './options.js';

/** The adapter's scope in error messages: `[ringmaster] [vcs-git] …`. */
export const SCOPE = 'vcs-git';

export interface GitCall {
  /** What the adapter was doing, in the user's words: `fetch of branch main`. */
  operation: string;
  /** The bare repository to run in, passed as `--git-dir`. */
  gitDir?: string;
  input?: string;
  env?: Record<string, string | undefined>;
  /** Bytes of stdout kept. @default 1 MiB */
  maxOutputBytes?: number;
  /** Resolve instead of throwing on a non-zero exit (the caller inspects `exitCode`). */
  allowFailure?: boolean;
  /** What the user should do when this fails. */
  hint?: string;
  /**
   * The command talks to the remote `origin`. Its URL is set through the environment
   * (`GIT_CONFIG_COUNT`), not stored in the mirror, and a password from the URL reaches git
   * only through a credential helper reading the environment: never argv, never a file.
   */
  remote?: boolean;
}

export interface GitRunner {
  run(args: readonly string[], call: GitCall): Promise<RunCommandResult>;
  readonly redact: (text: string) => string;
}

// Variables with which a calling git (a hook, an alias) would point us at another repository.
const INHERITED_GIT_VARIABLES = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
];

/** Builds the runner one adapter instance uses. */
export function gitRunner(
  remote: Pick<ResolvedOptions, 'remoteUrl' | 'credentials'>,
  timeoutMs: number,
  redact: (text: string) => string,
): GitRunner {
  const baseEnv: Record<string, string | undefined> = {
    // No prompt can hang a poll: git's own, its askpass (empty = none), ssh's askpass. The
    // runner also starts git in a new session, without a terminal for ssh to ask on.
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    SSH_ASKPASS_REQUIRE: 'never',
    LC_ALL: 'C',
    LANGUAGE: undefined,
  };
  for (const name of INHERITED_GIT_VARIABLES) baseEnv[name] = undefined;
  const remoteEnv = remoteEnvironment(remote);

  return {
    redact,
    async run(args, call) {
      const argv = ['git', ...(call.gitDir ? [`--git-dir=${call.gitDir}`] : []), ...args];
      const result = await runCommand(argv, {
        env: { ...baseEnv, ...(call.remote ? remoteEnv : {}), ...call.env },
        timeoutMs,
        ...(call.input !== undefined ? { input: call.input } : {}),
        maxOutputBytes: call.maxOutputBytes ?? 1024 * 1024,
      }).catch((error: unknown) => {
        throw new RingmasterError(
          'SOURCE',
          `${call.operation} failed: cannot run git (${error instanceof Error ? error.message : String(error)}); install git 2.31 or newer and put it on the PATH`,
          { scope: SCOPE, cause: error, details: { operation: call.operation } },
        );
      });
      if (result.timedOut) {
        throw new RingmasterError(
          'SOURCE',
          `${call.operation} timed out after ${timeoutMs} ms (git ${subcommand(args)}); check that the repository is reachable or raise timeoutMs`,
          { scope: SCOPE, details: { operation: call.operation, timedOut: true } },
        );
      }
      if (result.exitCode !== 0 && !call.allowFailure) throw gitError(call, args, result, redact);
      return result;
    },
  };
}

/** A `SOURCE` error naming the operation, with the tail of git's stderr. */
export function gitError(
  call: GitCall,
  args: readonly string[],
  result: RunCommandResult,
  redact: (text: string) => string,
): RingmasterError {
  const said = redact(tail(result.stderr || result.stdout, 8).trim()) || '(git printed nothing)';
  const hint = call.hint ? ` ${call.hint}` : '';
  return new RingmasterError(
    'SOURCE',
    `${call.operation} failed (git ${subcommand(args)} exited ${result.exitCode}): ${said}.${hint}`,
    {
      scope: SCOPE,
      details: { operation: call.operation, exitCode: result.exitCode, stderr: said },
    },
  );
}

/** The git subcommand in `args`, past leading `-c key=value` pairs and `--options`. */
function subcommand(args: readonly string[]): string {
  let i = 0;
  while (args[i] === '-c' || args[i]?.startsWith('--')) i += args[i] === '-c' ? 2 : 1;
  return args[i] ?? 'git';
}

// A fixed helper script: the secret travels in the environment, never in the script's text.
const CREDENTIAL_HELPER =
  '!f() { test "$1" = get && printf \'username=%s\\npassword=%s\\n\' "$RINGMASTER_GIT_USERNAME" "$RINGMASTER_GIT_PASSWORD"; }; f';

/** The environment that gives git the remote's URL and, when any, its credentials. */
function remoteEnvironment(
  remote: Pick<ResolvedOptions, 'remoteUrl' | 'credentials'>,
): Record<string, string> {
  const config: [string, string][] = [['remote.origin.url', remote.remoteUrl]];
  const env: Record<string, string> = {};
  if (remote.credentials) {
    // An empty value first: no helper of the user's may store or override these credentials.
    config.push(['credential.helper', ''], ['credential.helper', CREDENTIAL_HELPER]);
    env.RINGMASTER_GIT_USERNAME = remote.credentials.username;
    env.RINGMASTER_GIT_PASSWORD = remote.credentials.password;
  }
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
}
