/** Argument parsing and dispatch for the `ringmaster` command. */
import { parseArgs } from 'node:util';
import { commands, type Parsed, reportError } from './commands.js';
import { EXIT, type Io, processIo } from './output.js';

const VERSION = '0.1.0';

export function helpText(): string {
  const width = Math.max(...Object.values(commands).map((c) => c.usage.length));
  return [
    'ringmaster — continuous deployment through rings (eng → sandbox → prod)',
    '',
    'Usage: ringmaster <command> [options]',
    '',
    'Commands:',
    ...Object.values(commands).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  --config FILE   the project config (default: ringmaster.config.ts here or in a parent folder)',
    '  --json          machine-readable output',
    '  --help, -h      this help;  --version  the version',
    '',
    'Exit codes: 0 ok, 1 failed or refused, 2 bad usage or config, 3 locked, 4 not found.',
  ].join('\n');
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
        interval: { type: 'string' },
        by: { type: 'string' },
        comment: { type: 'string' },
        reason: { type: 'string' },
        to: { type: 'string' },
        policy: { type: 'string' },
      },
    });
    parsed = { command: positionals[0] ?? '', positionals: positionals.slice(1), flags: values };
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${helpText()}`);
    return EXIT.USAGE;
  }
  if (parsed.flags.version) {
    io.out(VERSION);
    return EXIT.OK;
  }
  if (parsed.flags.help || parsed.command === '' || parsed.command === 'help') {
    io.out(helpText());
    return EXIT.OK;
  }
  const command = commands[parsed.command];
  if (!command) {
    io.err(`unknown command "${parsed.command}"; commands: ${Object.keys(commands).join(', ')}`);
    return EXIT.USAGE;
  }
  try {
    return await command.run(parsed, io, cwd);
  } catch (error) {
    return reportError(error, io);
  }
}
