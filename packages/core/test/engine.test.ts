import { describe, expect, it } from 'vitest';
import { all, freeze, isRingmasterError, manual, soak } from '../src/index.js';
import { world } from './helpers.js';

describe('engine: a release trickles down the rings', () => {
  it('builds the head, rolls it out to eng, sandbox and prod, and every host runs it', async () => {
    const w = await world();
    await w.engine.tick();
    expect(w.errors).toEqual([]);
    for (const ring of ['eng', 'sandbox', 'prod']) expect(await w.versions(ring)).toEqual(['1.0.1', '1.0.1']);
    const status = await w.engine.status({ live: true });
    expect(
      status.pipelines[0]!.rings.map((r) => [r.name, r.version, r.hosts.every((h) => !h.drift)]),
    ).toEqual([
      ['eng', '1.0.1', true],
      ['sandbox', '1.0.1', true],
      ['prod', '1.0.1', true],
    ]);
    expect(w.notes.some((n) => n.startsWith('ok build of'))).toBe(true);
  });

  it('a new commit replaces the release everywhere and the ring remembers what it ran before', async () => {
    const w = await world();
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second', 'bob');
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.2', '1.0.2']);
    const ring = w.engine.ledger.state.pipelines.get('app')!.rings.get('prod')!;
    expect(ring.current).toBe('1.0.2');
    expect(ring.history).toEqual(['1.0.1']);
  });

  it('manual approval holds prod until someone approves, and explain says so', async () => {
    const w = await world({ policies: { prod: manual() } });
    await w.engine.tick();
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1']);
    expect(await w.versions('prod')).toEqual([undefined, undefined]);
    const why = await w.engine.explain({ pipeline: 'app', ring: 'prod' });
    expect(why.action).toBe('wait');
    expect(why.summary).toContain('waiting for 1 more approval');
    // alice committed it: her own approval would never count, so it is refused at the door.
    const seq = w.engine.ledger.state.lastSeq;
    const self = await w.engine
      .approve({ pipeline: 'app', ring: 'prod', release: '1.0.1', by: 'alice' })
      .catch((e: unknown) => e);
    expect(isRingmasterError(self, 'POLICY')).toBe(true);
    expect((self as Error).message).toContain('alice committed 1.0.1');
    expect((self as Error).message).toContain('ask someone else');
    expect(w.engine.ledger.state.lastSeq).toBe(seq);
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual([undefined, undefined]);
    await w.engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.1', by: 'carol' });
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
  });

  it('soak time waits on the injected clock', async () => {
    const w = await world({ policies: { prod: soak('24h') } });
    await w.engine.tick();
    const why = await w.engine.explain({ pipeline: 'app', ring: 'prod' });
    expect(why.action).toBe('wait');
    expect(why.candidate?.decision).toMatchObject({ verdict: 'wait', until: '2026-11-03T09:00:00.000Z' });
    w.clock.advance(23 * 3_600_000);
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual([undefined, undefined]);
    w.clock.advance(3_600_000);
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
  });

  it('all(freeze(), auto()) is allowed and explain says it is blocked', async () => {
    const w = await world({ policies: { prod: all(freeze({ reason: 'year-end' }), manual()) } });
    await w.engine.tick();
    const why = await w.engine.explain({ pipeline: 'app', ring: 'prod' });
    expect(why.action).toBe('blocked');
    expect(why.summary).toContain('frozen: year-end');
  });

  it('a failing gate fails the release in that ring, rolls back and the rollback sticks', async () => {
    const w = await world({
      gates: {
        sandbox: [
          {
            name: 'smoke',
            run: ['sh', '-c', 'test "$RINGMASTER_VERSION" != 1.0.2 || { echo broken; exit 1; }'],
          },
        ],
      },
    });
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'bad change', 'bob');
    await w.engine.tick();
    expect(await w.versions('eng')).toEqual(['1.0.2', '1.0.2']);
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1']);
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    const p = w.engine.ledger.state.pipelines.get('app')!;
    expect(p.releaseRings.get('1.0.2')!.get('sandbox')!.status).toBe('rejected');
    expect(p.gates.find((g) => g.release === '1.0.2')?.log).toContain('broken');
    expect(w.notes.some((n) => n.startsWith('FAIL 1.0.2 failed in sandbox'))).toBe(true);
    await w.engine.tick();
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1']);
    await w.source.commit({ 'app.txt': 'v3\n' }, 'fix', 'bob');
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.3', '1.0.3']);
  });

  it('a broken build is recorded with its log, the committer hears, and the next commit still ships', async () => {
    const w = await world({
      buildSteps: [['sh', '-c', 'grep -q broken app.txt && { echo "syntax error" >&2; exit 2; } || true']],
    });
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'broken\n' }, 'oops', 'dave');
    await w.engine.tick();
    const p = w.engine.ledger.state.pipelines.get('app')!;
    const failed = [...p.revisions.values()].find((r) => r.revision.author === 'dave')!;
    expect(failed.build?.status).toBe('failed');
    expect(failed.build?.log).toContain('syntax error');
    expect(w.notes.some((n) => n.startsWith('FAIL build of'))).toBe(true);
    await w.source.commit({ 'app.txt': 'fixed\n' }, 'fix', 'dave');
    await w.engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.3', '1.0.3']);
  });
});
