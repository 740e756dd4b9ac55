/**
 * The one place the svn client is run: argv only (core's `runCommand`, never a shell),
 * `--non-interactive`, no credential cache, the password on stdin, a timeout on every call, and
 * failures turned into `SOURCE` errors that carry svn's own words (never the password).
 */
import { dirname, join } from 'node:path';
import { RingmasterError, type RunCommandResult, runCommand, tail } from '@ringmaster/core/adapter';
import type { ResolvedSvnOptions } from './options.js';

export const SCOPE = 'vcs-svn';

/** Output kept of one call: far above any log we ask for; a cut XML document fails to parse, loudly. */
const MAX_OUTPUT = 512 * 1024 * 1024;

/** A failed svn call, before it becomes a RingmasterError. */
export interface SvnFailure {
  result: RunCommandResult;
  /** svn's error codes, e.g. `E160006`, in the order printed. */
  codes: string[];
}

// Next steps for the errors a user can fix, by svn error code.
const HINTS: Record<string, string> = {
  E170013: 'check the URL and that the server is reachable',
  E000111: 'check the URL and that the server is reachable',
  E170001: 'check username and password',
  E215004: 'check username and password',
  E220001: 'check that the user may read this path (authz)',
  E160013: 'check the line and folder options: the path is not in the repository at that revision',
  E170000: 'check the line and folder options: the path is not in the repository at that revision',
  E160006: 'use a revision listed by log() or head()',
  E160020: 'choose another name: that path already exists',
  E180001: 'check the URL: no repository there',
  E155004:
    'another process is using the cached working copy, or a killed svn left it locked: run svn cleanup on it',
};

/** Runs svn and svnmucc for one adapter; knows its URL, credentials and timeout. */
export class SvnClient {
  constructor(private readonly options: ResolvedSvnOptions) {}

  get url(): string {
    return this.options.url;
  }

  private credentials(): { args: string[]; input?: string } {
    const args: string[] = [];
    if (this.options.username !== undefined) args.push('--username', this.options.username);
    if (this.options.password === undefined) return { args };
    args.push('--password-from-stdin');
    return { args, input: `${this.options.password}\n` };
  }

  private svnmuccPath(): string {
    const svn = this.options.svnPath;
    return svn.includes('/') ? join(dirname(svn), 'svnmucc') : 'svnmucc';
  }

  /** Runs `svn <args>`; resolves with the result or an {@link SvnFailure} (never throws for exit codes). */
  async tryRun(
    args: string[],
    tool: 'svn' | 'svnmucc' = 'svn',
  ): Promise<{ ok: true; result: RunCommandResult } | ({ ok: false } & SvnFailure)> {
    const creds = this.credentials();
    const binary = tool === 'svn' ? this.options.svnPath : this.svnmuccPath();
    const common = ['--non-interactive', '--no-auth-cache', ...creds.args];
    const argv = [
      binary,
      ...(tool === 'svn' ? [args[0]!, ...common, ...args.slice(1)] : [...common, ...args]),
    ];
    let result: RunCommandResult;
    try {
      result = await runCommand(argv, {
        // Messages and paths are UTF-8 whatever the caller's locale; svn's own messages stay English.
        env: { LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8', LANGUAGE: undefined },
        timeoutMs: this.options.timeoutMs,
        maxOutputBytes: MAX_OUTPUT,
        ...(creds.input !== undefined ? { input: creds.input } : {}),
      });
    } catch (error) {
      throw new RingmasterError(
        'SOURCE',
        `cannot run ${binary}: ${error instanceof Error ? error.message : String(error)}; install Subversion (apt-get install subversion) or set svnPath`,
        { scope: SCOPE, cause: error },
      );
    }
    if (result.exitCode === 0 && !result.timedOut) return { ok: true, result };
    return { ok: false, result, codes: [...result.stderr.matchAll(/\b([EW]\d{6}):/g)].map((m) => m[1]!) };
  }

  /** Runs svn and throws a `SOURCE` error naming `operation` when it fails. */
  async run(operation: string, args: string[], tool: 'svn' | 'svnmucc' = 'svn'): Promise<RunCommandResult> {
    const outcome = await this.tryRun(args, tool);
    if (!outcome.ok) throw this.error(operation, outcome);
    return outcome.result;
  }

  /** Turns a failure into the `SOURCE` error a user reads: the operation, svn's message tail, a next step. */
  error(operation: string, failure: SvnFailure): RingmasterError {
    const { result, codes } = failure;
    if (result.timedOut) {
      return new RingmasterError(
        'SOURCE',
        `${operation} timed out after ${this.options.timeoutMs} ms; check that the server answers, or raise timeoutMs`,
        { scope: SCOPE, details: { operation, url: this.url, timedOut: true } },
      );
    }
    const said =
      this.redact(tail(result.stderr || result.stdout, 6).trim()) || `exit code ${result.exitCode}`;
    // svn prints the outer error first and the cause last; the cause says what to fix.
    const hint = [...codes]
      .reverse()
      .map((c) => HINTS[c])
      .find((h) => h !== undefined);
    return new RingmasterError('SOURCE', `${operation} failed: ${said}${hint ? ` (${hint})` : ''}`, {
      scope: SCOPE,
      details: { operation, url: this.url, exitCode: result.exitCode, svnCodes: codes },
    });
  }

  /** Removes the password from any text that leaves the adapter (svn never prints it; this makes sure). */
  redact(text: string): string {
    const secret = this.options.password;
    if (!secret || secret.length < 3) return text;
    return text.split(secret).join('***');
  }
}

/** True when the repository path is absent (at that revision), as opposed to any other failure. */
export function isPathNotFound(failure: SvnFailure): boolean {
  return failure.codes.some((c) => c === 'E160013' || c === 'E170000' || c === 'W160013' || c === 'W170000');
}
