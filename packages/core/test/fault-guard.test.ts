/**
 * The last-resort guard, in a real engine process: faults no adapter contained (an exception
 * thrown from a timer, an unhandled rejection) are recorded, the rollout parks at its next host
 * boundary and resumes at the next pass, and the process lives to finish it.
 */
import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileStore, type TypedRecord } from '../src/index.js';
import { fixtureScript, runChild } from './child.js';

const child = fixtureScript('fault-child');

describe('the engine’s last-resort guard', () => {
  it('records each uncaught fault, parks the rollout, resumes it, and does not die', async () => {
    const dir = join(child.root(), 'run');
    const run = await runChild(child.script(), [dir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const { errors } = JSON.parse(run.stdout) as { errors: string[] };
    expect(errors).toEqual([
      'uncaught fault: rogue adapter: an error nobody listened for',
      'uncaught fault: rogue adapter: a rejection nobody handled',
    ]);
    const records = (await fileStore({ dir: join(dir, 'ledger') }).read()) as TypedRecord[];
    const faults = records.flatMap((r) => (r.type === 'engine.fault' ? [r.data.error] : []));
    expect(faults).toEqual(errors.map((e) => e.replace('uncaught fault: ', '')));
    // The first fault (on eng-2) parked the rollout before eng-3; the second came in the last
    // batch, after which there was no boundary left to stop at.
    const parked = records.flatMap((r) => (r.type === 'rollout.parked' ? [r.data.reason] : []));
    expect(parked).toEqual([
      'stopped before batch 3 of 3: a fault stopped the work under way: rogue adapter: an error nobody listened for',
    ]);
    const finished = records.filter((r) => r.type === 'rollout.finished');
    expect(finished.map((r) => r.data.outcome)).toEqual(['succeeded']);
    const steps = records.flatMap((r) => (r.type === 'host.finished' ? [`${r.data.host} ${r.data.ok}`] : []));
    expect(steps).toEqual(['eng-1 true', 'eng-2 true', 'eng-3 true']);
    for (const host of ['eng-1', 'eng-2', 'eng-3'])
      expect(await readlink(join(dir, 'hosts', host, 'app', 'current'))).toBe('releases/1.0.1');
  });
});
