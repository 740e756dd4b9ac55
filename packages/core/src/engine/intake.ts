/**
 * The intake of a pipeline: poll the source (keeping the cursor in the ledger, recovering when
 * history was rewritten under it), read deploy requests as approvals, and build every new
 * revision in a fresh checkout into a published release.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Artifact } from '../contracts/artifact.js';
import type { DeployRequest, Revision, Source } from '../contracts/source.js';
import { isRingmasterError, RingmasterError } from '../errors.js';
import { entry } from '../ledger/ledger.js';
import type { PipelineState } from '../ledger/state.js';
import { runBuild } from '../model/build.js';
import type { Pipeline } from '../model/pipeline.js';
import { notice } from './notify.js';
import { buildDir, processRecorder } from './processes.js';
import type { Runtime } from './runtime.js';

/** One line of development the intake watches: the mainline, or a ring's own line (`feed`). */
export interface Line {
  source: Source;
  /** The last revision seen on it. */
  cursor: string | undefined;
  /** The ring fed by this line; absent for the mainline. */
  feed?: string;
}

/** Every line the intake polls for a pipeline: the mainline, then each ring's own line. */
export function linesOf(pipeline: Pipeline, p: PipelineState): Line[] {
  return [
    { source: pipeline.source, cursor: p.cursor },
    ...pipeline.rings.flatMap((ring) =>
      ring.line ? [{ source: ring.line, cursor: p.feedCursors.get(ring.name), feed: ring.name }] : [],
    ),
  ];
}

export class Intake {
  constructor(private readonly rt: Runtime) {}

  /** Polls the pipeline's mainline, and the own line of each ring that has one. */
  async poll(pipeline: Pipeline): Promise<void> {
    for (const line of linesOf(pipeline, this.rt.state(pipeline.name)))
      await this.pollLine(pipeline, line.source, line.cursor, line.feed);
  }

  private async pollLine(
    pipeline: Pipeline,
    source: Source,
    cursor: string | undefined,
    feed?: string,
  ): Promise<void> {
    const p = this.rt.state(pipeline.name);
    const of = feed ? { feed } : {};
    let revisions: Revision[];
    try {
      revisions = await source.log(cursor);
    } catch (error) {
      if (!isRingmasterError(error, 'CURSOR_LOST') || cursor === undefined) throw error;
      // History was rewritten under the cursor: start again from the head, without rebuilding the past.
      const head = await source.head();
      await this.rt.ledger.write(
        entry('source.reset', {
          pipeline: pipeline.name,
          from: cursor,
          to: head.id,
          reason: error.message,
          ...of,
        }),
        ...(p.revisions.has(head.id)
          ? []
          : [entry('revision.seen', { pipeline: pipeline.name, revision: head, ...of })]),
      );
      return;
    }
    const fresh = revisions.filter((r) => !p.revisions.has(r.id));
    // The newest revision moves the line's cursor even when it is known already (a ring's line cut
    // at a commit the mainline had): a line left without a cursor is read from its head each poll,
    // and commits pushed two at a time would be skipped.
    const last = revisions.at(-1);
    const seen = last && !fresh.includes(last) && cursor !== last.id ? [...fresh, last] : fresh;
    if (seen.length) {
      await this.rt.ledger.write(
        ...seen.map((revision) =>
          entry('revision.seen', {
            pipeline: pipeline.name,
            revision,
            ...of,
            ...(revision === last && !fresh.includes(last) ? { known: true as const } : {}),
          }),
        ),
      );
    }
  }

  async pollDeployRequests(pipeline: Pipeline): Promise<void> {
    if (!pipeline.source.deployRequests) return;
    const p = this.rt.state(pipeline.name);
    let requests: DeployRequest[];
    let reset: { from: string; to?: string; reason: string } | undefined;
    try {
      requests = await pipeline.source.deployRequests(p.requestCursor);
    } catch (error) {
      if (!isRingmasterError(error, 'CURSOR_LOST') || p.requestCursor === undefined) throw error;
      // The request the cursor named is gone (a deleted tag): read them all again and take the
      // ones not seen yet, so none is taken twice and none after it is lost; then the cursor moves
      // to the newest (after them: a crash meanwhile leaves it on the last one taken).
      const all = await pipeline.source.deployRequests(undefined);
      requests = unseenRequests(p, all);
      const to = all.at(-1)?.id;
      reset = { from: p.requestCursor, ...(to ? { to } : {}), reason: error.message };
    }
    for (const request of requests) {
      const known = pipeline.rings.some((r) => r.name === request.ring);
      await this.rt.ledger.write(
        entry('deploy-request.seen', { pipeline: pipeline.name, request }),
        ...(known
          ? [
              entry('approval.recorded', {
                pipeline: pipeline.name,
                ring: request.ring,
                revision: request.revision,
                by: request.author,
                via: 'vcs' as const,
                comment: request.message,
              }),
            ]
          : []),
      );
      if (!known) {
        this.rt.emit('error', {
          pipeline: pipeline.name,
          operation: 'deploy requests',
          error: new RingmasterError(
            'NOT_FOUND',
            `deploy request ${request.name} names unknown ring "${request.ring}"; ignored`,
            {
              scope: 'engine',
            },
          ),
        });
      }
    }
    if (reset)
      await this.rt.ledger.write(entry('deploy-requests.reset', { pipeline: pipeline.name, ...reset }));
  }

  async buildPending(pipeline: Pipeline): Promise<void> {
    const p = this.rt.state(pipeline.name);
    for (const id of [...p.pending]) {
      if (this.rt.signal.aborted) return;
      const seen = p.revisions.get(id)!;
      await this.buildRevision(pipeline, seen.revision, seen.feed);
    }
  }

  async buildRevision(pipeline: Pipeline, revision: Revision, feed?: string): Promise<void> {
    const source = (feed ? pipeline.rings.find((r) => r.name === feed)?.line : undefined) ?? pipeline.source;
    const name = pipeline.name;
    const attempt = (this.rt.state(name).revisions.get(revision.id)?.build?.attempts ?? 0) + 1;
    await this.rt.ledger.write(entry('build.started', { pipeline: name, revision: revision.id, attempt }));
    // Each attempt in a directory of its own: a straggler of an earlier one never writes into it.
    const dir = buildDir(this.rt.workDir, name, revision.id, attempt);
    const outDir = join(this.rt.workDir, name, 'artifacts');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const record = processRecorder((e) => this.rt.ledger.write(e), name, {
      kind: 'build',
      revision: revision.id,
      attempt,
    });
    let ok = false;
    let log = '';
    let error: string | undefined;
    let artifact: Artifact | undefined;
    const started = performance.now();
    try {
      // Two lines (the mainline and a ring's own) must never share a version: the repository
      // would hand out one line's package for the other's.
      const version = pipeline.packager.versionFor(revision);
      const clash = this.rt.state(name).releases.get(version);
      if (clash && clash.revision !== revision.id) {
        throw new RingmasterError(
          'BUILD',
          `version ${version} is already the release of revision ${clash.revision}${clash.feed ? ` (${clash.feed}'s line)` : ''}; give the packager a version that tells the lines apart, e.g. one that includes the revision id`,
          { scope: 'engine' },
        );
      }
      await source.checkout(revision.id, dir);
      const result = await runBuild(pipeline.build, dir, revision, name, this.rt.signal, {
        attempt,
        beforeStart: record,
      });
      log = result.log;
      error = result.error;
      if (result.ok) {
        artifact = await this.packageAndPublish(pipeline, revision, result.outputDir, outDir);
        ok = true;
      }
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      log += `\n${error}`;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Stopped by us (the engine stopping, a lost lease) is not the build's verdict: nothing is
    // recorded, and the next start builds the revision again, as after a crash.
    if (!ok && this.rt.signal.aborted) return;
    const p = this.rt.state(name);
    const version = artifact?.version;
    await this.rt.ledger.write(
      entry('build.finished', {
        pipeline: name,
        revision: revision.id,
        ok,
        log,
        durationMs: Math.round(performance.now() - started),
        ...(error ? { error } : {}),
      }),
      ...(artifact && !p.releases.has(artifact.version)
        ? [
            entry('release.created', {
              pipeline: name,
              release: artifact.version,
              version: artifact.version,
              revision: revision.id,
              author: revision.author,
              ...(revision.email ? { email: revision.email } : {}),
              message: revision.message,
              artifact,
              ...(feed ? { feed } : {}),
            }),
          ]
        : []),
      notice(
        pipeline,
        {
          kind: 'build',
          pipeline: name,
          ok,
          summary: ok
            ? `build of ${revision.id.slice(0, 12)} passed: release ${version}`
            : `build of ${revision.id.slice(0, 12)} failed: ${error}`,
          author: revision.author,
          revision: revision.id,
          ...(version ? { release: version } : {}),
          ...(ok ? {} : { log: this.rt.mask.mask(log).slice(-4000) }),
        },
        revision.email,
      ),
    );
  }

  async packageAndPublish(
    pipeline: Pipeline,
    revision: Revision,
    tree: string,
    outDir: string,
  ): Promise<Artifact> {
    const artifact = await pipeline.packager.package({ dir: tree, revision, outDir });
    try {
      return await pipeline.repository.publish(artifact);
    } catch (error) {
      // Rebuilt after a crash with different bytes: the copy already published is the release.
      const stored = isRingmasterError(error, 'REPOSITORY')
        ? await pipeline.repository.find(artifact.name, artifact.version)
        : undefined;
      if (stored) return stored;
      throw error;
    }
  }
}

/**
 * The requests of a full read not taken yet: a request counts as taken when one of the same id
 * for the same revision was seen (a tag made again under its name for another commit is new).
 */
export function unseenRequests(p: PipelineState, all: readonly DeployRequest[]): DeployRequest[] {
  return all.filter((r) => p.requestsSeen.get(r.id) !== r.revision);
}
