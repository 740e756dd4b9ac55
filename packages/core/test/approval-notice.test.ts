/**
 * "Approval needed" is a notification: when a ring's policy waits for approvals, the approvers
 * are told once per pipeline, ring and release — through every notifier, with a link to the
 * team's page — and "once" holds across passes, restarts and runners, because it is read from
 * the ledger and decided on it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  all,
  any,
  commandNotifier,
  consoleNotifier,
  createEngine,
  type Decision,
  type Engine,
  type EngineOptions,
  fileStore,
  freeze,
  type LedgerRecord,
  manual,
  memoryStore,
  type Notification,
  type PolicyContext,
  type Store,
  soak,
} from '../src/index.js';
import { tempDir, world } from './helpers.js';

const MINUTE = 60_000;
const PAGE = 'https://deploys.example.com/app';

type World = Awaited<ReturnType<typeof world>>;

const opened: Engine[] = [];
afterEach(async () => {
  for (const engine of opened.splice(0)) await engine.close();
});

/**
 * An engine on the world's pipeline and file ledger (a fresh handle: a new process, as far as
 * the ledger is concerned), printing through a console notifier into `lines`.
 */
function engineOn(w: World, options: Partial<EngineOptions> = {}, lines: string[] = []): Engine {
  const engine = createEngine({
    pipelines: [w.app],
    store: fileStore({ dir: join(w.dir, 'ledger') }),
    clock: w.clock,
    workDir: join(w.dir, 'work'),
    notifiers: [consoleNotifier((line) => lines.push(line))],
    ...options,
  });
  opened.push(engine);
  return engine;
}

/** The approval notices queued in the ledger, in order, with their ids. */
const queuedApprovals = (records: readonly LedgerRecord[]) =>
  records
    .filter((r) => r.type === 'notification.queued')
    .map((r) => r.data as { id: string; notification: Notification })
    .filter((d) => d.notification.kind === 'approval');

/** The approval notices queued in the ledger, in order. */
const approvalNotices = (records: readonly LedgerRecord[]): Notification[] =>
  queuedApprovals(records).map((d) => d.notification);

/** The approval notices a notifier was handed. */
const delivered = (sent: readonly Notification[]) => sent.filter((n) => n.kind === 'approval');

describe('a release waiting for an approval', () => {
  it('asks the approvers once, with the link and the group, through every notifier', async () => {
    const w = await world({ policies: { prod: manual({ group: ['alice', 'bob'] }) } });
    const lines: string[] = [];
    const engine = engineOn(w, { pageUrl: PAGE }, lines);
    for (let pass = 0; pass < 4; pass++) {
      await engine.tick();
      w.clock.advance(30 * MINUTE);
    }
    expect(await w.versions('prod')).toEqual([undefined, undefined]);

    const records = await engine.ledger.read();
    const notices = approvalNotices(records);
    expect(notices).toEqual([
      {
        kind: 'approval',
        pipeline: 'app',
        ok: true,
        // alice committed it: she may not approve it, but the policy names its group as it is.
        summary: `app 1.0.1 waits for approval in prod: waiting for 1 more approval from alice, bob — approve: ${PAGE}`,
        revision: expect.any(String),
        release: '1.0.1',
        ring: 'prod',
        url: PAGE,
        approvers: ['alice', 'bob'],
      },
    ]);
    // Delivered once to each notifier: the pipeline's recording one and the engine's console.
    expect(delivered(w.sent)).toHaveLength(1);
    const id = queuedApprovals(records)[0]?.id;
    const sent = records
      .filter((r) => r.type === 'notification.sent')
      .map((r) => r.data as { id: string; notifier: string });
    expect(sent.filter((d) => d.id === id).map((d) => d.notifier)).toEqual(['console', 'memory']);
    expect(lines.filter((l) => l.includes('waits for approval'))).toEqual([
      `? [app/prod] app 1.0.1 waits for approval in prod: waiting for 1 more approval from alice, bob — approve: ${PAGE} → alice, bob`,
    ]);

    // Approved, it goes on; nobody is asked again.
    await engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.1', by: 'bob' });
    await engine.tick();
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    expect(approvalNotices(await engine.ledger.read())).toHaveLength(1);
    expect(w.errors).toEqual([]);
  });

  it('is not asked again by a new engine on the same ledger', async () => {
    const w = await world({ policies: { prod: manual({ group: ['alice', 'bob'] }) } });
    const first = engineOn(w, { pageUrl: PAGE });
    await first.tick();
    await first.close();
    expect(approvalNotices(await first.ledger.read())).toHaveLength(1);

    const next = engineOn(w, { pageUrl: PAGE });
    for (let pass = 0; pass < 3; pass++) {
      w.clock.advance(60 * MINUTE);
      await next.tick();
    }
    expect((await next.explain({ pipeline: 'app', ring: 'prod' })).action).toBe('wait');
    expect(approvalNotices(await next.ledger.read())).toHaveLength(1);
    expect(delivered(w.sent).map((n) => n.release)).toEqual(['1.0.1']);
  });

  it('a newer release waiting in the same ring gets its own notice', async () => {
    const w = await world({ policies: { prod: manual({ group: ['alice', 'bob'] }) } });
    const engine = engineOn(w, { pageUrl: PAGE });
    await engine.tick();
    await w.source.commit({ 'app.txt': 'v2\n' }, 'second', 'carol');
    for (let pass = 0; pass < 3; pass++) {
      w.clock.advance(10 * MINUTE);
      await engine.tick();
    }
    const notices = approvalNotices(await engine.ledger.read());
    expect(notices.map((n) => [n.ring, n.release])).toEqual([
      ['prod', '1.0.1'],
      ['prod', '1.0.2'],
    ]);
    expect(notices[1]!.summary).toBe(
      `app 1.0.2 waits for approval in prod: waiting for 1 more approval from alice, bob — approve: ${PAGE}`,
    );
    expect(delivered(w.sent).map((n) => n.release)).toEqual(['1.0.1', '1.0.2']);
  });

  it('a ring that waits for anything else (a soak) asks no one; the ring after it does once it waits for an approval', async () => {
    const w = await world({ policies: { sandbox: soak('2h'), prod: manual() } });
    const engine = engineOn(w); // no pageUrl: no link
    await engine.tick(); // 09:00: sandbox soaks
    w.clock.advance(60 * MINUTE);
    await engine.tick(); // 10:00: still soaking
    expect((await engine.explain({ pipeline: 'app', ring: 'sandbox' })).action).toBe('wait');
    expect(approvalNotices(await engine.ledger.read())).toEqual([]);

    w.clock.advance(60 * MINUTE);
    await engine.tick(); // 11:00: sandbox verified, prod waits for anyone's approval
    await engine.tick();
    const notices = approvalNotices(await engine.ledger.read());
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({
      ring: 'prod',
      release: '1.0.1',
      summary: 'app 1.0.1 waits for approval in prod: waiting for 1 more approval',
    });
    expect(notices[0]).not.toHaveProperty('url');
    expect(notices[0]).not.toHaveProperty('approvers');
  });

  it('all(soak, manual) asks at once, while soaking: approvals given meanwhile let it go when the soak ends', async () => {
    const w = await world({ policies: { prod: all(soak('1h'), manual({ group: ['bob'] })) } });
    const engine = engineOn(w, { pageUrl: PAGE });
    await engine.tick(); // 09:00: prod soaks and waits for bob
    expect(approvalNotices(await engine.ledger.read())).toMatchObject([
      {
        ring: 'prod',
        release: '1.0.1',
        approvers: ['bob'],
        summary: `app 1.0.1 waits for approval in prod: waiting for 1 more approval from bob — approve: ${PAGE}`,
      },
    ]);
    w.clock.advance(5 * MINUTE);
    await engine.tick(); // 09:05: still both
    w.clock.advance(5 * MINUTE);
    await engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.1', by: 'bob' });
    await engine.tick(); // 09:10: approved, still soaking
    expect(await w.versions('prod')).toEqual([undefined, undefined]);
    w.clock.advance(50 * MINUTE);
    await engine.tick(); // 10:00: soaked
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
    expect(approvalNotices(await engine.ledger.read())).toHaveLength(1);
    expect(delivered(w.sent)).toHaveLength(1);
  });
});

describe('two runners at once', () => {
  /**
   * Holds the first append of an approval notice until a second one arrives (or a while has
   * passed): both runners decided on the same ledger, and only compare-and-set can keep one out.
   */
  function raceApprovalNotices(store: Store, gate: { waiting?: () => void }): Store {
    return Object.assign(Object.create(store) as Store, {
      append: async (...args: Parameters<Store['append']>) => {
        const asks = args[0].some(
          (r) =>
            r.type === 'notification.queued' && (r.data.notification as Notification).kind === 'approval',
        );
        if (asks) {
          if (gate.waiting) {
            gate.waiting();
            gate.waiting = undefined;
          } else {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, 2_000);
              gate.waiting = () => {
                clearTimeout(timer);
                resolve();
              };
            });
          }
        }
        return store.append(...args);
      },
    });
  }

  it('queue one notice between them, decided by compare-and-set', async () => {
    const w = await world({ policies: { prod: manual({ group: ['alice', 'bob'] }) } });
    const shared = memoryStore({ manyRunners: true });
    const gate: { waiting?: () => void } = {};
    const runners = [1, 2].map((i) => {
      const engine = createEngine({
        pipelines: [w.app],
        store: raceApprovalNotices(shared.open(), gate),
        clock: w.clock,
        owner: `runner-${i}`,
        workDir: join(w.dir, `work-${i}`),
        pageUrl: PAGE,
      });
      opened.push(engine);
      return engine;
    });
    const [one, two] = runners as [Engine, Engine];
    await one.start();
    await two.start();
    // prod is locked until sandbox has verified the release: then both see it wait at once.
    await one.lock({ pipeline: 'app', ring: 'prod', reason: 'until the race', by: 'test' });
    await one.tick();
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1']);
    await two.unlock({ pipeline: 'app', ring: 'prod', by: 'test' });
    await Promise.all(runners.map((e) => e.tick()));
    await Promise.all(runners.map((e) => e.tick()));

    expect(approvalNotices(await shared.read()).map((n) => n.release)).toEqual(['1.0.1']);
    expect(delivered(w.sent)).toHaveLength(1);
  });
});

describe('the notifiers', () => {
  const ask: Notification = {
    kind: 'approval',
    pipeline: 'app',
    ok: true,
    summary: 'app 1.0.1 waits for approval in prod: waiting for 1 more approval from oncall',
    release: '1.0.1',
    ring: 'prod',
    url: PAGE,
    approvers: ['oncall'],
  };

  it('a command gets the kind, the link and the approvers in its environment, and all of it as JSON', async () => {
    const dir = await tempDir();
    const out = join(dir, 'ask');
    await commandNotifier({
      run: [
        'sh',
        '-c',
        `cat > ${out}.json; printf '%s\\n' "$RINGMASTER_KIND" "$RINGMASTER_URL" "$RINGMASTER_APPROVERS" > ${out}.env`,
      ],
    }).notify(ask);
    expect(JSON.parse(await readFile(`${out}.json`, 'utf8'))).toEqual(ask);
    expect((await readFile(`${out}.env`, 'utf8')).split('\n')).toEqual(['approval', PAGE, 'oncall', '']);
  });

  it('the console prints the link when the summary does not carry it', async () => {
    const lines: string[] = [];
    await consoleNotifier((line) => lines.push(line)).notify(ask);
    expect(lines).toEqual([`? [app/prod] ${ask.summary} — ${PAGE} → oncall`]);
  });
});

describe('what the policies say they await', () => {
  const release = { id: '1.0.7', version: '1.0.7', revision: 'r7', author: 'alice' };
  const ctx = (extra: Partial<PolicyContext> = {}): PolicyContext => ({
    now: new Date('2026-03-02T09:30:00Z'),
    pipeline: 'app',
    ring: 'prod',
    release,
    readyAt: new Date('2026-03-02T09:00:00Z'),
    approvals: [],
    ...extra,
  });
  const by = (who: string) => ({ by: who, at: '2026-03-02T09:10:00Z', via: 'cli' });
  const awaiting = (d: Decision) => (d.verdict === 'wait' ? d.awaiting : undefined);

  it('manual() says how many more, from its group', () => {
    const policy = manual({ quorum: 2, group: ['bob', 'carol'] });
    expect(awaiting(policy.evaluate(ctx()))).toEqual({ approvals: 2, from: ['bob', 'carol'] });
    expect(awaiting(policy.evaluate(ctx({ approvals: [by('bob')] })))).toEqual({
      approvals: 1,
      from: ['bob', 'carol'],
    });
    expect(awaiting(manual().evaluate(ctx()))).toEqual({ approvals: 1 });
    expect(awaiting(soak('1h').evaluate(ctx()))).toBeUndefined();
  });

  it('all() needs every part: the sum, from all of their groups; nothing once blocked or approved', () => {
    const two = all(manual({ group: ['bob'] }), manual({ quorum: 2, group: ['carol', 'dave'] }), soak('1h'));
    expect(awaiting(two.evaluate(ctx()))).toEqual({ approvals: 3, from: ['bob', 'carol', 'dave'] });
    expect(awaiting(all(soak('1h'), manual()).evaluate(ctx()))).toEqual({ approvals: 1 });
    expect(all(freeze(), manual()).evaluate(ctx())).toMatchObject({ verdict: 'blocked' });
    expect(all(freeze(), manual()).evaluate(ctx())).not.toHaveProperty('awaiting');
    const approved = all(soak('1h'), manual()).evaluate(ctx({ approvals: [by('bob')] }));
    expect(approved.verdict).toBe('wait');
    expect(awaiting(approved)).toBeUndefined();
  });

  it('any() needs one part: the fewest, from whoever could give them; nothing once one promotes', () => {
    expect(awaiting(any(soak('1h'), manual({ group: ['bob'] })).evaluate(ctx()))).toEqual({
      approvals: 1,
      from: ['bob'],
    });
    // One part takes anyone's approval: anyone may end the wait.
    expect(awaiting(any(manual({ quorum: 2 }), manual({ group: ['bob'] })).evaluate(ctx()))).toEqual({
      approvals: 1,
    });
    expect(awaiting(any(soak('1h'), soak('2h')).evaluate(ctx()))).toBeUndefined();
    expect(any(soak('10m'), manual()).evaluate(ctx()).verdict).toBe('promote');
  });
});
