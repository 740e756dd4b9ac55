/**
 * Host control: a host taken out of rotation is skipped by rollouts and gates and counts as
 * neither drift nor failure; enabling it converges it; a ring with every host out refuses to roll
 * out; `limit` touches only the hosts it names and never what the ring runs.
 */
import { describe, expect, it } from 'vitest';
import { type Engine, type ErrorCode, formatStatus, isRingmasterError, matchHosts } from '../src/index.js';
import { world } from './helpers.js';

async function refused(work: Promise<unknown>, code: ErrorCode = 'STATE'): Promise<Error> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRingmasterError(error, code), String(error)).toBe(true);
  return error as Error;
}

/** The hosts rollout `id` touched, in order. */
async function touched(engine: Engine, id: string): Promise<string[]> {
  return (await engine.ledger.read()).flatMap((r) =>
    r.type === 'host.started' && r.data.rollout === id ? [r.data.host] : [],
  );
}

describe('host control', () => {
  it('a disabled host is skipped by rollouts and gates, is neither drift nor failure, and enabling converges it', async () => {
    const gated: string[][] = [];
    const w = await world({
      hosts: 3,
      gates: {
        eng: [
          {
            name: 'smoke',
            check: (ctx) => {
              gated.push([...ctx.hosts]);
              return true;
            },
          },
        ],
      },
    });
    await w.engine.tick();
    await w.engine.disableHost({
      pipeline: 'app',
      ring: 'eng',
      host: 'eng-2',
      reason: 'disk failing',
      by: 'alice',
    });
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    gated.length = 0;
    await w.engine.tick();
    expect(await w.versions('eng')).toEqual(['1.0.2', '1.0.1', '1.0.2']);
    expect(await touched(w.engine, 'eng#2')).toEqual(['eng-1', 'eng-3']);
    expect(gated).toEqual([['eng-1', 'eng-3']]);
    const status = await w.engine.status({ live: true });
    const eng = status.pipelines[0]!.rings[0]!;
    expect(eng.version).toBe('1.0.2');
    expect(eng.hosts.find((h) => h.name === 'eng-2')).toMatchObject({
      drift: false,
      disabled: { by: 'alice', reason: 'disk failing' },
    });
    expect(eng.hosts.find((h) => h.name === 'eng-2')!.live).toBeUndefined(); // not asked
    const text = formatStatus(status);
    expect(text).toMatch(/app\s+eng\s+1\.0\.2\s+2\/2 \(disabled: eng-2\)/);
    expect(text).toContain(
      'app/eng eng-2: disabled by alice 2026-11-02 09:00Z: disk failing; last recorded with 1.0.1',
    );
    // Twice, or during a rollout, is refused; a host the ring does not have is not found.
    await refused(w.engine.disableHost({ pipeline: 'app', ring: 'eng', host: 'eng-2', reason: 'x' }));
    await refused(
      w.engine.disableHost({ pipeline: 'app', ring: 'eng', host: 'eng-9', reason: 'x' }),
      'NOT_FOUND',
    );
    await refused(w.engine.enableHost({ pipeline: 'app', ring: 'eng', host: 'eng-1' }));

    const report = await w.engine.enableHost({ pipeline: 'app', ring: 'eng', host: 'eng-2', by: 'alice' });
    expect(report.ok).toBe(true);
    expect(report.rings[0]!.drifted.map((d) => d.host)).toEqual(['eng-2']);
    expect(await w.versions('eng')).toEqual(['1.0.2', '1.0.2', '1.0.2']);
    const history = (await w.engine.ledger.read()).map((r) => r.type);
    expect(
      history.filter((t) => t.startsWith('host.') && t !== 'host.started' && t !== 'host.finished'),
    ).toEqual(['host.disabled', 'host.enabled']);
  });

  it('a ring whose every host is disabled refuses to roll out and says so', async () => {
    const w = await world({ hosts: 2 });
    await w.engine.tick();
    for (const host of ['prod-1', 'prod-2'])
      await w.engine.disableHost({
        pipeline: 'app',
        ring: 'prod',
        host,
        reason: 'datacenter move',
        by: 'bob',
      });
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    for (let i = 0; i < 3; i++) await w.engine.tick();
    expect(await w.versions('sandbox')).toEqual(['1.0.2', '1.0.2']);
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    const explain = await w.engine.explain({ pipeline: 'app', ring: 'prod' });
    expect(explain.action).toBe('disabled');
    expect(explain.summary).toBe(
      'every host of prod is disabled (prod-1 (by bob: datacenter move); prod-2 (by bob: datacenter move)): nothing can be rolled out there; enable one first (ringmaster host enable)',
    );
    const error = await refused(w.engine.promote({ pipeline: 'app', ring: 'prod', release: '1.0.2' }));
    expect(error.message).toContain('every host of prod is disabled');
  });

  it('limit touches only the hosts it names, never what the ring runs; converge puts them back', async () => {
    const w = await world({ hosts: 3 });
    await w.engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second');
    await w.engine.build();
    const before = (await w.engine.ledger.read()).filter((r) => r.type === 'gate.finished').length;
    const summary = await w.engine.promote({
      pipeline: 'app',
      ring: 'prod',
      release: '1.0.2',
      limit: 'prod-[13]',
    });
    expect(summary).toMatchObject({ outcome: 'succeeded', verified: false });
    expect(await w.versions('prod')).toEqual(['1.0.2', '1.0.1', '1.0.2']);
    expect(await touched(w.engine, summary.rollout)).toEqual(['prod-1', 'prod-3']);
    const explain = await w.engine.explain({ pipeline: 'app', ring: 'prod' });
    expect(explain.current?.version).toBe('1.0.1');
    expect((await w.engine.ledger.read()).filter((r) => r.type === 'gate.finished')).toHaveLength(before);
    // The hosts it changed are drift now: the ring runs 1.0.1.
    const drift = (await w.engine.status({ pipeline: 'app', ring: 'prod' })).pipelines[0]!.rings[0]!.hosts;
    expect(drift.map((h) => [h.name, h.drift])).toEqual([
      ['prod-1', true],
      ['prod-2', false],
      ['prod-3', true],
    ]);
    const converged = await w.engine.converge({ pipeline: 'app', ring: 'prod', limit: ['prod-1'] });
    expect(converged.ok).toBe(true);
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1', '1.0.2']);
    // A limited rollback reinstalls there only, and rejects nothing.
    const back = await w.engine.rollback({ pipeline: 'app', ring: 'prod', to: '1.0.1', limit: 'prod-3' });
    expect(back.outcome).toBe('succeeded');
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
    expect((await w.engine.ledger.read()).filter((r) => r.type === 'ring.rejected')).toEqual([]);
    // A part that matches no host is named.
    const error = await refused(
      w.engine.promote({ pipeline: 'app', ring: 'prod', release: '1.0.2', limit: 'prod-1,web-*' }),
      'CONFIG',
    );
    expect(error.message).toContain(
      '--limit: "web-*" matches no host of prod (its hosts: prod-1, prod-2, prod-3)',
    );
  });

  it('matchHosts takes names, globs and lists, in the ring order', async () => {
    const w = await world({ hosts: 4 });
    const prod = w.app.rings[2]!;
    expect(matchHosts(prod, 'prod-3,prod-1')).toEqual(['prod-1', 'prod-3']);
    expect(matchHosts(prod, 'prod-[2-3]')).toEqual(['prod-2', 'prod-3']);
    expect(matchHosts(prod, 'prod-[!1]')).toEqual(['prod-2', 'prod-3', 'prod-4']);
    expect(matchHosts(prod, 'p*-?')).toEqual(['prod-1', 'prod-2', 'prod-3', 'prod-4']);
    expect(() => matchHosts(prod, ' , ')).toThrow(/--limit: expected host names or globs/);
    expect(() => matchHosts(prod, 'prod-[!]')).toThrow(/--limit: "prod-\[!\]": expected a class/);
    expect(() => matchHosts(prod, 'prod-[3-1]')).toThrow(/--limit: "prod-\[3-1\]": not a host pattern/);
    expect(matchHosts(prod, 'prod-***')).toEqual(['prod-1', 'prod-2', 'prod-3', 'prod-4']);
    // A dot or a plus is itself, not a pattern.
    expect(() => matchHosts(prod, 'prod.1')).toThrow(/matches no host/);
  });
});
