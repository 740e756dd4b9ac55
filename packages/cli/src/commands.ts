/**
 * The `ringmaster` commands. Each takes parsed arguments and an Io, and returns an exit code;
 * `bin.ts` only wires them to the process. `--json` prints one JSON document for tools.
 */
import {
  describeState,
  formatPlan,
  formatStatus,
  isRingmasterError,
  parseDuration,
  RingmasterError,
  replayPolicy,
  type TypedRecord,
} from '@ringmaster/core';
import { type LoadedProject, loadProject } from './config.js';
import { initProject } from './init.js';
import { EXIT, type Io, paint } from './output.js';
import { ProgressLine } from './progress.js';

export interface Parsed {
  command: string;
  positionals: string[];
  flags: Record<string, string | boolean | undefined>;
}

export interface Command {
  usage: string;
  summary: string;
  run(args: Parsed, io: Io, cwd: string): Promise<number>;
}

const json = (args: Parsed) => args.flags.json === true;
const flag = (args: Parsed, name: string): string | undefined => {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
};

/** Who runs the command, as recorded in the ledger: --by, else $USER. */
const who = (args: Parsed): string => flag(args, 'by') ?? process.env.USER ?? 'cli';

function need(args: Parsed, count: number, usage: string): string[] {
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
type Signals = 'park' | 'park-on-hangup';

async function withProject<T>(
  args: Parsed,
  cwd: string,
  work: (project: LoadedProject) => Promise<T>,
  options: { io?: Io; signals?: Signals } = {},
): Promise<T> {
  const project = await loadProject(cwd, flag(args, 'config'));
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

/**
 * Prints the engine's progress (the long-running commands): a line per step, and on a terminal
 * a progress line for each rollout under way instead of a line per host.
 */
function follow(project: LoadedProject, io: Io): void {
  const engine = project.engine;
  const progress = io.isTTY ? new ProgressLine(io) : undefined;
  engine.on('record', (record: TypedRecord) => {
    const covered = progress?.handle(record) ?? false;
    const line = covered ? undefined : describeRecord(record);
    if (line) {
      progress?.clear();
      io.out(line);
    }
    progress?.draw();
  });
  engine.on('error', (e) => {
    progress?.clear();
    io.err(paint(io, '31', `error (${e.pipeline ?? '-'} ${e.operation}): ${e.error.message}`));
  });
}

function describeRecord(r: TypedRecord): string | undefined {
  const d = r.data as Record<string, unknown>;
  const p = `[${String(d.pipeline)}]`;
  switch (r.type) {
    case 'revision.seen':
      return `${p} commit ${r.data.revision.id.slice(0, 10)} by ${r.data.revision.author}: ${r.data.revision.message.split('\n')[0]}`;
    case 'build.finished':
      return `${p} build ${r.data.revision.slice(0, 10)} ${r.data.ok ? 'passed' : `failed: ${r.data.error}`}`;
    case 'release.created':
      return `${p} release ${r.data.version}`;
    case 'rollout.started':
      return `${p} ${r.data.kind} ${r.data.release} → ${r.data.ring} (${r.data.reason})`;
    case 'host.finished':
      return `${p}   ${r.data.ok ? '✔' : '✘'} ${r.data.host} ${describeState(r.data.state)}${r.data.error ? `: ${r.data.error}` : ''}`;
    case 'rollout.parked':
      return `${p} ${r.data.rollout} parked (${r.data.reason}); it resumes at the next start`;
    case 'rollout.finished':
      return `${p} ${r.data.rollout} ${r.data.outcome}: ${r.data.reason}`;
    case 'gate.finished':
      return `${p}   gate ${r.data.gate} on ${r.data.ring}: ${r.data.ok ? 'passed' : 'FAILED'}`;
    case 'ring.verified':
      return `${p} ${r.data.release} verified in ${r.data.ring}`;
    case 'ring.rejected':
      return `${p} ${r.data.release} rejected in ${r.data.ring}: ${r.data.reason}`;
    case 'engine.fault':
      return `[-] ${r.data.owner} caught a fault nothing else did, and parked the work under way: ${r.data.error}`;
    case 'lease.lost':
      return `[${r.data.pipeline ?? '-'}] ${r.data.owner} lost the lease ${r.data.lease}: ${r.data.reason}`;
    default:
      return undefined;
  }
}

/**
 * Rolls a release out now and exits by what really happened: 0 only when the rollout succeeded
 * and the ring's gates passed.
 */
function deployNow(args: Parsed, io: Io, cwd: string, usage: string, required: number): Promise<number> {
  return withProject(
    args,
    cwd,
    async (project) => {
      const [pipeline, ring, release] = need(args, required, usage);
      follow(project, io);
      let outcome: string | undefined;
      project.engine.on('rollout.finished', (d) => {
        outcome = d.outcome;
      });
      let verified = false;
      project.engine.on('ring.verified', () => {
        verified = true;
      });
      await project.engine.promote({
        pipeline: pipeline!,
        ring: ring!,
        ...(release ? { release } : {}),
        by: who(args),
      });
      if (json(args)) io.out(JSON.stringify({ pipeline, ring, outcome, verified }));
      return outcome === 'succeeded' && verified ? EXIT.OK : EXIT.FAILED;
    },
    { io, signals: 'park' },
  );
}

export const commands: Record<string, Command> = {
  init: {
    usage: 'init [--force]',
    summary: 'write a ringmaster.config.ts to start from',
    run: async (args, io, cwd) => initProject(cwd, args.flags.force === true, io),
  },
  watch: {
    usage: 'watch [--interval 30s] [--once]',
    summary: 'poll, build, deploy and promote until stopped (Ctrl-C parks the rollout safely)',
    run: (args, io, cwd) =>
      withProject(
        args,
        cwd,
        async (project) => {
          follow(project, io);
          await project.engine.start({ waitMs: 0 });
          if (args.flags.once === true) {
            await project.engine.tick();
            return EXIT.OK;
          }
          const interval = parseDuration(flag(args, 'interval') ?? String(project.config.interval));
          if (interval === undefined)
            throw new RingmasterError('CONFIG', '--interval: expected a duration such as 30s', {
              scope: 'cli',
            });
          await project.engine.run({ intervalMs: interval });
          return EXIT.OK;
        },
        { io, signals: 'park-on-hangup' },
      ),
  },
  status: {
    usage: 'status [--live] [--json]',
    summary:
      'what every ring runs; with --live, what every host really runs (exit 1 on drift or an unreachable host)',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const report = await project.engine.status({ live: args.flags.live === true });
        io.out(json(args) ? JSON.stringify(report, null, 2) : formatStatus(report));
        const trouble = report.pipelines.some((p) =>
          p.rings.some((r) => r.hosts.some((h) => h.drift || h.unreachable !== undefined)),
        );
        return args.flags.live === true && trouble ? EXIT.FAILED : EXIT.OK;
      }),
  },
  explain: {
    usage: 'explain <pipeline> <ring> [--json]',
    summary: 'why the newest release is or is not moving into a ring',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring] = need(args, 2, 'explain <pipeline> <ring>');
        const e = await project.engine.explain({ pipeline: pipeline!, ring: ring! });
        if (json(args)) io.out(JSON.stringify(e, null, 2));
        else {
          io.out(e.summary);
          io.out(`  policy:  ${e.policy}`);
          io.out(`  rollout: ${e.rollout}`);
        }
        return EXIT.OK;
      }),
  },
  approve: {
    usage: 'approve <pipeline> <ring> <release> --by NAME [--comment TEXT]',
    summary: 'approve a release for a ring (manual() policies)',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring, release] = need(args, 3, 'approve <pipeline> <ring> <release> --by NAME');
        const by = flag(args, 'by') ?? process.env.USER;
        if (!by) throw new RingmasterError('CONFIG', '--by: who approves? (or set $USER)', { scope: 'cli' });
        const comment = flag(args, 'comment');
        await project.engine.approve({
          pipeline: pipeline!,
          ring: ring!,
          release: release!,
          by,
          via: 'cli',
          ...(comment ? { comment } : {}),
        });
        io.out(
          json(args)
            ? JSON.stringify({ approved: { pipeline, ring, release, by } })
            : `approved ${release} for ${pipeline}/${ring} by ${by}`,
        );
        return EXIT.OK;
      }),
  },
  build: {
    usage: 'build [pipeline] [--json]',
    summary: 'poll the sources and build new revisions into releases, without deploying',
    run: (args, io, cwd) =>
      withProject(
        args,
        cwd,
        async (project) => {
          follow(project, io);
          const builds: { pipeline: string; revision: string; ok: boolean; error?: string }[] = [];
          project.engine.on('build.finished', (d) =>
            builds.push({
              pipeline: d.pipeline,
              revision: d.revision,
              ok: d.ok,
              ...(d.error ? { error: d.error } : {}),
            }),
          );
          const [pipeline] = args.positionals;
          await project.engine.build(pipeline ? { pipeline } : {});
          if (json(args)) io.out(JSON.stringify({ builds }, null, 2));
          else if (builds.length === 0) io.out('nothing new to build');
          return builds.every((b) => b.ok) ? EXIT.OK : EXIT.FAILED;
        },
        { io, signals: 'park' },
      ),
  },
  promote: {
    usage: 'promote <pipeline> <ring> [release] [--by NAME]',
    summary: 'roll a release out to a ring now, bypassing its policy (not its lock)',
    run: (args, io, cwd) => deployNow(args, io, cwd, 'promote <pipeline> <ring> [release]', 2),
  },
  deploy: {
    usage: 'deploy <pipeline> <ring> <release> [--by NAME]',
    summary: 'deploy a named release to a ring now (same as promote, with the release required)',
    run: (args, io, cwd) => deployNow(args, io, cwd, 'deploy <pipeline> <ring> <release>', 3),
  },
  rollback: {
    usage: 'rollback <pipeline> <ring> [--to RELEASE] [--reason TEXT]',
    summary: 'roll a ring back to its previous release and reject the current one there',
    run: (args, io, cwd) =>
      withProject(
        args,
        cwd,
        async (project) => {
          const [pipeline, ring] = need(args, 2, 'rollback <pipeline> <ring>');
          if (!json(args)) follow(project, io);
          const to = flag(args, 'to');
          const reason = flag(args, 'reason');
          let finished: { rollout: string; outcome: string; reason: string } | undefined;
          project.engine.on('rollout.finished', (d) => {
            finished = { rollout: d.rollout, outcome: d.outcome, reason: d.reason };
          });
          await project.engine.rollback({
            pipeline: pipeline!,
            ring: ring!,
            ...(to ? { to } : {}),
            ...(reason ? { reason } : {}),
            by: who(args),
          });
          if (json(args)) io.out(JSON.stringify({ pipeline, ring, ...(finished ?? { outcome: 'parked' }) }));
          // 0 only when the ring is back: a rollback that failed, halted or was parked is not done.
          return finished?.outcome === 'succeeded' ? EXIT.OK : EXIT.FAILED;
        },
        { io, signals: 'park' },
      ),
  },
  lock: {
    usage: 'lock <pipeline> <ring> --reason TEXT',
    summary: 'stop every deployment to a ring until unlocked',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring] = need(args, 2, 'lock <pipeline> <ring> --reason TEXT');
        const reason = flag(args, 'reason');
        if (!reason)
          throw new RingmasterError('CONFIG', '--reason: say why the ring is locked', { scope: 'cli' });
        await project.engine.lock({
          pipeline: pipeline!,
          ring: ring!,
          reason,
          by: who(args),
        });
        io.out(`locked ${pipeline}/${ring}: ${reason}`);
        return EXIT.OK;
      }),
  },
  unlock: {
    usage: 'unlock <pipeline> <ring>',
    summary: 'allow deployments to a ring again',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring] = need(args, 2, 'unlock <pipeline> <ring>');
        await project.engine.unlock({
          pipeline: pipeline!,
          ring: ring!,
          by: who(args),
        });
        io.out(`unlocked ${pipeline}/${ring}`);
        return EXIT.OK;
      }),
  },
  unpin: {
    usage: 'unpin <pipeline> <ring> <release>',
    summary: 'lift the rejection of a release in a ring (after a rollback), so it may be promoted again',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring, release] = need(args, 3, 'unpin <pipeline> <ring> <release>');
        await project.engine.unpin({
          pipeline: pipeline!,
          ring: ring!,
          release: release!,
          by: who(args),
        });
        io.out(`unpinned ${release} in ${pipeline}/${ring}: its policy may promote it again`);
        return EXIT.OK;
      }),
  },
  history: {
    usage: 'history [pipeline] [--json]',
    summary: 'the ledger, one line per record',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        await project.engine.load();
        const [pipeline] = args.positionals;
        const records = (await project.engine.ledger.store.read()) as TypedRecord[];
        const mine = records.filter(
          (r) => !pipeline || (r.data as { pipeline?: string }).pipeline === pipeline,
        );
        if (json(args)) io.out(JSON.stringify(mine, null, 2));
        else
          for (const r of mine)
            io.out(
              `${String(r.seq).padStart(6)} ${r.time} ${describeRecord(r) ?? `[${String((r.data as { pipeline?: string }).pipeline)}] ${r.type}`}`,
            );
        return EXIT.OK;
      }),
  },
  converge: {
    usage: 'converge [pipeline] [ring] [--json]',
    summary: "bring drifted hosts back to their ring's release (exit 1 if drift remains)",
    run: (args, io, cwd) =>
      withProject(
        args,
        cwd,
        async (project) => {
          const [pipeline, ring] = args.positionals;
          if (!json(args)) follow(project, io);
          const report = await project.engine.converge({
            ...(pipeline ? { pipeline } : {}),
            ...(ring ? { ring } : {}),
            by: who(args),
          });
          if (json(args)) io.out(JSON.stringify(report, null, 2));
          else
            for (const r of report.rings)
              io.out(`${r.pipeline}/${r.ring}: ${r.rollout ? `${r.rollout} ${r.outcome}: ` : ''}${r.reason}`);
          return report.ok ? EXIT.OK : EXIT.FAILED;
        },
        { io, signals: 'park' },
      ),
  },
  plan: {
    usage: 'plan [--json]',
    summary: 'what the next pass of watch would do and why, without doing it',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const plan = await project.engine.plan();
        io.out(json(args) ? JSON.stringify(plan, null, 2) : formatPlan(plan));
        return EXIT.OK;
      }),
  },
  replay: {
    usage: 'replay <pipeline> <ring> [--policy NAME] [--json]',
    summary:
      "when a policy (the ring's, or one of the config's named policies) would have promoted each past release",
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring] = need(args, 2, 'replay <pipeline> <ring> [--policy NAME]');
        // Names an unknown pipeline or ring (NOT_FOUND) the way every command does.
        await project.engine.explain({ pipeline: pipeline!, ring: ring! });
        const name = flag(args, 'policy');
        const policy = name
          ? project.config.policies[name]
          : project.engine.pipelines.get(pipeline!)!.rings.find((r) => r.name === ring)!.policy;
        if (!policy) {
          const known = Object.keys(project.config.policies);
          throw new RingmasterError(
            'NOT_FOUND',
            `--policy: no policy "${name}" in the config's policies; ${known.length ? `known: ${known.join(', ')}` : 'add one: policies: { candidate: soak("24h") }'}`,
            { scope: 'cli' },
          );
        }
        const results = replayPolicy({ policy, history: project.engine, pipeline: pipeline!, ring: ring! });
        if (json(args)) io.out(JSON.stringify({ policy: policy.describe(), results }, null, 2));
        else {
          io.out(`policy: ${policy.describe()}`);
          for (const r of results)
            io.out(
              `${r.version}  ready ${r.readyAt}  → ${r.promoteAt ?? `not promoted: ${r.reason}`}${r.actualAt ? `  (really ${r.actualAt})` : ''}`,
            );
        }
        return EXIT.OK;
      }),
  },
};

/** Maps an error to an exit code and a message that says what to do next. */
export function reportError(error: unknown, io: Io): number {
  if (isRingmasterError(error)) {
    io.err(paint(io, '31', error.message));
    switch (error.code) {
      case 'CONFIG':
        return EXIT.USAGE;
      case 'LOCKED':
        return EXIT.LOCKED;
      case 'NOT_FOUND':
        return EXIT.NOT_FOUND;
      default:
        return EXIT.FAILED;
    }
  }
  io.err(
    paint(
      io,
      '31',
      `[ringmaster] unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    ),
  );
  return EXIT.FAILED;
}
