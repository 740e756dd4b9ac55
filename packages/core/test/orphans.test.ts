/**
 * No orphans: an engine (a real child process) is SIGKILLed while a build step or a runner gate
 * runs; the step's process group lives on. The next engine, at start-up, kills that group —
 * leader and child — records it, and runs the step again in a directory of its own.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileStore, type TypedRecord } from '../src/index.js';
import { fixtureScript, runChild } from './child.js';

const child = fixtureScript('orphan-child');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Alive and not a zombie. */
async function running(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const runEngine = (dir: string, mode: string, killWhen?: () => boolean) =>
  runChild(child.script(), [dir, mode], {
    env: { HANG: join(dir, 'hang'), PIDS: join(dir, 'pids') },
    ...(killWhen ? { killWhen } : {}),
  });

describe('orphans of a killed engine', () => {
  for (const mode of ['build', 'gate'] as const) {
    it(`a ${mode} step left running is killed (leader and child) before it runs again`, async () => {
      const dir = join(child.root(), mode);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'hang'), '');
      const killed = await runEngine(dir, mode, () => existsSync(join(dir, 'pids')));
      expect(killed.signal).toBe('SIGKILL');
      const [leader, sleeper] = (await readFile(join(dir, 'pids'), 'utf8')).trim().split(' ').map(Number);
      // The engine is gone; its step is not.
      expect(await running(leader!)).toBe(true);
      expect(await running(sleeper!)).toBe(true);

      await rm(join(dir, 'hang'));
      const next = await runEngine(dir, mode);
      expect(next.stderr).toBe('');
      expect(next.stdout).toContain('DONE');
      for (let i = 0; i < 100 && ((await running(leader!)) || (await running(sleeper!))); i++)
        await sleep(50);
      expect(await running(leader!)).toBe(false);
      expect(await running(sleeper!)).toBe(false);

      const records = (await fileStore({ dir: join(dir, 'ledger') }).read()) as TypedRecord[];
      const reaped = records.flatMap((r) => (r.type === 'process.reaped' ? [r.data] : []));
      expect(reaped.map((r) => [r.process.pid, r.step.kind, r.outcome])).toEqual([[leader, mode, 'killed']]);
      const started = records.flatMap((r) => (r.type === 'process.started' ? [r.data] : []));
      expect(started.map((r) => r.process.pid)).toContain(leader);
      if (mode === 'build') {
        expect(records.flatMap((r) => (r.type === 'build.started' ? [r.data.attempt] : []))).toEqual([1, 2]);
        // The dead attempt's directory is gone; the second ran in its own.
        expect(await readdir(join(dir, 'work', 'app', 'builds'))).toEqual([]);
      } else {
        expect(
          records.flatMap((r) => (r.type === 'gate.finished' ? [[r.data.gate, r.data.ok]] : [])),
        ).toEqual([['unit', true]]);
      }
      expect(records.some((r) => r.type === 'ring.verified')).toBe(true);
    });
  }
});
