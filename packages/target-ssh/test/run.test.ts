import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ssh } from '../src/index.js';
import { sleep } from '../src/util/sleep.js';
import { type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab(2);
});
afterAll(async () => {
  await lab?.stop();
});

describe('run', () => {
  it('passes hostile arguments through faithfully, never to a shell', async () => {
    const target = lab.target();
    const args = ['a;b', '$(id)', "it's", 'new\nline', '`uname`', '*', '> /tmp/x', '--', ' lead'];
    const result = await target.run('host-1', ['printf', '[%s]', ...args]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(args.map((a) => `[${a}]`).join(''));
  });

  it('returns the exit code and stderr of a failing command without throwing', async () => {
    const target = lab.target();
    const result = await target.run('host-2', ['sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(result).toEqual({ exitCode: 7, stdout: 'out\n', stderr: 'err\n' });
  });

  it('runs in the host: each host sees its own /opt', async () => {
    const target = lab.target();
    await target.run('host-1', ['touch', '/opt/only-on-1']);
    expect((await target.run('host-1', ['ls', '/opt'])).stdout).toContain('only-on-1');
    expect((await target.run('host-2', ['ls', '/opt'])).stdout).not.toContain('only-on-1');
  });

  it('runs many commands at once on one connection, bounded by channelsPerHost', async () => {
    const target = lab.target({ channelsPerHost: 4 });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => target.run('host-1', ['echo', String(i)])),
    );
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(await target.openConnections()).toBe(1);
  });

  it('reconnects after the connection was closed', async () => {
    const target = lab.target();
    await target.run('host-1', ['true']);
    await target.close();
    expect((await target.run('host-1', ['echo', 'again'])).stdout).toBe('again\n');
  });

  it('reopens one connection when the old one dropped, however many commands notice at once', async () => {
    const target = lab.target();
    await target.run('host-2', ['true']);
    // Kill the session process serving our connection (not the listener).
    const { readFile } = await import('node:fs/promises');
    for (const pid of await lab.lab.pidsOf('host-2')) {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes('root@notty')) process.kill(pid, 'SIGKILL');
    }
    for (let i = 0; i < 100 && (await target.openConnections()) > 0; i++) await sleep(20);
    expect(await target.openConnections()).toBe(0);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => target.run('host-2', ['echo', 'back'])),
    );
    expect(results.every((r) => r.stdout === 'back\n')).toBe(true);
    expect(await target.openConnections()).toBe(1);
  });

  it('refuses an unknown host and a bad argv before connecting', async () => {
    const target = lab.target();
    const unknown = await rejectionOf(target.run('db-9', ['true']));
    expect(unknown.code).toBe('TARGET');
    expect(unknown.message).toContain('db-9');
    expect((await rejectionOf(target.run('host-1', []))).code).toBe('UNSAFE_INPUT');
    expect((await rejectionOf(target.run('host-1', ['echo', 'a\0b']))).code).toBe('UNSAFE_INPUT');
    expect(await target.openConnections()).toBe(0);
  });
});

describe('options', () => {
  it('building a target does nothing: no connection, no file read', async () => {
    const target = ssh({
      hosts: [{ name: 'web-1', address: '127.0.0.1', port: 1 }],
      privateKey: '/nonexistent/key',
      knownHosts: ['/nonexistent/known_hosts'],
    });
    expect(target.hosts).toEqual([{ name: 'web-1', address: '127.0.0.1' }]);
    expect(await target.openConnections()).toBe(0);
    const error = await rejectionOf(target.run('web-1', ['true']));
    expect(error.message).toContain('/nonexistent/key');
  });

  it('rejects bad options with a ConfigError naming the option path', () => {
    const base = { hosts: [{ name: 'web-1' }], privateKey: '/k' };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...base, hosts: [{ name: 'web-1', port: 70000 }] }, 'hosts[0].port'],
      [{ ...base, hosts: [{ name: 'web 1;rm' }] }, 'hosts[0].name'],
      [{ ...base, hosts: [{ name: 'a' }, { name: 'a' }] }, 'hosts'],
      [{ ...base, services: ['web;reboot'] }, 'services[0]'],
      [{ ...base, tmpDir: '/tmp/../etc' }, 'tmpDir'],
      [{ ...base, tmpDir: '/tmp/x y' }, 'tmpDir'],
      [{ ...base, installMode: 'rsync' }, 'installMode'],
      [{ ...base, hooks: { beforeInstall: [] } }, 'hooks.beforeInstall'],
      [{ ...base, healthCheck: { url: 'ftp://x' } }, 'healthCheck'],
      [{ hosts: [{ name: 'web-1' }] }, 'privateKey'],
    ];
    for (const [options, path] of cases) {
      let error: unknown;
      try {
        ssh(options as never);
      } catch (e) {
        error = e;
      }
      expect(error, path).toMatchObject({ code: 'CONFIG' });
      expect((error as Error).message, path).toContain(path);
    }
  });
});
