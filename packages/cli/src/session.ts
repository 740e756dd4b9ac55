/**
 * A command's time with the project: the config loaded, the engine closed at the end whatever
 * happens, signals answered safely, and — for commands that do work — the engine's progress
 * printed as it happens, with every failure and its reason, and counted for the exit code.
 */
import { hostname, userInfo } from 'node:os';
import {
  type AccessAction,
  type ApprovalIdentity,
  RingmasterError,
  type TypedRecord,
} from '@ringmaster/core';
import { type LoadedProject, loadProject } from './config.js';
import { parseListen } from './listen.js';
import { type Io, paint } from './output.js';
import { ProgressLine } from './progress.js';
import { describeRecord, isFailure } from './records.js';

export interface Parsed {
  command: string;
  positionals: string[];
  flags: Record<string, string | boolean | string[] | undefined>;
}

export const json = (args: Parsed) => args.flags.json === true;

export const flag = (args: Parsed, name: string): string | undefined => {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
};

/** The operating-system user running the command (not $USER, which anyone can set). */
function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'cli';
  }
}

/** Who runs the command, as recorded in the ledger: --by, else the operating-system user. */
export const who = (args: Parsed): string => flag(args, 'by') ?? osUser();

/** Who does a change, as the ledger records it, and how they proved it. */
export interface Actor {
  by: string;
  identity?: ApprovalIdentity;
}

/**
 * Who may make this change. Without `access` in the config: `--by`, else the operating-system
 * user. With it: the owner of `RINGMASTER_TOKEN` (UNAUTHENTICATED without a valid one), who must
 * be the `--by` if one is given and have the permission for `action` in every ring named
 * (FORBIDDEN otherwise).
 */
export async function actor(
  project: LoadedProject,
  args: Parsed,
  action: AccessAction,
  where: { pipeline: string; ring: string }[],
): Promise<Actor> {
  const access = project.access;
  if (!access) return { by: who(args) };
  const token = process.env.RINGMASTER_TOKEN;
  if (!token)
    throw new RingmasterError(
      'UNAUTHENTICATED',
      'this project has identities (access in the config): set RINGMASTER_TOKEN to your token (ringmaster user add <name> prints one)',
      { scope: 'cli' },
    );
  const principal = await access.authenticate(token);
  if (!principal)
    throw new RingmasterError(
      'UNAUTHENTICATED',
      'RINGMASTER_TOKEN is not a token of this project (revoked, or from another project); ask for a new one: ringmaster user add <name>',
      { scope: 'cli' },
    );
  const by = flag(args, 'by');
  if (by !== undefined && by !== principal.name)
    throw new RingmasterError(
      'FORBIDDEN',
      `--by ${by}: you are signed in as ${principal.name}; a change is recorded as the one who makes it (leave out --by)`,
      { scope: 'cli', details: { by, user: principal.name } },
    );
  for (const w of where) access.authorize(principal, action, w.pipeline, w.ring);
  return {
    by: principal.name,
    identity: {
      method: 'token',
      groups: [...principal.groups],
      ...(principal.commitsAs?.length ? { commitsAs: [...principal.commitsAs] } : {}),
    },
  };
}

/**
 * The page's address for the links in notifications, when this command serves it at a fixed
 * port (`watch --serve 127.0.0.1:8080`); the config's `web.url` wins. Every address (`:8080`)
 * is named by this machine's name.
 */
function servedAt(args: Parsed): string | undefined {
  const spec = flag(args, 'serve');
  if (!spec) return undefined;
  try {
    const { host, port } = parseListen(spec, '--serve');
    if (port === 0) return undefined;
    const name = host === '0.0.0.0' || host === '::' ? hostname() : host.includes(':') ? `[${host}]` : host;
    return `http://${name}:${port}`;
  } catch {
    return undefined; // the command itself says what is wrong with the flag
  }
}

/** The positionals, or a usage error when fewer than `count` were given. */
export function need(args: Parsed, count: number, usage: string): string[] {
  if (args.positionals.length < count) {
    throw new RingmasterError('CONFIG', `usage: ringmaster ${usage}`, { scope: 'cli' });
  }
  return args.positionals;
}

/**
 * How a command that changes hosts answers signals. Ctrl-C or SIGTERM stops it at the next
 * host boundary (the rollout is parked and resumes at the next start), never in the middle of
 * an install. A hang-up of the terminal is ignored — the command runs to its recorded end with
 * its output dropped — except by `watch`, which has no end and parks instead.
 */
export type Signals = 'park' | 'park-on-hangup';

export async function withProject<T>(
  args: Parsed,
  cwd: string,
  work: (project: LoadedProject) => Promise<T>,
  options: { io?: Io; signals?: Signals } = {},
): Promise<T> {
  const project = await loadProject(cwd, flag(args, 'config'), servedAt(args));
  const park = () => {
    options.io?.err('stopping after the current host; the rollout resumes at the next start');
    void project.engine.close();
  };
  const hangUp = options.signals === 'park-on-hangup' ? park : () => {};
  // The last-resort guard of a one-shot command (watch has run()'s): a fault no adapter
  // contained is recorded and parks the rollout; the command then ends, and says it failed.
  const fault = (error: unknown) => void project.engine.fault(error);
  const guarded = options.signals === 'park';
  if (options.signals) {
    process.on('SIGINT', park);
    process.on('SIGTERM', park);
    process.on('SIGHUP', hangUp);
  }
  if (guarded) {
    process.on('uncaughtException', fault);
    process.on('unhandledRejection', fault);
  }
  try {
    return await work(project);
  } finally {
    process.off('SIGINT', park);
    process.off('SIGTERM', park);
    process.off('SIGHUP', hangUp);
    process.off('uncaughtException', fault);
    process.off('unhandledRejection', fault);
    await project.engine.close();
  }
}

/** What `follow` saw go wrong while the command ran. */
export interface Followed {
  /** One line per failure (a build, a host, a gate, a rollout, an engine error). */
  failures: string[];
}

/**
 * Prints the engine's progress: a line per record (and under a failure, the lines that say
 * why), or with `--json` one JSON record per line; on a terminal a progress line per rollout
 * under way instead of a line per host. `timestamps` puts the time before each line (watch).
 */
export function follow(
  project: LoadedProject,
  io: Io,
  options: { json?: boolean; timestamps?: boolean } = {},
): Followed {
  const engine = project.engine;
  const followed: Followed = { failures: [] };
  const progress = io.isTTY && !options.json ? new ProgressLine(io) : undefined;
  const stamp = (at: string) => (options.timestamps ? `${at.slice(11, 19)} ` : '');
  engine.on('record', (record: TypedRecord) => {
    const lines = describeRecord(record);
    if (isFailure(record)) followed.failures.push(lines[0]!);
    if (options.json) {
      io.out(JSON.stringify(record));
      return;
    }
    const covered = progress?.handle(record) ?? false;
    if (!covered) {
      progress?.clear();
      const [head, ...detail] = lines;
      io.out(`${stamp(record.time)}${isFailure(record) ? paint(io, '31', head!) : head}`);
      for (const line of detail) io.out(line);
    }
    progress?.draw();
  });
  engine.on('error', (e) => {
    const line = `error (${e.pipeline ?? '-'} ${e.operation}): ${e.error.message}`;
    followed.failures.push(line);
    if (options.json) {
      io.out(JSON.stringify({ error: errorJson(e.error), operation: e.operation, pipeline: e.pipeline }));
      return;
    }
    progress?.clear();
    io.err(paint(io, '31', `${stamp(new Date().toISOString())}${line}`));
  });
  return followed;
}

/** An error as tools read it: `{ code, message, details }`. */
export function errorJson(error: unknown): {
  code: string;
  message: string;
  details: Record<string, unknown>;
} {
  if (error instanceof RingmasterError)
    return { code: error.code, message: error.message, details: error.details };
  return { code: 'UNEXPECTED', message: error instanceof Error ? error.message : String(error), details: {} };
}
