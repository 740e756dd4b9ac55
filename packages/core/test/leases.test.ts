/**
 * Leases that fence, and decisions taken again after a conflict: a lease stolen mid-rollout,
 * renewals that fail and then recover, renewals that fail until the lease runs out, and a
 * person's lock, approval or rollback landing between the engine's decision and its append.
 * Each ends with the hosts, the ledger and status agreeing, nothing written twice.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  auto,
  createEngine,
  type Engine,
  fileStore,
  isRingmasterError,
  type Lease,
  localRepository,
  localTarget,
  manual,
  memorySource,
  type NewRecord,
  oneAtATime,
  pipeline,
  type Store,
  type Target,
  type TypedRecord,
  tarball,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every engine a test made, closed after it (their journals stay open until then). */
const made: Engine[] = [];
afterEach(async () => {
  for (const engine of made.splice(0)) await engine.close();
});

interface Hooks {
  /** Runs before an append reaches the store (the moment another process may win the race). */
  beforeAppend?: (records: readonly NewRecord[]) => Promise<void>;
  /** Replaces renew (to make it fail). */
  renew?: (lease: Lease, ttlMs: number) => Promise<Lease>;
}

/** A store whose appends and renewals a test can get between. */
function hooked(inner: Store, hooks: Hooks): Store {
  return {
    name: inner.name,
    append: async (records, options) => {
      await hooks.beforeAppend?.(records);
      return inner.append(records, options);
    },
    read: (after) => inner.read(after),
    acquire: (name, options) => inner.acquire(name, options),
    renew: (lease, ttl) => (hooks.renew ? hooks.renew(lease, ttl) : inner.renew(lease, ttl)),
    release: (lease) => inner.release(lease),
    inspect: (name) => inner.inspect(name),
    close: () => inner.close?.() ?? Promise.resolve(),
  };
}

interface SetupOptions {
  rings?: ('eng' | 'sandbox' | 'prod')[];
  hosts?: number;
  /** Called before each install, with the host. */
  beforeInstall?: (host: string) => Promise<void>;
  installDelayMs?: number;
  leaseMs?: number;
  prodManual?: boolean;
}

async function setup(options: SetupOptions = {}) {
  const dir = await tempDir('rm-lease-');
  const source = memorySource({
    commits: [{ files: { 'app.txt': 'v1\n' }, message: 'one', author: 'alice' }],
  });
  const targets = new Map<string, Target>();
  const target = (ring: string): Target => {
    const local = localTarget({
      root: join(dir, 'hosts', ring),
      hosts: Array.from({ length: options.hosts ?? 3 }, (_, i) => `${ring}-${i + 1}`),
    });
    const t: Target = {
      ...local,
      install: async (host, artifact) => {
        await options.beforeInstall?.(host);
        if (options.installDelayMs) await sleep(options.installDelayMs);
        return local.install(host, artifact);
      },
    };
    targets.set(ring, t);
    return t;
  };
  const app = pipeline({
    name: 'app',
    source,
    packager: tarball({ name: 'app' }),
    repository: localRepository({ dir: join(dir, 'repo') }),
    rings: (options.rings ?? ['prod']).map((name) => ({
      name,
      target: target(name),
      rollout: oneAtATime({ maxFailures: 0 }),
      policy: name === 'prod' && options.prodManual ? manual() : auto(),
    })),
  });
  const ledger = join(dir, 'ledger');
  const make = (store: Store, extra: { owner?: string; leaseMs?: number } = {}) => {
    const engine = createEngine({
      pipelines: [app],
      store,
      workDir: join(dir, `work-${extra.owner ?? 'engine'}`),
      ...(extra.owner ? { owner: extra.owner } : {}),
      leaseMs: extra.leaseMs ?? options.leaseMs ?? 30_000,
    });
    const errors: Error[] = [];
    engine.on('error', (e) => errors.push(e.error));
    made.push(engine);
    return { engine, errors };
  };
  const versions = (ring: string) =>
    Promise.all(
      targets.get(ring)!.hosts.map(async (h) => (await targets.get(ring)!.installed(h.name, 'app'))?.version),
    );
  const records = async () => (await fileStore({ dir: ledger }).read()) as TypedRecord[];
  /** No seq gap and no host step recorded twice. */
  const assertClean = async () => {
    const all = await records();
    expect(all.map((r) => r.seq)).toEqual(all.map((_, i) => i + 1));
    const steps = all.flatMap((r) =>
      r.type === 'host.finished' ? [`${r.data.rollout} ${r.data.host} ${r.data.phase}`] : [],
    );
    expect(new Set(steps).size).toBe(steps.length);
  };
  /** The ledger's word on each host of a ring is what the host reports. */
  const assertAgrees = async (engine: Engine, ring: string) => {
    await engine.load();
    const rs = engine.ledger.state.pipelines.get('app')!.rings.get(ring)!;
    const recorded = targets.get(ring)!.hosts.map((h) => {
      const s = rs.hosts.get(h.name)?.state;
      return s?.status === 'installed' ? s.version : undefined;
    });
    expect(recorded).toEqual(await versions(ring));
    const status = await engine.status({ live: true });
    const hosts = status.pipelines[0]!.rings.find((r) => r.name === ring)!.hosts;
    expect(hosts.filter((h) => h.drift || h.unreachable)).toEqual([]);
  };
  return { dir, ledger, source, app, make, versions, records, assertClean, assertAgrees };
}

describe('a lease taken over mid-rollout', () => {
  it('the old holder is fenced off at its next append, records why, and the new holder finishes from the ledger', async () => {
    let steal: Promise<void> | undefined;
    let thief: ReturnType<Awaited<ReturnType<typeof setup>>['make']> | undefined;
    const w = await setup({
      beforeInstall: async (host) => {
        // While the first engine installs prod-2, another engine (whose clock is an hour ahead,
        // so every lease of the first looks expired) takes the ledger over.
        if (host === 'prod-2' && thief) {
          steal ??= thief.engine.start();
          await steal;
        }
      },
    });
    const first = w.make(fileStore({ dir: w.ledger }));
    thief = w.make(fileStore({ dir: w.ledger, now: () => Date.now() + 3_600_000 }), { owner: 'thief' });
    await first.engine.start();
    await first.engine.tick();

    // prod-2 was installed, but its host.finished was refused: the first engine lost its lease.
    const lost = first.errors.find((e) => isRingmasterError(e, 'LOCKED'));
    expect(lost?.message).toMatch(/lost the lease engine: thief/);
    let all = await w.records();
    expect(all.filter((r) => r.type === 'host.finished').map((r) => r.data.host)).toEqual(['prod-1']);
    const losses = all.filter((r) => r.type === 'lease.lost');
    expect(losses.map((r) => [r.data.lease, r.data.owner])).toEqual([['engine', 'engine']]);
    expect(String(losses[0]!.data.reason)).toMatch(/thief .* holds it now.*this engine stopped/);
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1', undefined]);

    // The loser does nothing more: a pass writes nothing, and run() ends with LOCKED.
    const seq = all.at(-1)!.seq;
    await first.engine.tick();
    const run = await first.engine.run({ intervalMs: 10 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRingmasterError(run, 'LOCKED')).toBe(true);

    // The new holder resumes: prod-2 is asked (already there), prod-3 gets it.
    await thief.engine.tick();
    all = await w.records();
    const finished = all.filter((r) => r.type === 'host.finished');
    expect(finished.map((r) => [r.data.host, r.data.alreadyThere ?? false])).toEqual([
      ['prod-1', false],
      ['prod-2', true],
      ['prod-3', false],
    ]);
    expect(all.filter((r) => r.seq > seq && r.type === 'lease.lost')).toHaveLength(0);
    expect(all.find((r) => r.type === 'rollout.finished')?.data.outcome).toBe('succeeded');
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
    await w.assertClean();
    await w.assertAgrees(thief.engine, 'prod');
    await thief.engine.close();
    await first.engine.close();
  });
});

describe('renewals that fail', () => {
  it('a renewal that fails is retried: the lease is kept and the rollout finishes', async () => {
    // Renewed every 400 ms: after a failed renewal the next one comes 400 ms before expiry, room
    // for a loaded machine; 700 ms per host gives the three hosts five renewals or so.
    const w = await setup({ installDelayMs: 700, leaseMs: 1200 });
    let failures = 0;
    const store = hooked(fileStore({ dir: w.ledger }), {
      renew: async (lease, ttl) => {
        // Every other renewal fails, as on a flapping disk.
        if (failures++ % 2 === 0) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
        return fileStore({ dir: w.ledger }).renew(lease, ttl);
      },
    });
    const { engine, errors } = w.make(store);
    await engine.start();
    await engine.tick();
    expect(failures).toBeGreaterThan(2);
    expect(errors.filter((e) => isRingmasterError(e, 'LOCKED'))).toEqual([]);
    expect(errors.some((e) => e.message.includes('EIO'))).toBe(true);
    expect((await w.records()).filter((r) => r.type === 'lease.lost')).toEqual([]);
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
    await w.assertClean();
    await w.assertAgrees(engine, 'prod');
    await engine.close();
  });

  it('renewals that fail until the lease expires stop the rollout at a host boundary; a new engine finishes it', async () => {
    const w = await setup({ installDelayMs: 250, leaseMs: 300 });
    const store = hooked(fileStore({ dir: w.ledger }), {
      renew: async () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    });
    const { engine } = w.make(store);
    await engine.start();
    await engine.tick();
    let all = await w.records();
    const losses = all.filter((r) => r.type === 'lease.lost');
    expect(losses.length).toBeGreaterThan(0);
    expect(losses.map((r) => String(r.data.reason)).join('\n')).toMatch(
      /expired while it could not be renewed \(last error: ENOSPC/,
    );
    expect(all.filter((r) => r.type === 'rollout.finished')).toEqual([]);
    // The boundary held: the last host was never started.
    expect(all.filter((r) => r.type === 'host.started').map((r) => r.data.host)).not.toContain('prod-3');
    expect((await w.versions('prod'))[2]).toBeUndefined();
    await engine.close();

    const next = w.make(fileStore({ dir: w.ledger }), { owner: 'next', leaseMs: 30_000 });
    await next.engine.start();
    await next.engine.tick();
    all = await w.records();
    expect(all.find((r) => r.type === 'rollout.finished')?.data.outcome).toBe('succeeded');
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
    await w.assertClean();
    await w.assertAgrees(next.engine, 'prod');
    await next.engine.close();
  });
});

describe('a person writing between the engine deciding and appending', () => {
  /** Runs `action` (another process's write) just before the engine's first append containing `type`. */
  function raceBefore(ledger: string, type: string, action: () => Promise<void>) {
    let raced = false;
    return hooked(fileStore({ dir: ledger }), {
      beforeAppend: async (records) => {
        if (raced || !records.some((r) => r.type === type && r.data.ring === 'prod')) return;
        raced = true;
        await action();
      },
    });
  }

  it('a lock written meanwhile is not ignored: the rollout is decided again and not started', async () => {
    const w = await setup();
    const cli = w.make(fileStore({ dir: w.ledger }), { owner: 'cli' });
    const { engine } = w.make(
      raceBefore(w.ledger, 'rollout.started', () =>
        cli.engine.lock({ pipeline: 'app', ring: 'prod', reason: 'incident 42', by: 'carol' }),
      ),
    );
    await engine.tick();
    const all = await w.records();
    expect(all.filter((r) => r.type === 'rollout.started')).toEqual([]);
    expect(all.filter((r) => r.type === 'ring.locked')).toHaveLength(1);
    expect(await w.versions('prod')).toEqual([undefined, undefined, undefined]);
    expect((await engine.explain({ pipeline: 'app', ring: 'prod' })).summary).toContain('incident 42');
    await w.assertClean();
  });

  it('an approval of a newer release written meanwhile wins: the newer one is rolled out in the same pass', async () => {
    const w = await setup({ rings: ['sandbox', 'prod'], prodManual: true });
    const cli = w.make(fileStore({ dir: w.ledger }), { owner: 'cli' });
    const plain = w.make(fileStore({ dir: w.ledger }), { owner: 'setup' });
    await plain.engine.tick(); // 1.0.1 verified in sandbox
    await w.source.commit({ 'app.txt': 'v2\n' }, 'two', 'bob');
    await plain.engine.tick(); // 1.0.2 verified in sandbox
    await plain.engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.1', by: 'dave' });
    const { engine, errors } = w.make(
      raceBefore(w.ledger, 'rollout.started', () =>
        cli.engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.2', by: 'carol' }),
      ),
    );
    await engine.tick();
    expect(errors).toEqual([]);
    const started = (await w.records()).flatMap((r) =>
      r.type === 'rollout.started' && r.data.ring === 'prod' ? [r.data.release] : [],
    );
    expect(started).toEqual(['1.0.2']);
    expect(await w.versions('prod')).toEqual(['1.0.2', '1.0.2', '1.0.2']);
    await w.assertClean();
    await w.assertAgrees(engine, 'prod');
  });

  it('a rollback that rejects the release upstream meanwhile keeps it out of the next ring', async () => {
    const w = await setup({ rings: ['sandbox', 'prod'] });
    const plain = w.make(fileStore({ dir: w.ledger }), { owner: 'setup' });
    await plain.engine.tick(); // 1.0.1 everywhere
    await w.source.commit({ 'app.txt': 'v2\n' }, 'two', 'bob');
    await plain.engine.build();
    // sandbox takes 1.0.2; just before prod's rollout of it is recorded, a person rolls sandbox back.
    const cli = w.make(fileStore({ dir: w.ledger }), { owner: 'cli' });
    const { engine } = w.make(
      raceBefore(w.ledger, 'rollout.started', async () => {
        await cli.engine.rollback({ pipeline: 'app', ring: 'sandbox', by: 'carol', reason: 'error rate' });
      }),
    );
    await engine.tick();
    const all = await w.records();
    expect(
      all.filter((r) => r.type === 'rollout.started').map((r) => [r.data.ring, r.data.release, r.data.kind]),
    ).toEqual([
      ['sandbox', '1.0.1', 'deploy'],
      ['prod', '1.0.1', 'deploy'],
      ['sandbox', '1.0.2', 'deploy'],
      ['sandbox', '1.0.1', 'rollback'],
    ]);
    expect(await w.versions('sandbox')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
    await w.assertClean();
  });
});
