import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { runCommand } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../src/util/sleep.js';
import { buildDeb, type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
beforeAll(async () => {
  // One host per test where it matters, so the tests run concurrently.
  lab = await startLab(5);
});
afterAll(async () => {
  await lab?.stop();
});

const uploads = async (host: string) =>
  (await readdir(join(lab.lab.rootOf(host), '/tmp'))).filter((f) => f.startsWith('ringmaster-'));

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function cmdlines(host: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await lab.lab.pidsOf(host)) {
    try {
      out.push((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' '));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

describe.concurrent('faults', () => {
  it('auth failure: TARGET naming the host, never the passphrase', async () => {
    const key = join(lab.work, 'stranger_key');
    const passphrase = 'correct horse battery staple';
    await runCommand(['ssh-keygen', '-q', '-a', '1', '-t', 'ed25519', '-N', passphrase, '-f', key]);
    const target = lab.target({ privateKey: key, passphrase });
    const error = await rejectionOf(target.run('host-1', ['true']));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('host-1');
    expect(error.message).toContain('authentication failed');
    expect(error.message).not.toContain(passphrase);
    expect(JSON.stringify(error.details)).not.toContain(passphrase);
    expect(await target.openConnections()).toBe(0);

    const wrong = lab.target({ privateKey: key, passphrase: 'not-the-passphrase-42' });
    const bad = await rejectionOf(wrong.run('host-1', ['true']));
    expect(bad.code).toBe('TARGET');
    expect(bad.message).toContain('passphrase');
    expect(bad.message).not.toContain('not-the-passphrase-42');
  });

  it('port closed / host down: TARGET naming the host and address', async () => {
    const port = await closedPort();
    const target = lab.target({
      hosts: [
        { name: 'down-1', address: '127.0.0.1', port },
        { name: 'host-1', address: '127.0.0.1', port: lab.lab.hosts[0]!.port },
      ],
    });
    const error = await rejectionOf(target.run('down-1', ['true']));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('down-1');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toContain('refused');
    expect((await target.run('host-1', ['true'])).exitCode).toBe(0);
  });

  it('a failing postinst: TARGET with the dpkg command and its stderr tail; temp file removed', async () => {
    const target = lab.target();
    const artifact = await buildDeb(lab.work, {
      name: 'rm-broken',
      version: '1.0',
      postinst: 'echo "postinst: cannot bind port 8080" >&2\nexit 1',
    });
    const error = await rejectionOf(target.install('host-2', artifact));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('host-2');
    expect(error.message).toContain('dpkg -i');
    expect(error.message).toContain('postinst: cannot bind port 8080');
    expect(await uploads('host-2')).toEqual([]);
    // Half-configured is neither installed nor absent: the host's true state, as dpkg says it.
    expect(await target.installed('host-2', 'rm-broken')).toEqual({
      version: '1.0',
      status: 'half-configured',
      detail: 'half-configured',
    });
    expect(await target.openConnections()).toBe(1);
  });

  it('a corrupted upload (checksum mismatch) is refused before dpkg runs: by us for a package we hold, by the host for one streamed', async () => {
    const artifact = await buildDeb(lab.work, { name: 'rm-corrupt', version: '1.0' });
    const held = await rejectionOf(lab.target().install('host-4', { ...artifact, sha256: '0'.repeat(64) }));
    expect(held.code).toBe('TARGET');
    expect(held.message).toContain(`has sha256 ${artifact.sha256}, the artifact says ${'0'.repeat(64)}`);
    const target = lab.target({ uploadCacheBytes: 0 });
    const error = await rejectionOf(target.install('host-4', { ...artifact, sha256: '0'.repeat(64) }));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('checking the sha256 of the upload failed');
    expect(error.message).toContain(`sha256 of the upload is ${artifact.sha256}`);
    expect(await target.installed('host-4', 'rm-corrupt')).toBeUndefined();
    expect(await uploads('host-4')).toEqual([]);
  });

  it('a command that hangs: TIMEOUT after the timeout, and the command is killed on the host', async () => {
    const target = lab.target();
    const error = await rejectionOf(target.run('host-5', ['sleep', '77'], { timeoutMs: 500 }));
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toContain('host-5');
    expect(error.message).toContain('sleep 77');
    expect(error.message).toContain('500 ms');
    let left = await cmdlines('host-5');
    for (let i = 0; i < 100 && left.some((c) => c.includes('sleep 77')); i++) {
      await sleep(100);
      left = await cmdlines('host-5');
    }
    expect(left.filter((c) => c.includes('sleep 77'))).toEqual([]);
    // The connection survives a timed-out command.
    expect((await target.run('host-5', ['echo', 'still here'])).stdout).toBe('still here\n');
  });

  it('sshd killed mid-upload: TARGET naming the host, no connection left open', async () => {
    const target = lab.target({ timeouts: { connectMs: 3000 } });
    const big = await buildDeb(lab.work, { name: 'rm-big', version: '1.0', payloadBytes: 32 * 1024 * 1024 });
    const install = rejectionOf(target.install('host-3', big));
    let seen = false;
    for (let i = 0; i < 2000 && !seen; i++) {
      seen = (await uploads('host-3')).length > 0;
      if (!seen) await sleep(5);
    }
    expect(seen).toBe(true);
    await lab.lab.kill('host-3');
    const error = await install;
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('host-3');
    expect(await target.openConnections()).toBe(0);
    expect(await target.installed('host-1', 'rm-big')).toBeUndefined();
  });
});
