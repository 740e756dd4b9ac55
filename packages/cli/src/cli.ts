/** Argument parsing, help, errors and dispatch for the `ringmaster` command. */
import { parseArgs } from 'node:util';
import { isRingmasterError } from '@ringmaster/core';
import { type Command, commands, type Parsed } from './commands.js';
import { EXIT, type Io, paint, processIo } from './output.js';
import { errorJson } from './session.js';

const VERSION = '0.1.0';

/** The one exit-code table every command follows. */
export const EXIT_CODES = [
  '0  ok: the command did all it says',
  '1  failed or refused: a build, host, gate or rollout failed; drift or an unreachable host (status --live,',
  '   converge); output that could not be written; an approval that would never count, one by the',
  "   release's committer, a second one; lock of a locked ring, unlock of an unlocked one; build --retry",
  '   of a revision that built',
  '2  bad usage or config',
  '3  locked: another engine or rollout holds it, or watch lost its lease to another engine',
  '4  not found: no such pipeline, ring, release or revision',
  '5  not allowed: no or a wrong RINGMASTER_TOKEN, a --by that is not you, or no permission in that ring',
  '6  paused: the rollout stopped at a pause step of its strategy (deploy, promote, resume); it waits for',
  '   ringmaster resume, or for its time to pass (then watch carries it on)',
];

const GLOBAL_FLAGS = [
  '--config FILE   the project config (default: ringmaster.config.ts here or in a parent folder)',
  '--json          machine-readable output, errors included ({ "error": { code, message, details } })',
  "--help, -h      help; with a command, that command's;  --version  the version",
];

export function helpText(): string {
  const width = Math.max(...Object.values(commands).map((c) => c.usage.length));
  return [
    'ringmaster — continuous deployment through rings (eng → sandbox → prod)',
    '',
    'Usage: ringmaster <command> [options]    (ringmaster <command> --help for one command)',
    '',
    'Commands:',
    ...Object.values(commands).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    ...GLOBAL_FLAGS.map((f) => `  ${f}`),
    '',
    'Exit codes:',
    ...EXIT_CODES.map((l) => `  ${l}`),
  ].join('\n');
}

/** `ringmaster <command> --help`: what it does, its flags, an example, the exit codes. */
export function commandHelp(name: string, command: Command): string {
  return [
    `ringmaster ${command.usage}`,
    '',
    `  ${command.summary}`,
    ...(command.flags?.length ? ['', 'Flags:', ...command.flags.map((f) => `  ${f}`)] : []),
    '',
    'Example:',
    `  ${command.example}`,
    '',
    'Exit codes:',
    ...EXIT_CODES.map((l) => `  ${l}`),
    '',
    `(ringmaster --help lists every command; ${name} also takes --config and --json)`,
  ].join('\n');
}

/** The exit code of an error by its code; every other error is a failure (1). */
const EXIT_FOR: Partial<Record<string, number>> = {
  CONFIG: EXIT.USAGE,
  LOCKED: EXIT.LOCKED,
  NOT_FOUND: EXIT.NOT_FOUND,
  UNAUTHENTICATED: EXIT.DENIED,
  FORBIDDEN: EXIT.DENIED,
};

/** Maps an error to an exit code and says it: a message that says what to do next, or JSON. */
export function reportError(error: unknown, io: Io, asJson = false): number {
  const code = (isRingmasterError(error) && EXIT_FOR[error.code]) || EXIT.FAILED;
  if (asJson) io.out(JSON.stringify({ error: errorJson(error) }));
  else if (isRingmasterError(error)) io.err(paint(io, '31', error.message));
  else
    io.err(
      paint(
        io,
        '31',
        `[ringmaster] unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      ),
    );
  return code;
}

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(['status', '--json']);
 * ```
 */
export async function runCli(argv: string[], io: Io = processIo, cwd = process.cwd()): Promise<number> {
  let parsed: Parsed;
  const asJson = argv.includes('--json');
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        live: { type: 'boolean' },
        once: { type: 'boolean' },
        force: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        hosts: { type: 'boolean' },
        interval: { type: 'string' },
        by: { type: 'string' },
        comment: { type: 'string' },
        reason: { type: 'string' },
        to: { type: 'string' },
        policy: { type: 'string' },
        retry: { type: 'string' },
        from: { type: 'string' },
        against: { type: 'string' },
        store: { type: 'string' },
        group: { type: 'string', multiple: true },
        listen: { type: 'string' },
        serve: { type: 'string' },
        limit: { type: 'string' },
        'break-glass': { type: 'boolean' },
        with: { type: 'string', multiple: true },
        at: { type: 'string' },
      },
    });
    parsed = { command: positionals[0] ?? '', positionals: positionals.slice(1), flags: values };
  } catch (error) {
    if (asJson)
      io.out(JSON.stringify({ error: { code: 'CONFIG', message: (error as Error).message, details: {} } }));
    else io.err(`${(error as Error).message}\n\n${helpText()}`);
    return EXIT.USAGE;
  }
  if (parsed.flags.version) {
    io.out(VERSION);
    return EXIT.OK;
  }
  const command = commands[parsed.command];
  if (parsed.flags.help || parsed.command === '' || parsed.command === 'help') {
    const about = command ?? (parsed.command === 'help' ? commands[parsed.positionals[0] ?? ''] : undefined);
    io.out(
      about
        ? commandHelp(parsed.command === 'help' ? parsed.positionals[0]! : parsed.command, about)
        : helpText(),
    );
    return EXIT.OK;
  }
  if (!command) {
    const message = `unknown command "${parsed.command}"; commands: ${Object.keys(commands).join(', ')}`;
    if (asJson) io.out(JSON.stringify({ error: { code: 'CONFIG', message, details: {} } }));
    else io.err(message);
    return EXIT.USAGE;
  }
  try {
    return await command.run(parsed, io, cwd);
  } catch (error) {
    return reportError(error, io, asJson);
  }
}
