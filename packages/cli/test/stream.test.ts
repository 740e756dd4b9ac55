/**
 * The CLI's output stream on a real pipe (a FIFO) whose reader first does not read, then reads
 * slowly, or goes away: the event loop never waits for it, a reader that falls behind loses
 * lines (and is told), and one that is gone ends the output without an error.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutputStream } from '../src/stream.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A FIFO with a reader that runs `script` with the FIFO on fd 3 (opened at once). */
async function fifo(script: string) {
  const dir = await mkdtemp(join(tmpdir(), 'rm-stream-'));
  dirs.push(dir);
  const path = join(dir, 'fifo');
  await new Promise((r) => spawn('mkfifo', [path]).on('close', r));
  const reader = spawn('sh', ['-c', `exec 3<"$0"; ${script}`, path], { cwd: dir, stdio: 'ignore' });
  const done = new Promise((r) => reader.on('close', r));
  const fd = openSync(path, 'w');
  return { dir, fd, done };
}

describe('OutputStream', () => {
  it('never blocks on a reader that does not read, and says how many lines it dropped', async () => {
    const { dir, fd, done } = await fifo('sleep 1; cat <&3 > out');
    const stream = new OutputStream(fd);
    const line = `${'x'.repeat(99)}\n`;
    // 3 MB while the reader sleeps: far more than a pipe holds. A blocking write would wait for
    // the reader and deliver every line; this one returns at once and drops what is too much.
    for (let i = 0; i < 30_000; i++) stream.write(line);
    await stream.flush(10_000);
    // Once it caught up, the next line says what it missed.
    stream.write('last\n');
    await stream.flush(10_000);
    closeSync(fd);
    await done;
    const out = await readFile(join(dir, 'out'), 'utf8');
    const lines = out.trimEnd().split('\n');
    expect(lines.length).toBeLessThan(30_000);
    expect(lines.length).toBeGreaterThan(10_000);
    expect(out).toMatch(/… \d+ line\(s\) not shown: the reader was not keeping up\nlast\n$/);
  });

  it('a reader that is gone (EPIPE) ends the output, not the process', async () => {
    const { fd, done } = await fifo('exec 3<&-');
    await done;
    const stream = new OutputStream(fd);
    stream.write('nobody reads this\n');
    await stream.flush(5000);
    expect(stream.closed).toBe(true);
    stream.write('nor this\n');
    closeSync(fd);
  });
});
