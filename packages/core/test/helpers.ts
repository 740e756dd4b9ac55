/** Shared fixtures for core's tests: temp dirs and a three-ring pipeline on the reference adapters. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import {
  auto,
  createEngine,
  type Engine,
  type EngineOptions,
  entry,
  fileStore,
  type GateOptions,
  localRepository,
  localTarget,
  type MemorySource,
  manualClock,
  memorySource,
  type Notification,
  type OnceOptions,
  type Policy,
  pipeline,
  planBatches,
  type RolloutOptions,
  type RolloutSpec,
  type SecretSource,
  tarball,
} from '../src/index.js';

const dirs: string[] = [];
/** Engines and stores to close after the test, in the order they were made. */
const closables: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  // Closed first (the last made first): an engine or store keeps its journal open, and its files
  // are about to go. Every one is closed and every directory removed even if a close fails; the
  // first failure is then the hook's.
  const closed = [];
  for (const closable of closables.splice(0).reverse()) {
    closed.push(
      await closable.close().then(
        () => undefined,
        (error: unknown) => ({ error }),
      ),
    );
  }
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  const failed = closed.find((c) => c !== undefined);
  if (failed) throw failed.error;
});

/**
 * An engine or store closed after the test (a file store keeps its journal open once it has
 * appended: one left open is closed by GC, with a DEP0137 warning in the run's output).
 */
export function closeAfter<T extends { close?(): Promise<unknown> }>(closable: T): T {
  closables.push({ close: async () => closable.close?.() });
  return closable;
}

/** A temp dir removed after the test. */
export async function tempDir(prefix = 'rm-core-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export interface WorldOptions {
  hosts?: number;
  policies?: Partial<Record<'eng' | 'sandbox' | 'prod', Policy>>;
  gates?: Partial<Record<'eng' | 'sandbox' | 'prod', GateOptions[]>>;
  /** A ring's once-per-rollout steps. */
  once?: Partial<Record<'eng' | 'sandbox' | 'prod', OnceOptions>>;
  /** A ring's secrets, by variable name. */
  secrets?: Partial<Record<'eng' | 'sandbox' | 'prod', Record<string, SecretSource>>>;
  rollout?: RolloutOptions;
  buildSteps?: string[][];
  start?: string;
  /** The pipeline's `authors` map: committer name → address. */
  authors?: Record<string, string>;
}

/** A pipeline through eng → sandbox → prod on local hosts, a memory source and a file ledger. */
export async function world(options: WorldOptions = {}) {
  const dir = await tempDir();
  const clock = manualClock(options.start ?? '2026-11-02T09:00:00Z');
  const source: MemorySource = memorySource({
    commits: [
      { files: { 'app.txt': 'v1\n', 'check.sh': '#!/bin/sh\nexit 0\n' }, message: 'first', author: 'alice' },
    ],
  });
  const n = options.hosts ?? 2;
  const target = (ring: string) =>
    localTarget({
      root: join(dir, 'hosts', ring),
      hosts: Array.from({ length: n }, (_, i) => `${ring}-${i + 1}`),
      healthCheck: { run: ['sh', 'check.sh'] },
    });
  const notes: string[] = [];
  const sent: Notification[] = [];
  const app = pipeline({
    name: 'app',
    source,
    build: { steps: options.buildSteps ?? [] },
    packager: tarball({ name: 'app' }),
    repository: localRepository({ dir: join(dir, 'repo') }),
    rings: (['eng', 'sandbox', 'prod'] as const).map((name) => ({
      name,
      target: target(name),
      policy: options.policies?.[name] ?? auto(),
      gates: options.gates?.[name] ?? [],
      ...(options.once?.[name] ? { once: options.once[name] } : {}),
      ...(options.secrets?.[name] ? { secrets: options.secrets[name] } : {}),
      ...(options.rollout ? { rollout: options.rollout } : {}),
    })),
    notifiers: [
      {
        name: 'memory',
        notify: async (n) => {
          sent.push(n);
          notes.push(`${n.ok ? 'ok' : 'FAIL'} ${n.summary}`);
        },
      },
    ],
    ...(options.authors ? { authors: options.authors } : {}),
  });
  const store = fileStore({ dir: join(dir, 'ledger') });
  const engine: Engine = createEngine({ pipelines: [app], store, clock, workDir: join(dir, 'work') });
  closables.push(engine);
  const errors: string[] = [];
  engine.on('error', (e) => errors.push(`${e.operation}: ${e.error.message}`));
  const versions = async (ring: string) =>
    Promise.all(
      app.rings
        .find((r) => r.name === ring)!
        .target.hosts.map(
          async (h) =>
            (await app.rings.find((r) => r.name === ring)!.target.installed(h.name, 'app'))?.version,
        ),
    );
  /**
   * A new engine on the same ledger, clock and work directory (as after a restart), with other
   * options if given; closed after the test like the first.
   */
  const reopen = (more: Partial<EngineOptions> = {}): Engine => {
    const again = createEngine({
      pipelines: [app],
      store: fileStore({ dir: join(dir, 'ledger') }),
      clock,
      workDir: join(dir, 'work'),
      ...more,
    });
    closables.push(again);
    return again;
  };
  return { dir, clock, source, app, store, engine, notes, sent, errors, versions, reopen };
}

/**
 * Writes the start of a deploy rollout `eng#2` of `release` to eng's two hosts and nothing after
 * it: a rollout in flight, as a process that died mid-rollout leaves it.
 */
export async function rolloutInFlight(engine: Engine, release: string, strategy: RolloutSpec): Promise<void> {
  await engine.ledger.write(
    entry('rollout.started', {
      pipeline: 'app',
      ring: 'eng',
      rollout: 'eng#2',
      release,
      kind: 'deploy',
      reason: 'test',
      strategy,
      batches: planBatches(strategy, ['eng-1', 'eng-2']),
    }),
  );
}
