/**
 * dpkg is never killed: a maintainer script slower than every command timeout, a limit on how
 * long we wait for an install, a connection dropped in the middle of postinst, and the
 * rollout's deadline for a host step. In each case dpkg runs to its end on the host; we only
 * stop waiting, and say what we know (half-configured while it runs, unknown after a deadline).
 */
import { executeRollout, type HostState, oneAtATime, planBatches } from '@ringmaster/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../src/util/sleep.js';
import { buildDeb, type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
let direct: ReturnType<Lab['target']>;
beforeAll(async () => {
  lab = await startLab(4);
  direct = lab.target();
}, 120_000);
afterAll(async () => {
  await lab?.stop();
});

/**
 * A package whose postinst takes `seconds` and talks all the while (as real ones do): once our
 * channel is gone, a write to it would end the script with SIGPIPE unless dpkg is shielded.
 */
const slow = (name: string, seconds: number) =>
  buildDeb(lab.work, {
    name,
    version: '1.0',
    postinst: `i=0; while [ $i -lt ${seconds * 4} ]; do echo "configuring ${name}: step $i"; sleep 0.25; i=$((i+1)); done`,
  });

/** Polls (bounded) until dpkg on the host reports the package installed. */
async function installedEventually(host: string, pkg: string): Promise<string | undefined> {
  for (let i = 0; i < 200; i++) {
    const found = await direct.installed(host, pkg);
    if (found?.status === 'installed') return found.version;
    await sleep(100);
  }
  return undefined;
}

describe.concurrent('a slow maintainer script', () => {
  it('outlives the command timeout and the install still succeeds (no timeout wraps dpkg)', async () => {
    const target = lab.target({ timeouts: { commandMs: 1000 } });
    await target.install('host-1', await slow('rm-slow-ok', 3));
    expect(await target.installed('host-1', 'rm-slow-ok')).toEqual({ version: '1.0', status: 'installed' });
  });

  it('past installMs we stop waiting (TIMEOUT) while dpkg runs on: half-configured meanwhile, installed once done', async () => {
    const target = lab.target({ timeouts: { installMs: 1000 } });
    const error = await rejectionOf(target.install('host-2', await slow('rm-slow-wait', 4)));
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toContain('host-2');
    const during = await direct.installed('host-2', 'rm-slow-wait');
    expect(during).toMatchObject({ version: '1.0', status: 'half-configured' });
    expect(await installedEventually('host-2', 'rm-slow-wait')).toBe('1.0');
  });

  it('a connection dropped in the middle of postinst does not stop dpkg', async () => {
    const target = lab.target();
    const installing = rejectionOf(target.install('host-3', await slow('rm-slow-drop', 3)));
    // Wait until dpkg is in postinst on the host, then cut our side.
    let inPostinst = false;
    for (let i = 0; i < 100 && !inPostinst; i++) {
      inPostinst = (await direct.installed('host-3', 'rm-slow-drop'))?.status === 'half-configured';
      if (!inPostinst) await sleep(50);
    }
    expect(inPostinst).toBe(true); // the cut lands mid-postinst, not after it
    await target.close();
    const error = await installing;
    expect(error.code).toBe('TARGET');
    expect(await installedEventually('host-3', 'rm-slow-drop')).toBe('1.0');
  });

  it("the rollout's hostTimeout leaves the host unknown (TIMEOUT), not failed-and-killed; dpkg finishes on its own", async () => {
    const target = lab.target();
    const artifact = await slow('rm-slow-step', 4);
    const spec = oneAtATime({ maxFailures: 0, onFailure: 'halt', hostTimeout: 1000 });
    const finished: { host: string; ok: boolean; state: HostState; error?: string }[] = [];
    const result = await executeRollout({
      spec,
      batches: planBatches(spec, ['host-4']),
      target,
      artifact,
      resolve: async () => undefined,
      recorder: {
        hostStarted: async () => {},
        hostFinished: async (host, o) => void finished.push({ host, ...o }),
      },
    });
    expect(result.outcome).toBe('halted');
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({ ok: false, state: { status: 'unknown', code: 'TIMEOUT' } });
    expect(finished[0]!.error).toContain('did not finish within 1s');
    expect(await installedEventually('host-4', 'rm-slow-step')).toBe('1.0');
  });
});
