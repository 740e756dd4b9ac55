/**
 * The `ringmaster` commands. Each takes parsed arguments and an Io, and returns an exit code
 * from the one table every command shares (EXIT); `bin.ts` only wires them to the process.
 * `--json` prints JSON for tools — one document, or for a running command one record a line.
 */
import {
  formatPlan,
  formatStatus,
  parseDuration,
  RingmasterError,
  type RolloutSummary,
  replayPolicy,
} from '@ringmaster/core';
import { dryRunDeploy, dryRunRollback, planFor, planPreviews, printPlanWithHosts } from './dry-run.js';
import { initProject } from './init.js';
import { copyLedger, openStore, type VerifyReport, verifyLedger } from './ledger.js';
import { EXIT, type Io } from './output.js';
import { describeRecord } from './records.js';
import { actor, type Followed, flag, follow, json, need, type Parsed, withProject } from './session.js';
import { serveCommand, userCommand, watchServe } from './web.js';

export type { Parsed } from './session.js';

export interface Command {
  usage: string;
  summary: string;
  /** The command's own flags, one line each: `--live   ask every host what it runs`. */
  flags?: string[];
  /** One complete example, as typed. */
  example: string;
  run(args: Parsed, io: Io, cwd: string): Promise<number>;
}

/** 0 when nothing the command did failed; 1 with each failure said once more at the end. */
function byFailures(io: Io, followed: Followed, asJson: boolean): number {
  if (followed.failures.length === 0) return EXIT.OK;
  if (!asJson) io.err(`${followed.failures.length} failure(s); see above`);
  return EXIT.FAILED;
}

/** A promote or rollback as tools read it, and the line a person reads. */
function rolloutLine(s: RolloutSummary, ring: string, pipeline: string): string {
  const waiting = s.position?.waiting;
  const how = s.outcome
    ? `${s.outcome}${s.reason ? `: ${s.reason}` : ''}`
    : waiting
      ? `paused at step ${s.position!.step} of ${s.position!.total} (${s.position!.what}): ${
          waiting.for === 'person'
            ? `it waits for a person: ringmaster resume ${pipeline} ${ring}`
            : `until ${waiting.until}; ringmaster watch carries it on then (or resume it sooner)`
        }`
      : 'parked: it resumes at the next start';
  return `${s.kind} ${s.rollout} of ${s.version} to ${ring} (${s.chosen}) ${how}`;
}

/** The exit code of a rollout that was to end verified: 0, 6 when a pause step holds it, else 1. */
function verifiedExit(s: RolloutSummary, io: Io, followed: Followed, asJson: boolean): number {
  if (s.outcome === 'succeeded' && s.verified) return byFailures(io, followed, asJson);
  if (!s.outcome && s.position?.waiting) return EXIT.PAUSED;
  return EXIT.FAILED;
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
      // A dry run reads only: no permission asked, no lease taken, nothing recorded.
      if (args.flags['dry-run'] === true)
        return dryRunDeploy(project, io, json(args), {
          pipeline: pipeline!,
          ring: ring!,
          ...(release ? { release } : {}),
          ...(flag(args, 'limit') !== undefined ? { limit: flag(args, 'limit')! } : {}),
          ...(withFlags(args).length ? { with: withFlags(args) } : {}),
          ...(args.flags.force === true ? { force: true } : {}),
        });
      // Releases promoted with it are deployed too: the caller must be allowed to deploy each.
      const companions = withFlags(args);
      const { by, identity } = await actor(project, args, 'deploy', [
        { pipeline: pipeline!, ring: ring! },
        ...companions.map((c) => ({ pipeline: c.pipeline, ring: ring! })),
      ]);
      const followed = follow(project, io, { json: json(args) });
      const reason = flag(args, 'reason');
      const limit = flag(args, 'limit');
      // Through a freeze: only with a reason, and only for the config's access.breakGlass groups.
      const breakGlass = args.flags['break-glass'] === true;
      if (breakGlass && !reason)
        throw new RingmasterError('CONFIG', '--break-glass: say why the freeze must be broken (--reason)', {
          scope: 'cli',
        });
      const summary = await project.engine.promote({
        pipeline: pipeline!,
        ring: ring!,
        ...(release ? { release } : {}),
        ...(companions.length ? { with: companions } : {}),
        ...(args.flags.force === true ? { force: true } : {}),
        ...(reason ? { reason } : {}),
        ...(limit !== undefined ? { limit } : {}),
        ...(breakGlass ? { breakGlass: { reason: reason!, groups: identity?.groups ?? [] } } : {}),
        by,
      });
      // On named hosts only: done when it succeeded there; the ring's release (and gates) are untouched.
      if (limit !== undefined) {
        if (json(args)) io.out(JSON.stringify({ pipeline, ring, ...summary }));
        else io.out(`${rolloutLine(summary, ring!, pipeline!)}; ${ring}'s own release is unchanged`);
        return summary.outcome === 'succeeded' ? byFailures(io, followed, json(args)) : EXIT.FAILED;
      }
      if (json(args)) io.out(JSON.stringify({ pipeline, ring, ...summary }));
      else {
        const verified = (s: RolloutSummary) =>
          s.outcome ? `; ${s.verified ? '' : 'not '}verified in ${ring}` : '';
        io.out(`${rolloutLine(summary, ring!, pipeline!)}${verified(summary)}`);
        for (const other of summary.together ?? [])
          io.out(`${other.pipeline}: ${rolloutLine(other, ring!, other.pipeline)}${verified(other)}`);
      }
      // With --with: done only when every release went in (a member that did not stops the rest).
      const missing = companions.length - (summary.together?.length ?? 0);
      const last = [summary, ...(summary.together ?? [])].find(
        (s) => !(s.outcome === 'succeeded' && s.verified),
      );
      if (missing > 0 && !last) return EXIT.FAILED;
      return verifiedExit(last ?? summary, io, followed, json(args));
    },
    { io, signals: 'park' },
  );
}

/** `--with bar@2.0` (repeatable): releases of other pipelines promoted together with this one. */
function withFlags(args: Parsed): { pipeline: string; release: string }[] {
  const values = args.flags.with;
  const list = Array.isArray(values) ? values : typeof values === 'string' ? [values] : [];
  return list.map((text) => {
    const at = text.indexOf('@');
    if (at <= 0 || at === text.length - 1)
      throw new RingmasterError('CONFIG', `--with: "${text}" is not <pipeline>@<release> (e.g. bar@2.0)`, {
        scope: 'cli',
      });
    return { pipeline: text.slice(0, at), release: text.slice(at + 1) };
  });
}

/** `allow` (and the old spelling, `unpin <pipeline> <ring> <release>`): lifts a rejection. */
async function allowRelease(
  project: Parameters<Parameters<typeof withProject>[2]>[0],
  args: Parsed,
  io: Io,
  pipeline: string,
  ring: string,
  release: string,
): Promise<number> {
  const { by } = await actor(project, args, 'deploy', [{ pipeline, ring }]);
  await project.engine.allow({ pipeline, ring, release, by });
  io.out(
    json(args)
      ? JSON.stringify({ allowed: { pipeline, ring, release, by } })
      : `allowed ${release} in ${pipeline}/${ring} again: its policy may promote it again`,
  );
  return EXIT.OK;
}

export const commands: Record<string, Command> = {
  init: {
    usage: 'init [--force]',
    summary: 'write a ringmaster.config.ts to start from',
    flags: ['--force   overwrite an existing ringmaster.config.ts'],
    example: 'ringmaster init && ringmaster watch --once',
    run: async (args, io, cwd) => initProject(cwd, args.flags.force === true, io),
  },
  watch: {
    usage: 'watch [--interval 30s] [--once] [--serve ADDR] [--json]',
    summary: 'poll, build, deploy and promote until stopped (Ctrl-C parks the rollout safely)',
    flags: [
      '--once       one pass, then exit: 1 if anything in it failed (cron-friendly)',
      "--interval   time between passes (default: the config's interval, 30s)",
      '--serve      also serve the team page at ADDR (127.0.0.1:8080, :8080 for every address)',
      '--json       one JSON record per line instead of text',
    ],
    example: 'ringmaster watch --interval 1m --serve 127.0.0.1:8080',
    run: (args, io, cwd) =>
      withProject(
        args,
        cwd,
        async (project) => {
          const followed = follow(project, io, { json: json(args), timestamps: true });
          await project.engine.start({ waitMs: 0 });
          const page = await watchServe(project, args, io);
          if (args.flags.once === true) {
            try {
              await project.engine.tick();
            } finally {
              await page?.close();
            }
            return byFailures(io, followed, json(args));
          }
          const interval = parseDuration(flag(args, 'interval') ?? String(project.config.interval));
          if (interval === undefined)
            throw new RingmasterError('CONFIG', '--interval: expected a duration such as 30s', {
              scope: 'cli',
            });
          try {
            await project.engine.run({ intervalMs: interval });
          } finally {
            await page?.close();
          }
          return EXIT.OK;
        },
        { io, signals: 'park-on-hangup' },
      ),
  },
  status: {
    usage: 'status [pipeline [ring]] [--live] [--limit HOSTS] [--json]',
    summary:
      'what every ring runs and does next, its newest failure; with --live, what every host really runs',
    flags: [
      '--live    ask every host what it runs: exit 1 on drift or an unreachable host (disabled hosts are not asked)',
      '--limit   with a ring: only these hosts (names or globs, "prod-1,prod-[23]")',
    ],
    example: 'ringmaster status shop prod --live --limit "prod-[12]"',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring] = args.positionals;
        const limit = flag(args, 'limit');
        const report = await project.engine.status({
          live: args.flags.live === true,
          ...(pipeline ? { pipeline } : {}),
          ...(ring ? { ring } : {}),
          ...(limit !== undefined ? { limit } : {}),
        });
        io.out(json(args) ? JSON.stringify(report, null, 2) : formatStatus(report));
        const trouble = report.pipelines.some((p) =>
          p.rings.some((r) => r.hosts.some((h) => h.drift || h.unreachable !== undefined)),
        );
        return args.flags.live === true && trouble ? EXIT.FAILED : EXIT.OK;
      }),
  },
  explain: {
    usage: 'explain <pipeline> <ring> [--json]',
    summary: 'what a ring does next and why: the release it waits for, what failed there',
    example: 'ringmaster explain foostat prod',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring] = need(args, 2, 'explain <pipeline> <ring>');
        const e = await project.engine.explain({ pipeline: pipeline!, ring: ring! });
        if (json(args)) io.out(JSON.stringify(e, null, 2));
        else {
          io.out(e.summary);
          if (e.lastFailure && e.action !== 'idle')
            io.out(
              `  failed:  ${e.lastFailure.version} ${e.lastFailure.status} at ${e.lastFailure.at}: ${e.lastFailure.reason}`,
            );
          io.out(`  policy:  ${e.policy}`);
          io.out(`  rollout: ${e.rollout}`);
        }
        return EXIT.OK;
      }),
  },
  approve: {
    usage: 'approve <pipeline> <ring> <release> [--by NAME] [--comment TEXT] [--json]',
    summary: 'approve a release for a ring (manual() policies); refused when it could never count',
    flags: [
      '--by        who approves (default: you; with identities, RINGMASTER_TOKEN says who you are)',
      '--comment   recorded with the approval',
    ],
    example: 'ringmaster approve foostat prod 1.0.42 --by alice --comment "CAB-1234"',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring, release] = need(args, 3, 'approve <pipeline> <ring> <release>');
        const { by, identity } = await actor(project, args, 'approve', [
          { pipeline: pipeline!, ring: ring! },
        ]);
        const comment = flag(args, 'comment');
        await project.engine.approve({
          pipeline: pipeline!,
          ring: ring!,
          release: release!,
          by,
          via: 'cli',
          ...(identity ? { identity } : {}),
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
    usage: 'build [pipeline] [--retry REVISION] [--json]',
    summary:
      'poll the sources and build new revisions into releases, deploying nothing; --retry builds a failed one again',
    flags: ['--retry   build this revision (or its first 7+ characters) again, as a new attempt'],
    example: 'ringmaster build foostat --retry 3f2a9c1',
    run: (args, io, cwd) =>
      withProject(
        args,
        cwd,
        async (project) => {
          const followed = follow(project, io, { json: json(args) });
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
          const retry = flag(args, 'retry');
          if (retry) {
            if (!pipeline)
              throw new RingmasterError('CONFIG', 'usage: ringmaster build <pipeline> --retry REVISION', {
                scope: 'cli',
              });
            // A new attempt feeds the pipeline's first ring: the permission to deploy there.
            const first = project.engine.pipelines.get(pipeline)?.rings[0]?.name;
            const { by } = await actor(project, args, 'deploy', first ? [{ pipeline, ring: first }] : []);
            await project.engine.rebuild({ pipeline, revision: retry, by });
          }
          await project.engine.build(pipeline ? { pipeline } : {});
          if (json(args)) io.out(JSON.stringify({ builds }));
          else if (builds.length === 0) io.out('nothing new to build');
          return byFailures(io, followed, json(args));
        },
        { io, signals: 'park' },
      ),
  },
  promote: {
    usage:
      'promote <pipeline> <ring> [release] [--with PIPELINE@RELEASE]… [--force] [--by NAME] [--reason TEXT] [--limit HOSTS] [--break-glass] [--dry-run] [--json]',
    summary:
      'roll a release out to a ring now, bypassing its policy (not its lock or package relations); exit 0 only if it is verified there',
    flags: [
      '--by       who promotes it (recorded; default: cli)',
      '--reason   recorded with the rollout',
      '--with     a release of another pipeline that goes in with it (they need each other): bar@2.0; repeatable',
      '--force    go ahead although the ring lacks what the release needs (its Depends), or it breaks what the ring runs',
      '--dry-run  print the rollout host by host and step by step (versions, pauses, gates, commits) and do nothing',
      '--limit    only these hosts (names or globs, "prod-1,prod-[23]"): the ring\'s own release is unchanged',
      '--break-glass  deploy through a freeze (needs --reason; only for access.breakGlass groups): recorded and notified',
    ],
    example: 'ringmaster promote foostat sandbox 1.0.42 --reason "hotfix"',
    run: (args, io, cwd) => deployNow(args, io, cwd, 'promote <pipeline> <ring> [release]', 2),
  },
  deploy: {
    usage:
      'deploy <pipeline> <ring> <release> [--by NAME] [--reason TEXT] [--limit HOSTS] [--break-glass] [--dry-run] [--json]',
    summary: 'deploy a named release to a ring now (promote, with the release required)',
    flags: [
      '--by       who deploys it (recorded; default: cli)',
      '--reason   recorded with the rollout',
      '--dry-run  print the rollout host by host and step by step (versions, pauses, gates, commits) and do nothing',
      '--limit    only these hosts (names or globs, "prod-1,prod-[23]"): the ring\'s own release is unchanged',
      '--break-glass  deploy through a freeze (needs --reason; only for access.breakGlass groups): recorded and notified',
    ],
    example: 'ringmaster deploy foostat prod 1.0.42',
    run: (args, io, cwd) => deployNow(args, io, cwd, 'deploy <pipeline> <ring> <release>', 3),
  },
  rollback: {
    usage:
      'rollback <pipeline> <ring> [--to RELEASE] [--force] [--reason TEXT] [--limit HOSTS] [--dry-run] [--json]',
    summary: 'roll a ring back (to the newest release verified there, or --to) and reject what it ran',
    flags: [
      '--to       the release to go back to (even one rejected there)',
      '--force    go back although what the ring runs needs the release it has now (refused otherwise)',
      '--reason   recorded with the rejection',
      '--dry-run  print the rollback host by host (versions, commits removed) and do nothing',
      '--limit    only these hosts (names or globs, "prod-1,prod-[23]"): the ring\'s own release is unchanged',
    ],
    example: 'ringmaster rollback foostat prod --reason "error rate up"',
    run: (args, io, cwd) =>
      withProject(
        args,
        cwd,
        async (project) => {
          const [pipeline, ring] = need(args, 2, 'rollback <pipeline> <ring>');
          if (args.flags['dry-run'] === true) {
            const to = flag(args, 'to');
            return dryRunRollback(project, io, json(args), {
              pipeline: pipeline!,
              ring: ring!,
              ...(to ? { to } : {}),
              ...(flag(args, 'limit') !== undefined ? { limit: flag(args, 'limit')! } : {}),
            });
          }
          const { by } = await actor(project, args, 'rollback', [{ pipeline: pipeline!, ring: ring! }]);
          const followed = follow(project, io, { json: json(args) });
          const to = flag(args, 'to');
          const reason = flag(args, 'reason');
          const limit = flag(args, 'limit');
          const summary = await project.engine.rollback({
            pipeline: pipeline!,
            ring: ring!,
            ...(to ? { to } : {}),
            ...(args.flags.force === true ? { force: true } : {}),
            ...(reason ? { reason } : {}),
            ...(limit !== undefined ? { limit } : {}),
            by,
          });
          if (json(args)) io.out(JSON.stringify({ pipeline, ring, ...summary }));
          else io.out(rolloutLine(summary, ring!, pipeline!));
          // 0 only when the ring is back: a rollback that failed, halted or was parked is not done.
          return summary.outcome === 'succeeded' ? byFailures(io, followed, json(args)) : EXIT.FAILED;
        },
        { io, signals: 'park' },
      ),
  },
  resume: {
    usage: 'resume <pipeline> <ring> [--reason TEXT] [--break-glass] [--json]',
    summary:
      "end the pause step a ring's rollout waits at (recorded as yours), then carry the rollout on to its end or next pause",
    flags: [
      '--reason       recorded with the resume ("canary error rate flat")',
      '--break-glass  go on through a freeze begun since the rollout started (needs --reason; access.breakGlass groups)',
    ],
    example: 'ringmaster resume foostat prod --reason "canary looks fine"',
    run: (args, io, cwd) =>
      withProject(
        args,
        cwd,
        async (project) => {
          const [pipeline, ring] = need(args, 2, 'resume <pipeline> <ring>');
          const { by, identity } = await actor(project, args, 'deploy', [
            { pipeline: pipeline!, ring: ring! },
          ]);
          const followed = follow(project, io, { json: json(args) });
          const reason = flag(args, 'reason');
          const breakGlass = args.flags['break-glass'] === true;
          if (breakGlass && !reason)
            throw new RingmasterError(
              'CONFIG',
              '--break-glass: say why the freeze must be broken (--reason)',
              {
                scope: 'cli',
              },
            );
          const resumed = await project.engine.resume({
            pipeline: pipeline!,
            ring: ring!,
            by,
            ...(reason ? { reason } : {}),
            ...(breakGlass ? { breakGlass: { reason: reason!, groups: identity?.groups ?? [] } } : {}),
          });
          const { summary } = resumed;
          if (json(args)) io.out(JSON.stringify({ pipeline, ring, resumed }));
          else {
            io.out(`resumed ${resumed.rollout} at step ${resumed.step} as ${by}`);
            io.out(
              summary
                ? `${rolloutLine(summary, ring!, pipeline!)}${summary.outcome ? `; ${summary.verified ? '' : 'not '}verified in ${ring}` : ''}`
                : `another process holds ${pipeline}/${ring}: it carries the rollout on`,
            );
          }
          return summary ? verifiedExit(summary, io, followed, json(args)) : EXIT.OK;
        },
        { io, signals: 'park' },
      ),
  },
  abort: {
    usage: 'abort <pipeline> <ring> --reason TEXT [--json]',
    summary:
      "abort a ring's rollout in flight (a paused canary gone bad): it applies its onFailure to the hosts done so far (rolls them back, or halts)",
    flags: ['--reason   why (recorded; required)'],
    example: 'ringmaster abort foostat prod --reason "canary error rate up"',
    run: (args, io, cwd) =>
      withProject(
        args,
        cwd,
        async (project) => {
          const [pipeline, ring] = need(args, 2, 'abort <pipeline> <ring> --reason TEXT');
          const reason = flag(args, 'reason');
          if (!reason)
            throw new RingmasterError('CONFIG', '--reason: say why the rollout is aborted', { scope: 'cli' });
          const { by } = await actor(project, args, 'rollback', [{ pipeline: pipeline!, ring: ring! }]);
          follow(project, io, { json: json(args) });
          const aborted = await project.engine.abort({ pipeline: pipeline!, ring: ring!, reason, by });
          const { summary } = aborted;
          if (json(args)) io.out(JSON.stringify({ pipeline, ring, aborted }));
          else {
            io.out(`aborted ${aborted.rollout} as ${by}: ${reason}`);
            io.out(
              summary
                ? rolloutLine(summary, ring!, pipeline!)
                : `another process holds ${pipeline}/${ring}: it aborts the rollout at its next step`,
            );
          }
          // Done when the hosts done were put back (or halted, as the strategy says): that rollout's
          // own end is what was asked for, not a failure; a host that could not be put back is.
          if (!summary) return EXIT.OK;
          return summary.outcome === 'rolled-back' || summary.outcome === 'halted' ? EXIT.OK : EXIT.FAILED;
        },
        { io, signals: 'park' },
      ),
  },
  host: {
    usage:
      'host disable <pipeline> <ring> <host> --reason TEXT | host enable <pipeline> <ring> <host> [--json]',
    summary:
      'take a host out of rotation (rollouts and gates skip it; status shows who and why), or put it back and converge it',
    flags: ['--reason   why it is out (required to disable; shown in status and on the page)'],
    example: 'ringmaster host disable foostat prod prod-2 --reason "disk failing, INC-77"',
    run: (args, io, cwd) =>
      withProject(
        args,
        cwd,
        async (project) => {
          const [action, pipeline, ring, host] = need(
            args,
            4,
            'host disable|enable <pipeline> <ring> <host>',
          );
          if (action !== 'disable' && action !== 'enable')
            throw new RingmasterError(
              'CONFIG',
              `usage: ringmaster host disable|enable <pipeline> <ring> <host>`,
              {
                scope: 'cli',
              },
            );
          const { by } = await actor(project, args, 'lock', [{ pipeline: pipeline!, ring: ring! }]);
          if (action === 'disable') {
            const reason = flag(args, 'reason');
            if (!reason)
              throw new RingmasterError('CONFIG', '--reason: say why the host is out of rotation', {
                scope: 'cli',
              });
            await project.engine.disableHost({ pipeline: pipeline!, ring: ring!, host: host!, reason, by });
            io.out(
              json(args)
                ? JSON.stringify({ disabled: { pipeline, ring, host, reason, by } })
                : `disabled ${host} in ${pipeline}/${ring}: ${reason}; rollouts skip it until it is enabled`,
            );
            return EXIT.OK;
          }
          follow(project, io, { json: json(args) });
          const report = await project.engine.enableHost({
            pipeline: pipeline!,
            ring: ring!,
            host: host!,
            by,
          });
          if (json(args)) io.out(JSON.stringify({ enabled: { pipeline, ring, host, by }, converge: report }));
          else {
            io.out(`enabled ${host} in ${pipeline}/${ring}`);
            for (const r of report.rings)
              io.out(`${r.pipeline}/${r.ring}: ${r.rollout ? `${r.rollout} ${r.outcome}: ` : ''}${r.reason}`);
          }
          return report.ok ? EXIT.OK : EXIT.FAILED;
        },
        { io, signals: 'park' },
      ),
  },
  lock: {
    usage: 'lock <pipeline> <ring> --reason TEXT [--json]',
    summary: 'stop every deployment to a ring until unlocked (refused if it is locked already)',
    example: 'ringmaster lock foostat prod --reason "incident 42"',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring] = need(args, 2, 'lock <pipeline> <ring> --reason TEXT');
        const reason = flag(args, 'reason');
        if (!reason)
          throw new RingmasterError('CONFIG', '--reason: say why the ring is locked', { scope: 'cli' });
        const { by } = await actor(project, args, 'lock', [{ pipeline: pipeline!, ring: ring! }]);
        await project.engine.lock({ pipeline: pipeline!, ring: ring!, reason, by });
        io.out(
          json(args)
            ? JSON.stringify({ locked: { pipeline, ring, reason, by } })
            : `locked ${pipeline}/${ring}: ${reason}`,
        );
        return EXIT.OK;
      }),
  },
  unlock: {
    usage: 'unlock <pipeline> <ring> [--reason TEXT] [--json]',
    summary: 'allow deployments to a ring again (refused if it is not locked)',
    flags: ['--reason   why it is safe again (recorded)'],
    example: 'ringmaster unlock foostat prod --reason "incident 42 resolved"',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring] = need(args, 2, 'unlock <pipeline> <ring>');
        const { by } = await actor(project, args, 'lock', [{ pipeline: pipeline!, ring: ring! }]);
        const reason = flag(args, 'reason');
        await project.engine.unlock({ pipeline: pipeline!, ring: ring!, by, ...(reason ? { reason } : {}) });
        io.out(
          json(args)
            ? JSON.stringify({ unlocked: { pipeline, ring, by, ...(reason ? { reason } : {}) } })
            : `unlocked ${pipeline}/${ring}${reason ? `: ${reason}` : ''}`,
        );
        return EXIT.OK;
      }),
  },
  pin: {
    usage: 'pin <pipeline> <ring> [release] --reason TEXT [--json]',
    summary:
      'hold a ring on the release it runs: automatic promotion waits, promote or rollback elsewhere is refused, until unpin',
    flags: ['--reason   why (shown in status, explain and the page: "pinned by alice: incident 42")'],
    example: 'ringmaster pin foostat prod --reason "incident 42"',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring, release] = need(args, 2, 'pin <pipeline> <ring> [release] --reason TEXT');
        const reason = flag(args, 'reason');
        if (!reason)
          throw new RingmasterError('CONFIG', '--reason: say why the ring is pinned', { scope: 'cli' });
        const { by } = await actor(project, args, 'lock', [{ pipeline: pipeline!, ring: ring! }]);
        await project.engine.pin({
          pipeline: pipeline!,
          ring: ring!,
          ...(release ? { release } : {}),
          reason,
          by,
        });
        const pinned = project.engine.ledger.state.pipelines.get(pipeline!)?.rings.get(ring!)?.pinned;
        io.out(
          json(args)
            ? JSON.stringify({ pinned: { pipeline, ring, release: pinned?.release, reason, by } })
            : `pinned ${pipeline}/${ring} to ${pinned?.release}: ${reason}`,
        );
        return EXIT.OK;
      }),
  },
  unpin: {
    usage: 'unpin <pipeline> <ring> [--json]',
    summary: "lift a ring's pin, so its policy may promote again",
    example: 'ringmaster unpin foostat prod',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring, release] = need(args, 2, 'unpin <pipeline> <ring>');
        if (release !== undefined) {
          // The spelling of before pins: it lifted a rejection, which is `allow` now.
          io.err(
            `notice: "unpin <pipeline> <ring> <release>" lifts a rejection, as before: that is "ringmaster allow ${pipeline} ${ring} ${release}" now, and "unpin <pipeline> <ring>" lifts a pin; this spelling goes away in a later version`,
          );
          return allowRelease(project, args, io, pipeline!, ring!, release);
        }
        const { by } = await actor(project, args, 'lock', [{ pipeline: pipeline!, ring: ring! }]);
        await project.engine.unpin({ pipeline: pipeline!, ring: ring!, by });
        io.out(
          json(args)
            ? JSON.stringify({ unpinned: { pipeline, ring, by } })
            : `unpinned ${pipeline}/${ring}: its policy may promote again`,
        );
        return EXIT.OK;
      }),
  },
  allow: {
    usage: 'allow <pipeline> <ring> <release> [--json]',
    summary:
      'lift the rejection of a release in a ring (after a rollback or reject), so it may be promoted again',
    example: 'ringmaster allow foostat prod 1.0.42',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring, release] = need(args, 3, 'allow <pipeline> <ring> <release>');
        return allowRelease(project, args, io, pipeline!, ring!, release!);
      }),
  },
  reject: {
    usage: 'reject <pipeline> <release> --reason TEXT [--json]',
    summary:
      'mark a release bad in every ring: no policy promotes it again; rings running it say so and offer a rollback',
    flags: ['--reason   why it is bad (recorded in each ring)'],
    example: 'ringmaster reject foostat 1.0.42 --reason "corrupts the cache"',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, release] = need(args, 2, 'reject <pipeline> <release> --reason TEXT');
        const reason = flag(args, 'reason');
        if (!reason)
          throw new RingmasterError('CONFIG', '--reason: say why the release is bad', { scope: 'cli' });
        const rings = project.engine.pipelines
          .get(pipeline!)
          ?.rings.map((r) => ({ pipeline: pipeline!, ring: r.name }));
        const { by } = await actor(project, args, 'rollback', rings ?? []);
        const rejected = await project.engine.reject({ pipeline: pipeline!, release: release!, reason, by });
        io.out(
          json(args)
            ? JSON.stringify({ rejected: { pipeline, release, rings: rejected, reason, by } })
            : `rejected ${release} in ${rejected.join(', ')}: ${reason}`,
        );
        return EXIT.OK;
      }),
  },
  history: {
    usage: 'history [pipeline] [--json]',
    summary: 'the ledger, one line per record: who did what, when',
    example: 'ringmaster history foostat | grep approved',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        await project.engine.load();
        const [pipeline] = args.positionals;
        const records = await project.engine.ledger.read();
        const mine = records.filter(
          (r) => !pipeline || (r.data as { pipeline?: string }).pipeline === pipeline,
        );
        if (json(args)) io.out(JSON.stringify(mine, null, 2));
        else for (const r of mine) io.out(`${String(r.seq).padStart(6)} ${r.time} ${describeRecord(r)[0]}`);
        return EXIT.OK;
      }),
  },
  converge: {
    usage: 'converge [pipeline] [ring] [--limit HOSTS] [--json]',
    summary: "bring drifted and unreachable hosts back to their ring's release (exit 1 if drift remains)",
    flags: ['--limit   with a ring: only these hosts (names or globs); disabled hosts are never touched'],
    example: 'ringmaster converge foostat prod --limit prod-2',
    run: (args, io, cwd) =>
      withProject(
        args,
        cwd,
        async (project) => {
          const [pipeline, ring] = args.positionals;
          const where = [...project.engine.pipelines.values()]
            .filter((p) => !pipeline || p.name === pipeline)
            .flatMap((p) =>
              p.rings
                .filter((r) => !ring || r.name === ring)
                .map((r) => ({ pipeline: p.name, ring: r.name })),
            );
          const { by } = await actor(project, args, 'deploy', where);
          follow(project, io, { json: json(args) });
          const limit = flag(args, 'limit');
          const report = await project.engine.converge({
            ...(pipeline ? { pipeline } : {}),
            ...(ring ? { ring } : {}),
            ...(limit !== undefined ? { limit } : {}),
            by,
          });
          if (json(args)) io.out(JSON.stringify(report));
          else
            for (const r of report.rings)
              io.out(`${r.pipeline}/${r.ring}: ${r.rollout ? `${r.rollout} ${r.outcome}: ` : ''}${r.reason}`);
          return report.ok ? EXIT.OK : EXIT.FAILED;
        },
        { io, signals: 'park' },
      ),
  },
  plan: {
    usage: 'plan [pipeline [ring]] [--hosts] [--json]',
    summary: 'what the next pass of watch would do and why, without doing it',
    flags: [
      '--hosts   also each rollout a ring would take, host by host and step by step: versions, pauses, gates, commits',
    ],
    example: 'ringmaster plan shop prod --hosts',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [pipeline, ring] = args.positionals;
        const plan = planFor(await project.engine.plan(), pipeline, ring);
        if (args.flags.hosts === true)
          printPlanWithHosts(io, json(args), plan, formatPlan(plan), await planPreviews(project, plan));
        else io.out(json(args) ? JSON.stringify(plan, null, 2) : formatPlan(plan));
        return EXIT.OK;
      }),
  },
  suite: {
    usage: 'suite <ring> [--at TIME] [--json]',
    summary:
      "what a ring's apt suite listed (what its hosts could install), now or at a time, from the ledger",
    flags: ['--at      a time (ISO 8601, "2026-11-20T12:00:00Z"): the suite as it was then (default: now)'],
    example: 'ringmaster suite prod --at 2026-11-20T12:00:00Z',
    run: (args, io, cwd) =>
      withProject(args, cwd, async (project) => {
        const [ring] = need(args, 1, 'suite <ring> [--at TIME]');
        const at = flag(args, 'at');
        const suite = await project.engine.suite({ ring: ring!, ...(at ? { at } : {}) });
        if (json(args)) {
          io.out(JSON.stringify({ ring, at: at ?? null, suite: suite ?? null }, null, 2));
          return EXIT.OK;
        }
        if (!suite) {
          io.out(
            `${ring}: no change of its suite is recorded${at ? ` at or before ${at}` : ''} (the ring's first rollout makes it, with a repository that keeps a suite per ring)`,
          );
          return EXIT.OK;
        }
        io.out(
          `${ring} (suite ${suite.suite}) as of ${suite.asOf}: changed ${suite.at} by ${suite.pipeline}'s ${suite.rollout}`,
        );
        const names = Object.keys(suite.packages).sort();
        if (names.length === 0) io.out('  lists nothing');
        for (const name of names) io.out(`  ${name}  ${suite.packages[name]!.join(', ')}`);
        for (const [path, sha] of Object.entries(suite.indexes)) io.out(`  ${path}  sha256 ${sha}`);
        return EXIT.OK;
      }),
  },
  replay: {
    usage: 'replay <pipeline> <ring> [--policy NAME] [--json]',
    summary:
      "when a policy (the ring's, or one of the config's named policies) would have promoted each past release",
    flags: ["--policy   a policy from the config's `policies` (default: the ring's own)"],
    example: 'ringmaster replay foostat prod --policy candidate',
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
  ledger: {
    usage: 'ledger copy --from STORE --to STORE | ledger verify [--store STORE] [--against STORE]',
    summary:
      'copy a ledger between stores (file ↔ postgres), keeping every seq and checksum; check one end to end',
    flags: [
      "--from, --to   stores: postgres://user@host:port/db[?schema=s], file:DIR or a directory, or config (the config's)",
      "--store        the ledger to verify (default: the config's)",
      '--against      verify also that this ledger holds the same records, seq by seq and checksum by checksum',
    ],
    example: 'ringmaster ledger copy --from .ringmaster/ledger --to postgres://ringmaster@db:5432/ringmaster',
    run: async (args, io, cwd) => {
      const [action] = need(args, 1, 'ledger copy|verify');
      const open = (spec: string) => openStore(spec, cwd, flag(args, 'config'));
      const say = (report: VerifyReport, label: string) =>
        report.ok
          ? `${label}: ${report.records} records, seq 1–${report.records}, every seq and checksum checks out${report.first ? ` (${report.first} … ${report.last})` : ''}; pipelines: ${report.pipelines.join(', ') || 'none'}`
          : `${label}: ${report.difference}`;
      if (action === 'verify') {
        const store = await open(flag(args, 'store') ?? 'config');
        const againstSpec = flag(args, 'against');
        const against = againstSpec ? await open(againstSpec) : undefined;
        try {
          const report = await verifyLedger(store.store, against?.store);
          io.out(json(args) ? JSON.stringify({ ledger: store.label, ...report }) : say(report, store.label));
          return report.ok ? EXIT.OK : EXIT.FAILED;
        } finally {
          await store.close();
          await against?.close();
        }
      }
      if (action === 'copy') {
        const fromSpec = flag(args, 'from');
        const toSpec = flag(args, 'to');
        if (!fromSpec || !toSpec)
          throw new RingmasterError('CONFIG', 'usage: ringmaster ledger copy --from STORE --to STORE', {
            scope: 'cli',
          });
        const from = await open(fromSpec);
        try {
          const to = await open(toSpec);
          try {
            const { records, verified } = await copyLedger(from, to);
            if (json(args)) io.out(JSON.stringify({ from: from.label, to: to.label, records, verified }));
            else
              io.out(
                `copied ${records} records from ${from.label} to ${to.label}\n${say(verified, to.label)}`,
              );
            return verified.ok ? EXIT.OK : EXIT.FAILED;
          } finally {
            await to.close();
          }
        } finally {
          await from.close();
        }
      }
      throw new RingmasterError('CONFIG', `ledger: unknown action "${action}"; use copy or verify`, {
        scope: 'cli',
      });
    },
  },
  serve: serveCommand,
  user: userCommand,
};
