import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
beforeAll(async () => {
  // DEBUG1 makes sshd log each forwarded (direct-tcpip) channel it opens.
  lab = await startLab(3, ['LogLevel DEBUG1']);
});
afterAll(async () => {
  await lab?.stop();
});

const bastionLog = () => readFile(join(lab.lab.rootOf('host-1'), 'ssh', 'sshd.log'), 'utf8');

describe('through a bastion', () => {
  it('deploys to hosts behind a jump host: one tunnel per host through one bastion connection', async () => {
    const [bastion, ...behind] = lab.lab.hosts;
    const target = lab.target({
      hosts: behind.map((h) => ({ name: h.name, address: h.address, port: h.port, user: 'root' })),
      jumpHost: { name: bastion!.name, address: bastion!.address, port: bastion!.port, user: 'root' },
    });
    const artifact = await buildDeb(lab.work, { name: 'rm-behind', version: '3.0' });
    await Promise.all(behind.map((h) => target.install(h.name, artifact)));
    for (const h of behind) expect((await target.installed(h.name, 'rm-behind'))?.version).toBe('3.0');
    expect(await target.installed('host-1', 'rm-behind').catch((e: Error) => e.message)).toContain(
      'no such host',
    );
    const log = await bastionLog();
    for (const h of behind)
      expect(log).toMatch(new RegExp(`direct_tcpip: .*target 127\\.0\\.0\\.1 port ${h.port}$`, 'm'));
    // Two hosts and the bastion.
    expect(await target.openConnections()).toBe(3);
    await target.close();
    expect(await target.openConnections()).toBe(0);
  });

  it('checks the inner hosts keys too (HOST_KEY through the tunnel)', async () => {
    const [bastion, inner] = lab.lab.hosts;
    const bastionLine = (await readFile(lab.lab.knownHostsFile, 'utf8')).split('\n')[0]!;
    const { writeFile } = await import('node:fs/promises');
    const file = join(lab.work, 'bastion_only_known_hosts');
    await writeFile(file, `${bastionLine}\n`);
    const target = lab.target({
      hosts: [{ name: inner!.name, address: inner!.address, port: inner!.port, user: 'root' }],
      jumpHost: { name: bastion!.name, address: bastion!.address, port: bastion!.port, user: 'root' },
      knownHosts: [file],
    });
    const error = await rejectionOf(target.run(inner!.name, ['true']));
    expect(error.code).toBe('HOST_KEY');
    expect(error.message).toContain(inner!.name);
  });

  it('a bastion that is down fails every host behind it with TARGET naming the host', async () => {
    const [bastion, inner] = lab.lab.hosts;
    await lab.lab.kill(bastion!.name);
    const target = lab.target({
      hosts: [{ name: inner!.name, address: inner!.address, port: inner!.port, user: 'root' }],
      jumpHost: { name: bastion!.name, address: bastion!.address, port: bastion!.port, user: 'root' },
    });
    const error = await rejectionOf(target.run(inner!.name, ['true']));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain(bastion!.name);
    // Directly, the same host still answers: the failure was the bastion.
    const direct = lab.target({ hosts: [{ name: inner!.name, address: inner!.address, port: inner!.port }] });
    expect((await direct.run(inner!.name, ['true'])).exitCode).toBe(0);
  });
});
