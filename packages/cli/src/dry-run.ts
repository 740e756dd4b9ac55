/**
 * Dry runs: `plan --hosts`, `deploy|promote … --dry-run` and `rollback … --dry-run` print the
 * rollout the command would start — host by host and step by step, from which version to which,
 * its pauses and gates, the commits it adds and removes — and do nothing: the engine's
 * `previewRollout` reads the ledger and the source, takes no lease and writes no record.
 */
import {
  type Commit,
  eligibleReleases,
  formatDuration,
  type Plan,
  type PreviewStep,
  pipelineState,
  RingmasterError,
  type RolloutPreview,
} from '@ringmaster/core';
import type { LoadedProject } from './config.js';
import { EXIT, type Io } from './output.js';

/** Said last, so nobody reading the output at 3 a.m. wonders whether it ran. */
export const NOTHING_WRITTEN = '  nothing was written (dry run)';

/** At most this many commits a side in text (`--json` has them all). */
const COMMITS_SHOWN = 30;

/**
 * A line of someone else's text (a commit message, an author, a source's error) safe for a
 * terminal: its first line only, with control and format characters (escapes, bidi overrides)
 * taken out.
 */
export function oneLine(text: string): string {
  return (text.split(/\r\n|\r|\n/)[0] ?? '').replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, '').trim();
}

function commitLine(sign: '+' | '-', c: Commit): string {
  return `    ${sign} ${oneLine(c.id).slice(0, 7)} ${oneLine(c.author)}: ${oneLine(c.message)}`;
}

/** The preview as a person reads it; see the README's example. */
export function formatPreview(preview: RolloutPreview): string[] {
  const where = `${preview.pipeline}/${preview.ring}`;
  const what = preview.kind === 'rollback' ? `rollback to ${preview.version}` : `deploy ${preview.version}`;
  const runs = preview.from ? `runs ${preview.from.version} now` : 'runs nothing yet';
  const lines = [
    `${where}: ${what}${preview.limit ? ` on ${preview.limit.join(', ')} only` : ''} (${runs}) — ${preview.strategy}`,
  ];
  if (preview.frozen)
    lines.push(`  frozen: ${oneLine(preview.frozen)} — it would be refused without --break-glass --reason`);
  if (preview.refused) lines.push(`  refused: ${oneLine(preview.refused)}`);
  const labelWidth = Math.max(4, ...preview.steps.map((s) => `step ${s.step}`.length));
  const label = (text: string) => `  ${text.padEnd(labelWidth)}  `;
  const nameWidth = Math.max(0, ...preview.steps.flatMap((s) => s.hosts ?? []).map((h) => h.name.length));
  const resume = `ringmaster resume ${preview.pipeline} ${preview.ring}`;
  const gates = (names: readonly string[]) => (names.length ? `gates ${names.join(', ')}` : 'no gates');
  const body = (s: PreviewStep): string[] => {
    if (s.kind === 'pause')
      return [
        s.pause === 'manual'
          ? `pause: waits for a person (${resume})`
          : `pause: waits ${formatDuration(s.pause ?? 0)} (or ${resume} sooner)`,
      ];
    if (s.kind === 'verify') return [`verify: ${gates(s.gates ?? [])}`];
    const head = `batch ${s.batch}: `;
    return (s.hosts ?? []).map(
      (h, i) => `${i === 0 ? head : ' '.repeat(head.length)}${h.name.padEnd(nameWidth)}  ${h.from} → ${h.to}`,
    );
  };
  const once = preview.once;
  if (once?.before?.length)
    lines.push(`${label('before')}${once.before.join(', ')} (once, before the first host)`);
  for (const s of preview.steps) {
    const [first, ...rest] = body(s);
    lines.push(`${label(`step ${s.step}`)}${first ?? ''}`);
    for (const more of rest) lines.push(`${' '.repeat(label('').length)}${more}`);
  }
  if (once?.after?.length)
    lines.push(`${label('after')}${once.after.join(', ')} (once, after the last host)`);
  if (once?.down?.length) lines.push(`${label('undo')}${once.down.join(', ')} (their down steps)`);
  if (once?.notUndone?.length)
    lines.push(`${label('kept')}${once.notUndone.join(', ')}: not undone by a rollback (no down step)`);
  lines.push(
    `${label('then')}${
      preview.finalGates.length
        ? gates(preview.finalGates)
        : preview.limit
          ? `no gates: named hosts only, ${preview.ring}'s own release is unchanged`
          : preview.kind === 'rollback'
            ? 'no gates (a rollback runs none)'
            : 'no gates: verified once the rollout succeeds'
    }`,
  );
  const { added, removed, from, note } = preview.commits;
  const counts = added.length || removed.length ? `${added.length} added, ${removed.length} removed` : 'none';
  lines.push(`  commits (from the ${from}): ${counts}`);
  if (note) lines.push(`    (${oneLine(note)})`);
  for (const [sign, list] of [
    ['+', added],
    ['-', removed],
  ] as const) {
    for (const c of list.slice(0, COMMITS_SHOWN)) lines.push(commitLine(sign, c));
    if (list.length > COMMITS_SHOWN)
      lines.push(`    … and ${list.length - COMMITS_SHOWN} more (--json lists every one)`);
  }
  return lines;
}

/**
 * Prints previews: `document` as one JSON document, or each preview as text (after a blank line
 * when `spaced`, under a plan) and the last word.
 */
function print(io: Io, asJson: boolean, previews: RolloutPreview[], document: unknown, spaced = false): void {
  if (asJson) {
    io.out(JSON.stringify(document, null, 2));
    return;
  }
  for (const p of previews) {
    if (spaced) io.out('');
    for (const line of formatPreview(p)) io.out(line);
  }
  io.out(NOTHING_WRITTEN);
}

/**
 * `deploy|promote <pipeline> <ring> [release] --dry-run`: the rollout the command would start.
 * Without a release, promote's own choice: the newest release ready for the ring (its policy
 * bypassed); refused as the command would be (a lock, a pin, a rollout in flight).
 */
export async function dryRunDeploy(
  project: LoadedProject,
  io: Io,
  asJson: boolean,
  input: {
    pipeline: string;
    ring: string;
    release?: string;
    limit?: string;
    with?: { pipeline: string; release: string }[];
    force?: boolean;
  },
): Promise<number> {
  let release = input.release;
  const pipeline = project.engine.pipelines.get(input.pipeline);
  const index = pipeline?.rings.findIndex((r) => r.name === input.ring) ?? -1;
  if (!release && pipeline && index >= 0) {
    await project.engine.load();
    release = eligibleReleases(pipeline, pipelineState(project.engine.ledger.state, pipeline.name), index)[0]
      ?.release.id;
  }
  const preview = await project.engine.previewRollout({
    pipeline: input.pipeline,
    ring: input.ring,
    ...(release ? { release } : {}),
    ...(input.limit !== undefined ? { limit: input.limit } : {}),
    ...(input.with?.length ? { with: input.with } : {}),
    ...(input.force ? { force: true } : {}),
  });
  print(io, asJson, [preview], preview);
  return EXIT.OK;
}

/** `rollback <pipeline> <ring> [--to R] --dry-run`: the rollback the command would start. */
export async function dryRunRollback(
  project: LoadedProject,
  io: Io,
  asJson: boolean,
  input: { pipeline: string; ring: string; to?: string; limit?: string },
): Promise<number> {
  const preview = await project.engine.previewRollout({
    pipeline: input.pipeline,
    ring: input.ring,
    kind: 'rollback',
    ...(input.to ? { release: input.to } : {}),
    ...(input.limit !== undefined ? { limit: input.limit } : {}),
  });
  print(io, asJson, [preview], preview);
  return EXIT.OK;
}

/** The plan with only `pipeline` (and its `ring`) in it; NOT_FOUND for a name it does not have. */
export function planFor(plan: Plan, pipeline?: string, ring?: string): Plan {
  if (pipeline === undefined) return plan;
  const p = plan.pipelines.find((x) => x.pipeline === pipeline);
  if (!p)
    throw new RingmasterError(
      'NOT_FOUND',
      `no pipeline "${pipeline}"; known: ${plan.pipelines.map((x) => x.pipeline).join(', ')}`,
      { scope: 'cli' },
    );
  if (ring !== undefined && !p.rings.some((r) => r.ring === ring))
    throw new RingmasterError(
      'NOT_FOUND',
      `pipeline ${pipeline} has no ring "${ring}"; its rings are ${p.rings.map((r) => r.ring).join(', ')}`,
      { scope: 'cli' },
    );
  return {
    ...plan,
    pipelines: [{ ...p, rings: ring === undefined ? p.rings : p.rings.filter((r) => r.ring === ring) }],
  };
}

/**
 * `plan --hosts`: after the plan, the rollout of every ring whose action has a candidate
 * (promote, wait, blocked) drawn host by host — what the next pass would roll out once its
 * policy lets it.
 */
export async function planPreviews(project: LoadedProject, plan: Plan): Promise<RolloutPreview[]> {
  const previews: RolloutPreview[] = [];
  for (const p of plan.pipelines)
    for (const r of p.rings)
      if ((r.action === 'promote' || r.action === 'wait' || r.action === 'blocked') && r.release)
        previews.push(
          await project.engine.previewRollout({ pipeline: p.pipeline, ring: r.ring, release: r.release }),
        );
  return previews;
}

/** Prints `plan --hosts`: the plan, then the previews (`--json`: the plan with `previews`). */
export function printPlanWithHosts(
  io: Io,
  asJson: boolean,
  plan: Plan,
  formatted: string,
  previews: RolloutPreview[],
): void {
  if (asJson) {
    print(io, true, previews, { ...plan, previews });
    return;
  }
  io.out(formatted);
  if (!previews.length) io.out('  rollouts: none to draw (no ring has a release to take)');
  print(io, false, previews, undefined, true);
}
