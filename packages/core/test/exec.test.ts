/** The safe command runner and the validators that guard the SSH boundary. */
import { describe, expect, it } from 'vitest';
import { assertMatches, isRingmasterError, PACKAGE_VERSION, runCommand, shellJoin } from '../src/adapter.js';

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
