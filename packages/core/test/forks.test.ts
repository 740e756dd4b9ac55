/** `forks`: a runner works on at most that many hosts of a batch at once, however big the batch. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  auto,
  batches,
  createEngine,
  localRepository,
  manualClock,
  memorySource,
  memoryStore,
  pipeline,
  simulatedTarget,
  type Target,
  tarball,
} from '../src/index.js';
import { tempDir } from './helpers.js';

/** Wraps `target` to count the installs running at once. */
function counting(target: Target) {
  const seen = { now: 0, max: 0, total: 0 };
  const wrapped: Target = Object.assign(Object.create(target) as Target, {
    install: async (...args: Parameters<Target['install']>) => {
      seen.now++;
      seen.total++;
      seen.max = Math.max(seen.max, seen.now);
      try {
        return await target.install(...args);
      } finally {
        seen.now--;
      }
    },
  });
  return { wrapped, seen };
}

describe('forks', () => {
  for (const forks of [undefined, 1, 3]) {
    it(`a batch of 8 hosts with forks ${forks ?? 'unset'} has at most ${forks ?? 8} installs at once, and every host installed`, async () => {
      const dir = await tempDir();
      const { wrapped, seen } = counting(simulatedTarget({ hosts: 8, latencyMs: [5, 15] }));
      const app = pipeline({
        name: 'app',
        source: memorySource({ commits: [{ files: { a: '1' }, message: 'one' }] }),
        packager: tarball({ name: 'app' }),
        repository: localRepository({ dir: join(dir, 'repo') }),
        rings: [{ name: 'eng', target: wrapped, policy: auto(), rollout: batches(8) }],
      });
      const engine = createEngine({
        pipelines: [app],
        store: memoryStore(),
        clock: manualClock('2026-11-02T09:00:00Z'),
        workDir: join(dir, 'work'),
        ...(forks ? { forks } : {}),
      });
      try {
        await engine.start();
        await engine.tick();
        expect(seen.total).toBe(8);
        expect(seen.max).toBe(forks ?? 8);
        const status = await engine.status();
        expect(status.pipelines[0]!.rings[0]!.version).toBe('1.0.1');
      } finally {
        await engine.close();
      }
    });
  }
});
