/**
 * A ring fed by its own line of development (the seed's ENG on its `eng/` branch): its commits
 * go to that ring only, and mainline releases skip it and flow through the other rings.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  fileStore,
  localRepository,
  localTarget,
  manualClock,
  memorySource,
  pipeline,
  replayPolicy,
  soak,
  tarball,
} from '../src/index.js';
import { closeAfter, tempDir } from './helpers.js';

/** The first commit of each line; eng's may be main's (a branch cut at a commit already seen). */
const MAIN_1 = { files: { app: 'main 1\n' }, message: 'm1', author: 'alice' };
const ENG_1 = { files: { app: 'eng 1\n' }, message: 'e1', author: 'bob' };

async function setup(version: (line: string, n: number) => string, engFirst = ENG_1) {
  const dir = await tempDir();
  const main = memorySource({ line: 'trunk', commits: [MAIN_1] });
  const eng = memorySource({ line: 'eng', commits: [engFirst] });
  const hosts = (ring: string) => localTarget({ root: join(dir, 'hosts', ring), hosts: [`${ring}-1`] });
  const app = pipeline({
    name: 'app',
    source: main,
    packager: tarball({ name: 'app', version: (r) => version(r.line, r.number!) }),
    repository: localRepository({ dir: join(dir, 'repo') }),
    rings: [
      { name: 'eng', target: hosts('eng'), line: eng },
      { name: 'sandbox', target: hosts('sandbox') },
      { name: 'prod', target: hosts('prod') },
    ],
  });
  const engine = closeAfter(
    createEngine({
      pipelines: [app],
      store: fileStore({ dir: join(dir, 'ledger') }),
      clock: manualClock('2026-11-02T09:00:00Z'),
      workDir: join(dir, 'work'),
    }),
  );
  const runs = async () =>
    Promise.all(
      app.rings.map(async (r) => [r.name, (await r.target.installed(`${r.name}-1`, 'app'))?.version]),
    );
  return { main, eng, engine, runs };
}

describe('a ring fed by its own line', () => {
  it('takes only its line, while mainline releases skip it and go on to sandbox and prod', async () => {
    const w = await setup((line, n) => (line === 'eng' ? `2.0.${n}` : `1.0.${n}`));
    await w.engine.tick();
    expect(await w.runs()).toEqual([
      ['eng', '2.0.1'],
      ['sandbox', '1.0.1'],
      ['prod', '1.0.1'],
    ]);
    await w.eng.commit({ app: 'eng 2\n' }, 'e2', 'bob');
    await w.engine.tick();
    expect(await w.runs()).toEqual([
      ['eng', '2.0.2'],
      ['sandbox', '1.0.1'],
      ['prod', '1.0.1'],
    ]);
    await w.main.commit({ app: 'main 2\n' }, 'm2', 'alice');
    await w.engine.tick();
    expect(await w.runs()).toEqual([
      ['eng', '2.0.2'],
      ['sandbox', '1.0.2'],
      ['prod', '1.0.2'],
    ]);
    const p = w.engine.ledger.state.pipelines.get('app')!;
    expect(p.releases.get('2.0.2')?.feed).toBe('eng');
    expect(p.releases.get('1.0.2')?.feed).toBeUndefined();
    expect((await w.engine.explain({ pipeline: 'app', ring: 'eng' })).summary).toContain(
      "from eng's own line",
    );
  });

  it('a line cut at a commit the mainline already has still gets a cursor: every commit on it after that is built', async () => {
    const w = await setup((line, n) => (line === 'eng' ? `2.0.${n}` : `1.0.${n}`), MAIN_1);
    await w.engine.tick();
    const p = () => w.engine.ledger.state.pipelines.get('app')!;
    const [cut] = await w.main.log(undefined);
    expect(await w.eng.head()).toMatchObject({ id: cut!.id }); // one commit, on both lines
    expect(p().feedCursors.get('eng')).toBe(cut!.id);
    // Two commits on eng's line between two polls: both are seen and built, not only the head.
    const e2 = await w.eng.commit({ app: 'eng 2\n' }, 'e2', 'bob');
    const e3 = await w.eng.commit({ app: 'eng 3\n' }, 'e3', 'bob');
    await w.engine.tick();
    expect(p().revisions.has(e2)).toBe(true);
    expect(p().revisions.has(e3)).toBe(true);
    expect([...p().releases.values()].filter((r) => r.feed === 'eng').map((r) => r.version)).toEqual([
      '2.0.2',
      '2.0.3',
    ]);
    // The cut commit was recorded once as a revision, and built once (by the mainline).
    expect([...p().releases.values()].filter((r) => r.revision === cut!.id)).toHaveLength(1);
  });

  it('refuses to build a line whose versions collide with the mainline, saying what to change', async () => {
    const w = await setup((_line, n) => `1.0.${n}`);
    const errors: string[] = [];
    await w.engine.tick();
    const p = w.engine.ledger.state.pipelines.get('app')!;
    for (const entry of p.revisions.values()) if (entry.build?.error) errors.push(entry.build.error);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('version 1.0.1 is already the release of revision');
    expect(errors[0]).toContain('tells the lines apart');
    // The mainline release was built and shipped; the clashing line's build failed alone.
    expect((await w.runs()).slice(1)).toEqual([
      ['sandbox', '1.0.1'],
      ['prod', '1.0.1'],
    ]);
  });

  it("plan sees commits waiting on the ring's own line, and replay reads readiness from the release's line", async () => {
    const w = await setup((line, n) => (line === 'eng' ? `2.0.${n}` : `1.0.${n}`));
    await w.engine.tick();
    await w.eng.commit({ app: 'eng 2\n' }, 'e2 on the eng line', 'bob');
    await w.main.commit({ app: 'main 2\n' }, 'm2 on trunk', 'alice');
    // The plan asks both lines: the mainline commit and the eng line's.
    const plan = await w.engine.plan();
    expect(plan.pipelines[0]!.builds.map((b) => [b.message, b.feed ?? 'mainline'])).toEqual([
      ['m2 on trunk', 'mainline'],
      ['e2 on the eng line', 'eng'],
    ]);
    await w.engine.tick();
    // eng runs its own line's newest and, for a ring fed by its own line, nothing else is coming.
    const eng = await w.engine.explain({ pipeline: 'app', ring: 'eng' });
    expect(eng).toMatchObject({ action: 'idle', current: { version: '2.0.2' } });
    // Mainline rings never wait on eng: sandbox's feeding ring is none (it is the first mainline ring).
    const replayed = replayPolicy({
      policy: soak('1h'),
      history: w.engine,
      pipeline: 'app',
      ring: 'sandbox',
    });
    expect(replayed.map((r) => r.version)).toEqual(['1.0.1', '1.0.2']);
    const own = replayPolicy({ policy: soak('1h'), history: w.engine, pipeline: 'app', ring: 'eng' });
    expect(own.map((r) => r.version)).toEqual(['2.0.1', '2.0.2']);
    const prod = replayPolicy({ policy: soak('1h'), history: w.engine, pipeline: 'app', ring: 'prod' });
    // prod is fed by sandbox: ready when sandbox verified each mainline release.
    const p = w.engine.ledger.state.pipelines.get('app')!;
    expect(prod.map((r) => [r.version, r.readyAt])).toEqual(
      ['1.0.1', '1.0.2'].map((v) => [v, p.releaseRings.get(v)!.get('sandbox')!.verifiedAt]),
    );
  });
});
