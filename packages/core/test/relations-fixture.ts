/**
 * Two (or three) pipelines whose releases declare package relations, on one engine: bar and
 * foo (and baz), local hosts in eng, sandbox and prod, a repository that keeps a suite per ring
 * in memory and counts each change. The packager has a toy rule (`name (>= version)` only):
 * the engine's side of relations is what this exercises; dpkg's rules are pkg-deb's.
 */
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { Artifact, Packager, RelationProblem, Repository, SuiteListing } from '../src/adapter.js';
import {
  auto,
  compareDotted,
  createEngine,
  type Engine,
  fileStore,
  localRepository,
  localTarget,
  manual,
  manualClock,
  memorySource,
  oneAtATime,
  pipeline,
  tarball,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
});

/** A tarball packager whose releases declare `Depends` from `needs` (by version). */
function relatedPackager(name: string, needs: Record<string, string[]>): Packager {
  const base = tarball({ name });
  const parse = (entry: string) => {
    const m = /^([a-z0-9.+-]+) \(>= ([0-9.]+)\)$/.exec(entry);
    if (!m) throw new Error(`${name}: Depends entry "${entry}" does not parse`);
    return { name: m[1]!, version: m[2]! };
  };
  return {
    ...base,
    async package(input) {
      const artifact = await base.package(input);
      const depends = needs[artifact.version] ?? [];
      return { ...artifact, dependencies: depends, relations: { depends } };
    },
    relationProblems({ subject, set, managed }) {
      const all = [...set.filter((a) => a.name !== subject.name), subject];
      const problems: RelationProblem[] = [];
      for (const a of all) {
        for (const relation of a.relations?.depends ?? []) {
          const want = parse(relation);
          if (!managed.has(want.name)) continue;
          if (a !== subject && want.name !== subject.name) continue;
          const found = all.filter((x) => x.name === want.name);
          if (found.some((f) => compareDotted(f.version, want.version) >= 0)) continue;
          problems.push({
            package: a.name,
            version: a.version,
            field: 'Depends',
            relation,
            names: [want.name],
            found: found.map((f) => ({ name: f.name, version: f.version })),
            message: `${a.name} ${a.version} needs ${relation}`,
          });
        }
      }
      return problems;
    },
  };
}

/** A local repository that keeps a suite per ring in memory, and counts each change. */
function suitedRepository(dir: string, failing: { next: Error[] } = { next: [] }) {
  const repo = localRepository({ dir });
  const suites = new Map<string, Map<string, string[]>>();
  const admitted: { ring: string; artifacts: string[] }[] = [];
  const listing = (ring: string): SuiteListing => ({
    ring,
    suite: ring,
    packages: Object.fromEntries(suites.get(ring) ?? []),
    indexes: { 'main/binary-amd64/Packages': `hash-${admitted.length}` },
  });
  const suited: Repository = {
    ...repo,
    publish: (a) => repo.publish(a),
    versions: (n) => repo.versions(n),
    find: (n, v) => repo.find(n, v),
    async admit(ring: string, artifacts: readonly Artifact[]) {
      const failure = failing.next.shift();
      if (failure) throw failure;
      admitted.push({ ring, artifacts: artifacts.map((a) => `${a.name} ${a.version}`) });
      const suite = suites.get(ring) ?? new Map<string, string[]>();
      for (const a of artifacts) {
        const kept = (suite.get(a.name) ?? []).filter((v) => compareDotted(v, a.version) < 0);
        suite.set(a.name, [...kept.slice(-2), a.version]);
      }
      suites.set(ring, suite);
      return listing(ring);
    },
    async suite(ring: string) {
      return listing(ring);
    },
  };
  return { repository: suited, admitted, failing };
}

export async function project(options: {
  fooNeeds: Record<string, string[]>;
  barNeeds?: Record<string, string[]>;
  /** A third pipeline, baz, with these needs (listed first). */
  bazNeeds?: Record<string, string[]>;
  /** bar's install of this version fails on every host. */
  barFailsAt?: string;
  onFailure?: 'halt' | 'rollback';
}) {
  const dir = await tempDir('rm-relations-');
  const clock = manualClock('2026-11-02T09:00:00Z');
  const repo = suitedRepository(join(dir, 'repo'));
  const make = (name: string, needs: Record<string, string[]>) => {
    const source = memorySource({
      commits: [{ files: { [`${name}.txt`]: 'v1\n' }, message: 'first', author: 'alice' }],
    });
    const p = pipeline({
      name,
      source,
      packager: relatedPackager(name, needs),
      repository: repo.repository,
      rings: (['eng', 'sandbox', 'prod'] as const).map((ring) => {
        const target = localTarget({ root: join(dir, 'hosts', ring), hosts: [`${ring}-1`] });
        const install = target.install.bind(target);
        if (name === 'bar' && options.barFailsAt)
          target.install = async (host, artifact, opts) => {
            if (artifact.version === options.barFailsAt) throw new Error(`disk on ${host} is read-only`);
            return install(host, artifact, opts);
          };
        return {
          name: ring,
          target,
          policy: ring === 'prod' && name === 'bar' ? manual() : auto(),
          ...(options.onFailure ? { rollout: oneAtATime({ onFailure: options.onFailure }) } : {}),
        };
      }),
    });
    return { p, source };
  };
  const baz = options.bazNeeds ? make('baz', options.bazNeeds) : undefined;
  const bar = make('bar', options.barNeeds ?? {});
  const foo = make('foo', options.fooNeeds);
  const engine = createEngine({
    pipelines: [...(baz ? [baz.p] : []), bar.p, foo.p],
    store: fileStore({ dir: join(dir, 'ledger') }),
    clock,
    workDir: join(dir, 'work'),
  });
  engines.push(engine);
  const errors: string[] = [];
  engine.on('error', (e) => errors.push(`${e.operation}: ${e.error.message}`));
  /** Ticks until a pass changes nothing (bounded). */
  const settle = async () => {
    for (let i = 0; i < 20; i++) {
      const before = engine.ledger.state.lastSeq;
      await engine.tick();
      if (engine.ledger.state.lastSeq === before) return;
    }
    throw new Error('the engine did not settle in 20 passes');
  };
  const runs = async (name: string, ring: string) =>
    (await engine.status()).pipelines.find((p) => p.name === name)!.rings.find((r) => r.name === ring)!
      .version;
  return { engine, bar, foo, baz, settle, runs, admitted: repo.admitted, failing: repo.failing, errors };
}
