/**
 * The upload: the package travels on the install command's stdin (no SFTP), checked on the host
 * before dpkg sees it. A full tmpDir, a host that stops reading, a hash tool that is missing or
 * lies, an artifact whose file changed, and a file too large to hold in memory (streamed).
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sshOptionsSchema } from '../src/options.js';
import { ConnectionPool } from '../src/pool.js';
import { Remote } from '../src/remote.js';
import { sleep } from '../src/util/sleep.js';
import { buildDeb, type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
beforeAll(async () => {
  // One host per test, so the tests run concurrently and their mounts do not meet.
  lab = await startLab(8);
}, 120_000);
afterAll(async () => {
  await lab?.stop();
});

const hostPid = (name: string) => lab.lab.hosts.find((h) => h.name === name)!.pid;

/** Runs a shell line in the host's mount namespace (as the host's root sees its files). */
async function onHost(name: string, script: string): Promise<void> {
  const r = await runCommand(['nsenter', '--target', String(hostPid(name)), '--mount', 'sh', '-c', script], {
    timeoutMs: 30_000,
  });
  if (r.exitCode !== 0) throw new Error(`on ${name}: ${script}: ${r.stderr}`);
}

/** Makes the host's `dd` (which receives the upload) wait `seconds` before it reads anything. */
async function slowReceiver(name: string, seconds: number): Promise<void> {
  await copyFile('/usr/bin/dd', join(lab.lab.rootOf(name), 'tmp', 'dd.real'));
  const wrapper = join(lab.lab.rootOf(name), 'tmp', 'slow-dd');
  await writeFile(wrapper, `#!/bin/sh\nsleep ${seconds}\nexec /tmp/dd.real "$@"\n`);
  await chmod(wrapper, 0o755);
  await onHost(name, 'mount --bind /tmp/slow-dd /usr/bin/dd');
}

const leftIn = async (host: string, dir: string) =>
  (await readdir(join(lab.lab.rootOf(host), dir))).filter((f) => f.startsWith('ringmaster-'));

describe.concurrent('the upload', () => {
  it('a full tmpDir: the upload fails with the host\'s "No space left", nothing is left there, nothing installed', async () => {
    await onHost('host-1', 'mkdir -p /tmp/tiny && mount -t tmpfs -o size=1m tmpfs /tmp/tiny');
    const target = lab.target({ tmpDir: '/tmp/tiny' });
    const artifact = await buildDeb(lab.work, { name: 'rm-up-full', version: '1.0', payloadBytes: 4 << 20 });
    const error = await rejectionOf(target.install('host-1', artifact));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('host-1');
    expect(error.message).toContain('uploading rm-up-full 1.0 to /tmp/tiny failed');
    expect(error.message).toMatch(/No space left on device|cut short/);
    const seen = await runCommand(
      ['nsenter', '--target', String(hostPid('host-1')), '--mount', 'ls', '-A', '/tmp/tiny'],
      { timeoutMs: 10_000 },
    );
    expect(seen.stdout).toBe('');
    expect(await target.installed('host-1', 'rm-up-full')).toBeUndefined();
    // The connection survives a failed upload.
    expect((await target.run('host-1', ['echo', 'still here'])).stdout).toBe('still here\n');
  });

  it('a host that stops reading: TIMEOUT after uploadMs (a package smaller than the SSH window too), and nothing of it is installed once the host moves again', async () => {
    await slowReceiver('host-2', 3);
    const target = lab.target({ timeouts: { uploadMs: 1000 } });
    // 200 kB: the channel takes all of it at once; only the host's word ends the upload.
    const artifact = await buildDeb(lab.work, { name: 'rm-up-stall', version: '1.0', payloadBytes: 200_000 });
    const started = Date.now();
    const error = await rejectionOf(target.install('host-2', artifact));
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toContain('host-2');
    expect(error.message).toContain('the upload did not finish within 1000 ms');
    expect(Date.now() - started).toBeLessThan(3000); // we did not wait for the host's dd
    // The host's dd wakes, reads what had reached it, and the script finds no go: it stops there.
    let left = await leftIn('host-2', 'tmp');
    for (let i = 0; i < 100 && left.length > 0; i++) {
      await sleep(100);
      left = await leftIn('host-2', 'tmp');
    }
    expect(left).toEqual([]);
    expect(await target.installed('host-2', 'rm-up-stall')).toBeUndefined();
  });

  it('uploadMs bounds only the upload: a postinst slower than it still installs', async () => {
    const target = lab.target({ timeouts: { uploadMs: 1000 } });
    const artifact = await buildDeb(lab.work, {
      name: 'rm-up-slowpost',
      version: '1.0',
      postinst: 'sleep 2.5',
    });
    await target.install('host-7', artifact);
    expect(await target.installed('host-7', 'rm-up-slowpost')).toEqual({
      version: '1.0',
      status: 'installed',
    });
  });

  it('installMs starts once the upload is delivered: an upload slower than it still installs', async () => {
    await slowReceiver('host-8', 2);
    const target = lab.target({ timeouts: { installMs: 1000 } });
    const artifact = await buildDeb(lab.work, { name: 'rm-up-slowup', version: '1.0' });
    await target.install('host-8', artifact);
    expect(await target.installed('host-8', 'rm-up-slowup')).toEqual({ version: '1.0', status: 'installed' });
  });

  it('without a working openssl the host checks with sha256sum: installs, and a corrupted upload is still refused', async () => {
    const broken = join(lab.lab.rootOf('host-3'), 'tmp', 'no-openssl');
    await writeFile(broken, '#!/bin/sh\necho "openssl: not here" >&2\nexit 127\n');
    await chmod(broken, 0o755);
    await onHost('host-3', 'mount --bind /tmp/no-openssl /usr/bin/openssl');
    const target = lab.target();
    const artifact = await buildDeb(lab.work, { name: 'rm-up-nossl', version: '1.0' });
    await target.install('host-3', artifact);
    expect(await target.installed('host-3', 'rm-up-nossl')).toEqual({ version: '1.0', status: 'installed' });
    // Streamed (not held here), so the wrong sum meets the host's check, not ours.
    const streamed = lab.target({ uploadCacheBytes: 0 });
    const other = await buildDeb(lab.work, { name: 'rm-up-nossl2', version: '1.0' });
    const error = await rejectionOf(streamed.install('host-3', { ...other, sha256: 'a'.repeat(64) }));
    expect(error.message).toContain('checking the sha256 of the upload failed');
    expect(error.message).toContain(`sha256 of the upload is ${other.sha256}`);
    expect(await target.installed('host-3', 'rm-up-nossl2')).toBeUndefined();
  });

  it('an openssl that lies cannot get a package past the check', async () => {
    const liar = join(lab.lab.rootOf('host-4'), 'tmp', 'lying-openssl');
    await writeFile(liar, `#!/bin/sh\ncat >/dev/null\necho "${'0'.repeat(64)} *stdin"\n`);
    await chmod(liar, 0o755);
    await onHost('host-4', 'mount --bind /tmp/lying-openssl /usr/bin/openssl');
    const target = lab.target();
    const artifact = await buildDeb(lab.work, { name: 'rm-up-liar', version: '1.0' });
    const error = await rejectionOf(target.install('host-4', artifact));
    expect(error.message).toContain('checking the sha256 of the upload failed');
    expect(await target.installed('host-4', 'rm-up-liar')).toBeUndefined();
    expect(await leftIn('host-4', 'tmp')).toEqual([]);
  });

  it('an artifact whose file changed after it was built is refused before anything is sent; a rebuilt file is sent anew', async () => {
    const target = lab.target();
    const first = await buildDeb(lab.work, { name: 'rm-up-same', version: '1.0' });
    const error = await rejectionOf(target.install('host-5', { ...first, size: first.size + 1 }));
    expect(error.message).toContain(`has ${first.size} bytes, the artifact says ${first.size + 1}`);
    // The same size, another sha256: refused here, once, not as a corrupted transfer on every host.
    const forged = await rejectionOf(target.install('host-5', { ...first, sha256: 'b'.repeat(64) }));
    expect(forged.message).toContain(`has sha256 ${first.sha256}, the artifact says ${'b'.repeat(64)}`);
    expect(await target.openConnections()).toBe(0);
    await target.install('host-5', first);
    // The same path, rebuilt with other content: the shared copy of the old bytes is not reused.
    const second = await buildDeb(lab.work, { name: 'rm-up-same', version: '1.0', payloadBytes: 1000 });
    expect(second.file).toBe(first.file);
    expect(second.sha256).not.toBe(first.sha256);
    await target.install('host-5', second);
    const payload = await runCommand(
      [
        'nsenter',
        '--target',
        String(hostPid('host-5')),
        '--mount',
        'stat',
        '-c',
        '%s',
        '/opt/rm-up-same/payload',
      ],
      { timeoutMs: 10_000 },
    );
    expect(payload.stdout.trim()).toBe('1000');
  });

  it('uploadCacheBytes: 0 streams the package from disk to the host, which still checks it', async () => {
    const target = lab.target({ uploadCacheBytes: 0 });
    const artifact = await buildDeb(lab.work, {
      name: 'rm-up-stream',
      version: '1.0',
      payloadBytes: 3 << 20,
    });
    await target.install('host-6', artifact);
    expect(await target.installed('host-6', 'rm-up-stream')).toEqual({ version: '1.0', status: 'installed' });
    const other = await buildDeb(lab.work, { name: 'rm-up-stream2', version: '1.0' });
    const error = await rejectionOf(target.install('host-6', { ...other, sha256: 'c'.repeat(64) }));
    expect(error.message).toContain('checking the sha256 of the upload failed');
    expect(await target.installed('host-6', 'rm-up-stream2')).toBeUndefined();
  });

  it('streams a file from disk (as for packages too large to hold) and a Buffer, byte for byte', async () => {
    const host = lab.lab.hosts.find((h) => h.name === 'host-6')!;
    const options = sshOptionsSchema.parse({
      hosts: [{ name: host.name, address: host.address, port: host.port, user: 'root' }],
      privateKey: lab.lab.clientKeyFile,
      knownHosts: [lab.lab.knownHostsFile],
    });
    const pool = new ConnectionPool(options);
    try {
      const remote = new Remote(options.hosts[0]!, pool, options);
      const bytes = Buffer.alloc(3 * 1024 * 1024 + 17);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >> 12)) & 0xff;
      const file = join(lab.work, 'stream-me.bin');
      await writeFile(file, bytes);
      const sum = createHash('sha256').update(bytes).digest('hex');
      for (const upload of [{ file, size: bytes.length }, bytes]) {
        const r = await remote.runWithUpload(['sha256sum'], upload, 'sha256sum');
        expect(r.exitCode).toBe(0);
        expect(r.stdout.split(' ')[0]).toBe(sum);
      }
      // A missing file fails the upload with the reason, not a hang.
      const missing = await rejectionOf(
        remote.runWithUpload(['cat'], { file: join(lab.work, 'nope'), size: 10 }, 'cat'),
      );
      expect(missing.message).toContain('the upload failed');
      expect(missing.message).toContain('ENOENT');
    } finally {
      await pool.closeAll();
    }
  });
});
