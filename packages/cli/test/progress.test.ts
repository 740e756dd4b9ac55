/** The terminal progress line: unit-tested on records, and seen through a real pseudo-terminal. */

import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TypedRecord } from '@ringmaster/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgressLine } from '../src/progress.js';
import { projectBase, repo } from './helpers.js';

const rec = (type: string, data: Record<string, unknown>) =>
  ({ seq: 1, time: '', type, data }) as unknown as TypedRecord;

describe('ProgressLine', () => {
  it('redraws one line per rollout with hosts done over hosts, and stands in for the hosts that went fine', () => {
    let screen = '';
    const line = new ProgressLine({
      write: (t) => {
        screen += t;
      },
    });
    expect(
      line.handle(
        rec('rollout.started', {
          rollout: 'prod#1',
          ring: 'prod',
          release: '1.0.2',
          kind: 'deploy',
          batches: [['a'], ['b'], ['c'], ['d']],
        }),
      ),
    ).toBe(false);
    line.draw();
    expect(screen).toContain('0/4 prod 1.0.2');
    expect(line.handle(rec('host.finished', { rollout: 'prod#1', ok: true }))).toBe(true);
    expect(line.handle(rec('host.finished', { rollout: 'prod#1', ok: false }))).toBe(false);
    line.draw();
    expect(screen.slice(screen.lastIndexOf('\r'))).toBe(
      `\r\x1b[2K[${'█'.repeat(10)}${'░'.repeat(10)}] 2/4 prod 1.0.2 (1 failed)`,
    );
    line.handle(rec('rollout.finished', { rollout: 'prod#1' }));
    const before = screen.length;
    line.draw();
    expect(screen.slice(before)).toBe('\r\x1b[2K');
  });
});

describe('ringmaster watch on a terminal', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await projectBase('cli-tty-');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('draws the progress line under a real pseudo-terminal, and plain host lines without one', {
    timeout: 60_000,
  }, async () => {
    await writeFile(
      join(dir, 'ringmaster.config.mjs'),
      `import { localRepository, localTarget, memorySource, pipeline, tarball } from '@ringmaster/core';
       export default { pipelines: [pipeline({
         name: 'app', source: memorySource({ commits: [{ files: { a: '1' }, message: 'one' }] }),
         packager: tarball({ name: 'app' }), repository: localRepository({ dir: 'repo' }),
         rings: [{ name: 'eng', target: localTarget({ root: 'hosts', hosts: ['e1', 'e2', 'e3'] }) }],
       })] };`,
    );
    const bin = join(repo, 'packages/cli/dist/bin.js');
    const run = (argv: string[]) =>
      new Promise<string>((resolve) => {
        const p = spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        p.stdout.on('data', (c) => (out += c));
        p.on('close', () => resolve(out));
      });
    // `script` runs the command on a pseudo-terminal, as a person's shell would.
    const tty = await run(['script', '-qec', `${process.execPath} ${bin} watch --once`, '/dev/null']);
    expect(tty).toContain('3/3 eng 1.0.1');
    expect(tty).toContain('\x1b[2K');
    expect(tty).not.toContain('✔ e1');
    await rm(join(dir, '.ringmaster'), { recursive: true, force: true });
    await rm(join(dir, 'hosts'), { recursive: true, force: true });
    await rm(join(dir, 'repo'), { recursive: true, force: true });
    const plain = await run([process.execPath, bin, 'watch', '--once']);
    expect(plain).toContain('✔ e1 runs 1.0.1');
    expect(plain).not.toContain('\x1b[2K');
  });
});
