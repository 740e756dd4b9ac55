/**
 * A stop is not a verdict: a build or a runner gate that the engine's own stop (Ctrl-C,
 * `systemctl stop`) kills is recorded as neither passed nor failed, and runs again at the next
 * start — as after a crash — instead of failing a good release.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir, world } from './helpers.js';

/** Waits (bounded) until `check` holds. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a stop during a step', () => {
  it('a build killed by the stop is not recorded as failed and is built again at the next start', async () => {
    // Slow until the flag file exists: the first attempt is under way when the stop comes.
    const flag = join(await tempDir(), 'fast');
    const w = await world({ buildSteps: [['sh', '-c', `test -f ${flag} || sleep 30`]] });
    await w.engine.start();
    const ticking = w.engine.tick();
    await until(
      async () => (await w.engine.ledger.read()).some((r) => r.type === 'process.started'),
      'the build to start',
    );
    await w.engine.close();
    await ticking.catch(() => {});
    const records = await w.engine.ledger.read();
    expect(records.filter((r) => r.type === 'build.finished')).toEqual([]);
    expect(w.sent.filter((n) => n.kind === 'build')).toEqual([]);
    // Built again by the next engine (the new attempt does not sleep), and deployed.
    await writeFile(flag, '');
    const again = w.reopen();
    await again.start();
    await again.tick();
    const after = await again.ledger.read();
    const first = records.find((r) => r.type === 'build.started')!.data as { revision: string };
    const finished = after.filter((r) => r.type === 'build.finished' && r.data.revision === first.revision);
    expect(finished.map((r) => (r.data as { ok: boolean }).ok)).toEqual([true]);
    expect(
      after.filter((r) => r.type === 'build.started').map((r) => (r.data as { attempt: number }).attempt),
    ).toEqual([1, 2]);
    expect(await w.versions('prod')).toEqual(['1.0.1', '1.0.1']);
  });

  it('a runner gate killed by the stop does not fail the release: it runs again and passes', async () => {
    const flag = join(await tempDir(), 'fast');
    const w = await world({
      gates: { eng: [{ name: 'smoke', run: ['sh', '-c', `test -f ${flag} || sleep 30`] }] },
    });
    await w.engine.start();
    const ticking = w.engine.tick();
    await until(
      async () =>
        (await w.engine.ledger.read()).some(
          (r) => r.type === 'process.started' && (r.data as { step: { kind: string } }).step.kind === 'gate',
        ),
      'the gate to start',
    );
    await w.engine.close();
    await ticking.catch(() => {});
    const records = await w.engine.ledger.read();
    expect(records.filter((r) => r.type === 'gate.finished')).toEqual([]);
    expect(records.filter((r) => r.type === 'ring.failed' || r.type === 'ring.rejected')).toEqual([]);
    // The next start runs the gate again; this time it passes at once.
    await writeFile(flag, '');
    const again = w.reopen();
    await again.start();
    await again.tick();
    const after = await again.ledger.read();
    expect(
      after.filter((r) => r.type === 'gate.finished').map((r) => (r.data as { ok: boolean }).ok),
    ).toEqual([true]);
    expect(after.some((r) => r.type === 'ring.verified' && r.data.ring === 'eng')).toBe(true);
  });
});
