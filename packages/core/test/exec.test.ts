/** The safe command runner and the validators that guard the SSH boundary. */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertMatches, isRingmasterError, PACKAGE_VERSION, runCommand, shellJoin } from '../src/adapter.js';
import { identify, reapGroup } from '../src/exec/process-group.js';

describe('runCommand', () => {
  it('runs argv without a shell: metacharacters arrive as plain bytes', async () => {
    const r = await runCommand(['printf', '%s', '$(id); `id` | & > x']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('$(id); `id` | & > x');
    expect(r.truncated).toBe(false);
  });

  it('kills the whole process group at the timeout', async () => {
    const r = await runCommand(['sh', '-c', 'sleep 30 & sleep 30'], { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).not.toBe(0);
  });

  it('keeps the tail of long output and says it was cut', async () => {
    const r = await runCommand(['sh', '-c', 'seq 1 100000'], { maxOutputBytes: 1000 });
    expect(r.truncated).toBe(true);
    expect(r.stdout.trimEnd().endsWith('100000')).toBe(true);
    expect(r.stdout.length).toBeLessThan(1100);
  });

  it('a command that cannot start is a COMMAND error naming it', async () => {
    const error = await runCommand(['no-such-program-xyz']).catch((e: unknown) => e);
    expect(isRingmasterError(error, 'COMMAND')).toBe(true);
    expect((error as Error).message).toContain('no-such-program-xyz');
  });
});

describe('validators at the SSH boundary', () => {
  it('accepts versions as dpkg does and refuses the rest', () => {
    for (const ok of ['1.0', '1.0-1', '2:1.0~rc1-0ubuntu1', '1:1.0:1', '0.0.0+20261128.abc', '1.0-1-2']) {
      expect(PACKAGE_VERSION.test(ok), ok).toBe(true);
    }
    for (const bad of ['1.0-', '1.0:1', 'a1.0', '1.0;rm -rf /', '$(id)', '1.0 1', '', ':1.0', '1:']) {
      expect(PACKAGE_VERSION.test(bad), bad).toBe(false);
    }
  });

  it('quotes arguments so a remote shell sees exactly one word each', async () => {
    const argv = ['printf', '%s|', "it's", '$(id)', 'a b', ''];
    const r = await runCommand(['sh', '-c', shellJoin(argv)]);
    expect(r.stdout).toBe("it's|$(id)|a b||");
    expect(() => assertMatches('1.0;touch /tmp/x', PACKAGE_VERSION, 'version')).toThrow(
      /version "1.0;touch \/tmp\/x" is not allowed/,
    );
  });
});

describe('reaping a recorded process group', () => {
  it('kills only what is really ours: a reused pid, another machine or a dead group are left alone', async () => {
    let pid = 0;
    let started: () => void = () => {};
    const ready = new Promise<void>((r) => {
      started = r;
    });
    const run = runCommand(['sh', '-c', 'sleep 30 & wait'], {
      timeoutMs: 20_000,
      beforeStart: async (p) => {
        pid = p;
        started();
      },
    });
    await ready;
    expect(pid).toBeGreaterThan(0);
    const identity = (await identify(pid))!;
    expect(identity.pid).toBe(pid);
    // The same pid with another start time is someone else's process.
    expect(await reapGroup({ ...identity, startTicks: identity.startTicks + 1 })).toBe('not ours');
    expect(await reapGroup({ ...identity, hostname: 'another-runner.invalid' })).toBe('elsewhere');
    expect(await reapGroup({ ...identity, bootId: 'another-boot' })).toBe('elsewhere');
    expect((await runCommand(['kill', '-0', String(pid)])).exitCode).toBe(0);
    expect(await reapGroup(identity)).toBe('killed');
    const r = await run;
    expect(r.signal).toBe('SIGKILL');
    expect(await reapGroup(identity)).toBe('gone');
  });
});

describe('a held command', () => {
  it('does not run when it cannot be recorded first, and a missing one still reads "cannot run"', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rm-held-'));
    const marker = join(dir, 'ran');
    const refused = await runCommand(['touch', marker], {
      beforeStart: async () => {
        throw new Error('ENOSPC: the ledger is full');
      },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((refused as Error).message).toContain('ENOSPC');
    await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(marker)).toBe(false);
    const missing = await runCommand(['no-such-tool-42'], { beforeStart: async () => {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRingmasterError(missing, 'COMMAND')).toBe(true);
    expect((missing as Error).message).toContain('cannot run no-such-tool-42');
    const ran = await runCommand(['touch', marker], { beforeStart: async () => {} });
    expect(ran.exitCode).toBe(0);
    expect(existsSync(marker)).toBe(true);
    await rm(dir, { recursive: true, force: true });
  });
});
