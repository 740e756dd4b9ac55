/**
 * Package relations between pipelines, on the engine: a release whose Depends a ring does not
 * meet waits there and says on what; it follows once the ring has what it needs; a rollback that
 * would break what the ring runs is refused; two releases that need each other go in together.
 * The packager here has a toy rule (`name (>= version)` only); the real one (dpkg's rules) is
 * pkg-deb's, tested there and end to end through the CLI with apt.
 */
import { describe, expect, it } from 'vitest';
import { entry, oneAtATime, plainMessage, RingmasterError } from '../src/index.js';
import { project } from './relations-fixture.js';

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: RingmasterError) => e,
  );

/** foo 1.0.2 and bar 1.0.2, each needing the other, built after 1.0.1 of both went everywhere. */
async function needingEachOther() {
  const w = await project({
    fooNeeds: { '1.0.2': ['bar (>= 1.0.2)'] },
    barNeeds: { '1.0.2': ['foo (>= 1.0.2)'] },
  });
  await w.settle();
  await w.bar.source.commit({ 'bar.txt': 'v2\n' }, 'bar two', 'bob');
  await w.foo.source.commit({ 'foo.txt': 'v2\n' }, 'foo two', 'alice');
  await w.settle();
  return w;
}

describe('package relations between pipelines', () => {
  it('foo waits in prod for the bar it needs, says where that bar is, and follows it in', async () => {
    // bar 1.0.1 everywhere; foo 1.0.1 needs bar 1.0.2, which is built next and held before prod.
    const w = await project({ fooNeeds: { '1.0.1': ['bar (>= 1.0.2)'] } });
    await w.engine.load();
    await w.bar.source.commit({ 'bar.txt': 'v2\n' }, 'bar two', 'bob');
    await w.settle();
    // bar 1.0.1 reached prod only by approval; approve it, settle, then bar 1.0.2 waits for one too.
    expect(await w.runs('bar', 'sandbox')).toBe('1.0.2');
    expect(await w.runs('foo', 'sandbox')).toBe('1.0.1');
    const prod = await w.engine.explain({ pipeline: 'foo', ring: 'prod' });
    expect(prod.action).toBe('wait');
    expect(prod.summary).toBe(
      '1.0.1 waits for prod: needs bar (>= 1.0.2); prod has no bar (bar 1.0.2 is verified in eng, sandbox)',
    );
    const plan = await w.engine.plan({ poll: false });
    expect(plan.pipelines.find((p) => p.pipeline === 'foo')!.rings[2]!.reason).toBe(prod.summary);
    // A dry run of promoting it by hand says the promote would be refused, and why.
    const preview = await w.engine.previewRollout({ pipeline: 'foo', ring: 'prod' });
    expect(preview.refused).toBe(
      'foo 1.0.1 cannot go into prod: needs bar (>= 1.0.2); prod has no bar (bar 1.0.2 is verified in eng, sandbox). To go ahead anyway: --force',
    );
    expect(await w.runs('foo', 'prod')).toBeUndefined();

    // bar 1.0.2 is approved into prod: foo follows at the next passes, and each suite change is recorded.
    await w.engine.approve({ pipeline: 'bar', ring: 'prod', release: '1.0.2', by: 'carol' });
    await w.settle();
    expect(await w.runs('bar', 'prod')).toBe('1.0.2');
    expect(await w.runs('foo', 'prod')).toBe('1.0.1');
    expect(w.admitted.filter((a) => a.ring === 'prod')).toEqual([
      { ring: 'prod', artifacts: ['bar 1.0.2'] },
      { ring: 'prod', artifacts: ['foo 1.0.1'] },
    ]);
    const suite = await w.engine.suite({ ring: 'prod' });
    expect(suite?.packages).toEqual({ bar: ['1.0.2'], foo: ['1.0.1'] });
    expect(suite?.pipeline).toBe('foo');
    // Before the first prod rollout, prod's suite listed nothing the ledger knows of.
    expect(await w.engine.suite({ ring: 'prod', at: '2026-11-01T00:00:00Z' })).toBeUndefined();
    expect(w.errors).toEqual([]);
  });

  it('a promote by hand of a release whose needs are unmet is refused with what is missing, unless forced', async () => {
    const w = await project({ fooNeeds: { '1.0.1': ['bar (>= 1.0.2)'] } });
    await w.settle();
    expect(await w.runs('foo', 'eng')).toBeUndefined();
    const refused = await rejection(w.engine.promote({ pipeline: 'foo', ring: 'eng', by: 'alice' }));
    expect(refused.code).toBe('STATE');
    expect(refused.message).toContain(
      'foo 1.0.1 cannot go into eng: needs bar (>= 1.0.2); eng has bar 1.0.1 (no release of bar meets it)',
    );
    const forced = await w.engine.promote({ pipeline: 'foo', ring: 'eng', by: 'alice', force: true });
    expect(forced.outcome).toBe('succeeded');
    expect(await w.runs('foo', 'eng')).toBe('1.0.1');
  });

  it('a rollback of bar under a foo that needs it is refused with the reason, and goes with --force', async () => {
    const w = await project({ fooNeeds: { '1.0.2': ['bar (>= 1.0.2)'] } });
    await w.settle();
    await w.bar.source.commit({ 'bar.txt': 'v2\n' }, 'bar two', 'bob');
    await w.foo.source.commit({ 'foo.txt': 'v2\n' }, 'foo two', 'alice');
    await w.settle();
    expect([await w.runs('bar', 'eng'), await w.runs('foo', 'eng')]).toEqual(['1.0.2', '1.0.2']);
    const refused = await rejection(w.engine.rollback({ pipeline: 'bar', ring: 'eng', by: 'dave' }));
    expect(refused.code).toBe('STATE');
    expect(refused.message).toContain(
      'rolling bar back to 1.0.1 in eng is refused: foo 1.0.2 in eng needs bar (>= 1.0.2). Roll those back first, or force it (--force)',
    );
    expect(await w.runs('bar', 'eng')).toBe('1.0.2');
    const preview = await w.engine.previewRollout({ pipeline: 'bar', ring: 'eng', kind: 'rollback' });
    expect(preview.refused).toBe(plainMessage(refused.message));
    const forced = await w.engine.rollback({ pipeline: 'bar', ring: 'eng', by: 'dave', force: true });
    expect(forced.outcome).toBe('succeeded');
    expect(await w.runs('bar', 'eng')).toBe('1.0.1');
    // The rollback took bar 1.0.2 out of eng's suite: what apt could pick is what eng runs.
    expect((await w.engine.suite({ ring: 'eng' }))?.packages.bar).toEqual(['1.0.1']);
  });

  it('two releases that need each other are blocked, say so, and go in together as one decision', async () => {
    const w = await needingEachOther();
    const foo = await w.engine.explain({ pipeline: 'foo', ring: 'eng' });
    expect(foo.action).toBe('blocked');
    expect(foo.summary).toBe(
      '1.0.2 is blocked for eng: needs bar (>= 1.0.2); eng has bar 1.0.1 (bar 1.0.2 is built, not verified anywhere yet); foo 1.0.2 and bar 1.0.2 need each other: promote them together (ringmaster promote foo eng 1.0.2 --with bar@1.0.2)',
    );
    // Its dry run says the same; with the release it needs named as going in too, it is not refused.
    const alone = await w.engine.previewRollout({ pipeline: 'foo', ring: 'eng', release: '1.0.2' });
    expect(alone.refused).toContain('need each other');
    const paired = await w.engine.previewRollout({
      pipeline: 'foo',
      ring: 'eng',
      release: '1.0.2',
      with: [{ pipeline: 'bar', release: '1.0.2' }],
    });
    expect(paired.refused).toBeUndefined();
    const before = w.admitted.length;
    const done = await w.engine.promote({
      pipeline: 'foo',
      ring: 'eng',
      release: '1.0.2',
      with: [{ pipeline: 'bar', release: '1.0.2' }],
      by: 'alice',
    });
    expect(done.outcome).toBe('succeeded');
    expect([await w.runs('bar', 'eng'), await w.runs('foo', 'eng')]).toEqual(['1.0.2', '1.0.2']);
    // One suite change put both in before the first host; bar's own rollout found them there.
    expect(w.admitted[before]).toEqual({ ring: 'eng', artifacts: ['foo 1.0.2', 'bar 1.0.2'] });
    const together = (await w.engine.ledger.read()).filter((r) => r.type === 'ring.together');
    expect(together.map((r) => r.data)).toEqual(
      ['foo', 'bar'].map((pipeline) => ({
        pipeline,
        ring: 'eng',
        release: '1.0.2',
        members: [
          { pipeline: 'foo', release: '1.0.2' },
          { pipeline: 'bar', release: '1.0.2' },
        ],
        by: 'alice',
      })),
    );
    // Written in one append: nothing between them, and one time.
    expect(together[1]!.seq - together[0]!.seq).toBe(1);
    expect(together[1]!.time).toBe(together[0]!.time);
    expect(w.errors).toEqual([]);
  });

  it('three releases whose needs go round are blocked and named together; a chain of needs is not', async () => {
    const cycle = await project({
      fooNeeds: { '1.0.2': ['bar (>= 1.0.2)'] },
      barNeeds: { '1.0.2': ['baz (>= 1.0.2)'] },
      bazNeeds: { '1.0.2': ['foo (>= 1.0.2)'] },
    });
    await cycle.settle();
    for (const p of [cycle.baz!, cycle.bar, cycle.foo])
      await p.source.commit({ 'x.txt': 'v2\n' }, 'two', 'alice');
    await cycle.settle();
    const foo = await cycle.engine.explain({ pipeline: 'foo', ring: 'eng' });
    expect(foo.action).toBe('blocked');
    expect(foo.summary).toContain(
      'foo 1.0.2 and bar 1.0.2 and baz 1.0.2 need each other: promote them together (ringmaster promote foo eng 1.0.2 --with bar@1.0.2 --with baz@1.0.2)',
    );
    const done = await cycle.engine.promote({
      pipeline: 'foo',
      ring: 'eng',
      release: '1.0.2',
      with: [
        { pipeline: 'bar', release: '1.0.2' },
        { pipeline: 'baz', release: '1.0.2' },
      ],
    });
    expect([done.outcome, ...(done.together ?? []).map((t) => `${t.pipeline} ${t.outcome}`)]).toEqual([
      'succeeded',
      'bar succeeded',
      'baz succeeded',
    ]);

    // foo needs bar, bar needs baz, baz needs nothing: baz goes first, then bar, then foo.
    const chain = await project({
      fooNeeds: { '1.0.2': ['bar (>= 1.0.2)'] },
      barNeeds: { '1.0.2': ['baz (>= 1.0.2)'] },
      bazNeeds: {},
    });
    await chain.settle();
    for (const p of [chain.foo, chain.bar, chain.baz!])
      await p.source.commit({ 'x.txt': 'v2\n' }, 'two', 'alice');
    await chain.settle();
    expect([
      await chain.runs('baz', 'eng'),
      await chain.runs('bar', 'eng'),
      await chain.runs('foo', 'eng'),
    ]).toEqual(['1.0.2', '1.0.2', '1.0.2']);
  });

  it('a --with whose companion cannot go in (locked) is refused before anything is written', async () => {
    const w = await needingEachOther();
    await w.engine.lock({ pipeline: 'bar', ring: 'eng', reason: 'incident 7', by: 'dave' });
    const records = (await w.engine.ledger.read()).length;
    const refused = await rejection(
      w.engine.promote({
        pipeline: 'foo',
        ring: 'eng',
        release: '1.0.2',
        with: [{ pipeline: 'bar', release: '1.0.2' }],
        by: 'alice',
      }),
    );
    expect(refused.code).toBe('LOCKED');
    expect(refused.message).toContain('bar/eng is locked by dave');
    expect((await w.engine.ledger.read()).length).toBe(records);
    expect(await w.runs('foo', 'eng')).toBe('1.0.1');
  });

  for (const onFailure of ['rollback', 'halt'] as const)
    it(`a deploy that fails (${onFailure}) leaves the ring's suite listing what the ring runs`, async () => {
      const w = await project({ fooNeeds: {}, barFailsAt: '1.0.2', onFailure });
      await w.settle();
      expect((await w.engine.suite({ ring: 'eng' }))?.packages.bar).toEqual(['1.0.1']);
      await w.bar.source.commit({ 'bar.txt': 'v2\n' }, 'bar two', 'bob');
      await w.settle();
      expect(await w.runs('bar', 'eng')).toBe('1.0.1');
      // Put in before the first host, taken out again once the deploy failed.
      expect(w.admitted.filter((a) => a.ring === 'eng').map((a) => a.artifacts)).toEqual([
        ['bar 1.0.1'],
        ['foo 1.0.1'],
        ['bar 1.0.2'],
        ['bar 1.0.1'],
      ]);
      expect((await w.engine.suite({ ring: 'eng' }))?.packages.bar).toEqual(['1.0.1']);
    });

  for (const died of ['before its suite.updated', 'after its suite.updated'] as const)
    it(`a rollout a runner left ${died} admits its release once, then goes on`, async () => {
      // bar 1.0.2 is built (eng is locked meanwhile); a dead runner started its eng rollout.
      const w = await project({ fooNeeds: {} });
      await w.settle();
      await w.engine.lock({ pipeline: 'bar', ring: 'eng', reason: 'hold', by: 'dave' });
      await w.bar.source.commit({ 'bar.txt': 'v2\n' }, 'bar two', 'bob');
      await w.settle();
      await w.engine.unlock({ pipeline: 'bar', ring: 'eng', by: 'dave' });
      const strategy = oneAtATime();
      await w.engine.ledger.write(
        entry('rollout.started', {
          pipeline: 'bar',
          ring: 'eng',
          rollout: 'eng#2',
          release: '1.0.2',
          kind: 'deploy',
          reason: 'a runner that died',
          strategy,
          batches: [['eng-1']],
        }),
      );
      // It had admitted the release; it may or may not have recorded that before it died.
      const bar = w.engine.ledger.state.pipelines.get('bar')!.releases.get('1.0.2')!;
      await w.engine.pipelines.get('bar')!.repository.admit!('eng', [bar.artifact]);
      if (died === 'after its suite.updated')
        await w.engine.ledger.write(
          entry('suite.updated', {
            pipeline: 'bar',
            ring: 'eng',
            rollout: 'eng#2',
            suite: 'eng',
            packages: { bar: ['1.0.1', '1.0.2'], foo: ['1.0.1'] },
            indexes: {},
          }),
        );
      const before = w.admitted.length;
      await w.settle();
      expect(await w.runs('bar', 'eng')).toBe('1.0.2');
      // Asked again only when nothing recorded it (admitting is idempotent); recorded once either way.
      const again = w.admitted.slice(before).filter((a) => a.ring === 'eng');
      expect(again).toEqual(
        died === 'before its suite.updated' ? [{ ring: 'eng', artifacts: ['bar 1.0.2'] }] : [],
      );
      const updates = (await w.engine.ledger.read()).filter(
        (r) => r.type === 'suite.updated' && (r.data as { rollout: string }).rollout === 'eng#2',
      );
      expect(updates.filter((r) => (r.data as { pipeline: string }).pipeline === 'bar')).toHaveLength(1);
    });

  it("a suite that cannot be changed now (the repository's lock is held) parks the rollout, which goes on later", async () => {
    const w = await project({ fooNeeds: {} });
    w.failing.next.push(
      new RingmasterError('LOCKED', 'another publisher holds /srv/apt/.ringmaster/lock (pid 4242)', {
        scope: 'pkg-deb',
      }),
    );
    await w.engine.tick();
    const parked = (await w.engine.ledger.read()).find((r) => r.type === 'rollout.parked');
    expect((parked!.data as { reason: string }).reason).toBe(
      "cannot put bar 1.0.1 into eng's suite: another publisher holds /srv/apt/.ringmaster/lock (pid 4242); nothing was installed, tried again at the next pass",
    );
    expect(w.errors.some((e) => e.includes('another publisher holds'))).toBe(true);
    expect(await w.runs('bar', 'eng')).toBeUndefined();
    await w.settle();
    expect(await w.runs('bar', 'eng')).toBe('1.0.1');
    // A failure that will not pass by itself (an unpublished artifact) fails the rollout instead.
    w.failing.next.push(
      new RingmasterError('REPOSITORY', 'bar 1.0.2 is not published', { scope: 'pkg-deb' }),
    );
    await w.bar.source.commit({ 'bar.txt': 'v2\n' }, 'bar two', 'bob');
    await w.settle();
    const failed = (await w.engine.explain({ pipeline: 'bar', ring: 'eng' })).lastFailure;
    expect(failed?.reason).toContain(
      "cannot put bar 1.0.2 into eng's suite: bar 1.0.2 is not published; nothing was installed",
    );
    expect(await w.runs('bar', 'eng')).toBe('1.0.1');
  });

  it('a relation that does not parse blocks the ring and names the pipeline, package and entry', async () => {
    const w = await project({ fooNeeds: { '1.0.1': ['bar (> 1.0.1)'] } });
    await w.settle();
    const eng = await w.engine.explain({ pipeline: 'foo', ring: 'eng' });
    expect(eng.action).toBe('blocked');
    expect(eng.summary).toContain('pipeline foo: the relations of foo 1.0.1 cannot be checked for eng');
    expect(eng.summary).toContain('Depends entry "bar (> 1.0.1)" does not parse');
    expect(await w.runs('foo', 'eng')).toBeUndefined();
  });
});
