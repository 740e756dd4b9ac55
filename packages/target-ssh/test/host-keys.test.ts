import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashHostName, parseKnownHosts, ssh, verifyHostKey } from '../src/index.js';
import { startTestHosts } from '../src/testing/index.js';
import { type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab(2);
});
afterAll(async () => {
  await lab?.stop();
});

/** OpenSSH's own fingerprint of the host's key, e.g. `SHA256:abc…`. */
async function fingerprintOf(host: string): Promise<string> {
  const pub = join(lab.lab.rootOf(host), 'ssh', 'ssh_host_ed25519_key.pub');
  const out = await runCommand(['ssh-keygen', '-l', '-E', 'sha256', '-f', pub]);
  return out.stdout.split(/\s+/)[1]!;
}

/** Successful logins in the host's sshd log (to prove a refusal came before authentication). */
async function acceptedLogins(host: string): Promise<number> {
  const log = await readFile(join(lab.lab.rootOf(host), 'ssh', 'sshd.log'), 'utf8');
  return log.split('\n').filter((l) => l.includes('Accepted publickey')).length;
}

async function knownHostsFile(content: string): Promise<string> {
  const dir = await mkdtemp(join(lab.work, 'kh-'));
  const file = join(dir, 'known_hosts');
  await writeFile(file, content);
  return file;
}

const portOf = (host: string) => lab.lab.hosts.find((h) => h.name === host)!.port;

describe.concurrent('host keys', () => {
  it('refuses an unknown host with HOST_KEY before authenticating, naming host and fingerprint', async () => {
    const before = await acceptedLogins('host-2');
    const target = lab.target({ knownHosts: [await knownHostsFile('# nothing yet\n')] });
    const error = await rejectionOf(target.run('host-2', ['touch', '/opt/should-not-exist']));
    expect(error.code).toBe('HOST_KEY');
    expect(error.message).toContain('host-2');
    expect(error.message).toContain(await fingerprintOf('host-2'));
    expect(error.message).toContain('trustOnFirstUse');
    expect(await acceptedLogins('host-2')).toBe(before);
    expect(await target.openConnections()).toBe(0);
  });

  it('refuses a changed key with HOST_KEY, naming the key seen and the one expected', async () => {
    // host-1's key recorded under host-2's address: exactly what a reinstalled host looks like.
    const wrong = (await lab.lab.hostKeyOf('host-1')).trim();
    const target = lab.target({
      knownHosts: [await knownHostsFile(`[127.0.0.1]:${portOf('host-2')} ${wrong}\n`)],
    });
    const error = await rejectionOf(target.installed('host-2', 'dpkg'));
    expect(error.code).toBe('HOST_KEY');
    expect(error.message).toContain('host-2');
    expect(error.message).toContain(await fingerprintOf('host-2'));
    expect(error.message).toContain(await fingerprintOf('host-1'));
  });

  it('accepts hashed known_hosts entries (as written by ssh-keygen -H)', async () => {
    const file = await knownHostsFile(await readFile(lab.lab.knownHostsFile, 'utf8'));
    const hashed = await runCommand(['ssh-keygen', '-H', '-f', file]);
    expect(hashed.exitCode).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).toMatch(/^\|1\|/);
    expect(text).not.toContain('127.0.0.1');
    const target = lab.target({ knownHosts: [file] });
    expect((await target.run('host-1', ['echo', 'hashed ok'])).stdout).toBe('hashed ok\n');
    expect((await target.run('host-2', ['echo', 'hashed ok'])).stdout).toBe('hashed ok\n');
  });

  it('looks through several known_hosts files', async () => {
    const [one, two] = (await readFile(lab.lab.knownHostsFile, 'utf8')).trim().split('\n');
    const target = lab.target({
      knownHosts: [await knownHostsFile(`${one}\n`), await knownHostsFile(`${two}\n`)],
    });
    expect((await target.run('host-1', ['true'])).exitCode).toBe(0);
    expect((await target.run('host-2', ['true'])).exitCode).toBe(0);
  });

  it('trusts on first use only when asked, and records the key for next time', async () => {
    const file = await knownHostsFile('');
    const tofu = lab.target({ knownHosts: [file], trustOnFirstUse: true });
    expect((await tofu.run('host-1', ['echo', 'first'])).stdout).toBe('first\n');
    const recorded = parseKnownHosts(await readFile(file, 'utf8'));
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.patterns).toBe(`[127.0.0.1]:${portOf('host-1')}`);
    expect(`${recorded[0]!.keyType} ${recorded[0]!.key}`).toBe((await lab.lab.hostKeyOf('host-1')).trim());
    const strict = lab.target({ knownHosts: [file] });
    expect((await strict.run('host-1', ['echo', 'second'])).stdout).toBe('second\n');
    expect((await rejectionOf(strict.run('host-2', ['true']))).code).toBe('HOST_KEY');
  });

  it('trust on first use never accepts a changed key', async () => {
    const wrong = (await lab.lab.hostKeyOf('host-1')).trim();
    const file = await knownHostsFile(`[127.0.0.1]:${portOf('host-2')} ${wrong}\n`);
    const tofu = lab.target({ knownHosts: [file], trustOnFirstUse: true });
    expect((await rejectionOf(tofu.run('host-2', ['true']))).code).toBe('HOST_KEY');
    expect(parseKnownHosts(await readFile(file, 'utf8'))).toHaveLength(1);
  });
});

describe('a host with several host keys', () => {
  it('asks first for the key type known_hosts has, so a known host is not taken for a changed one', async () => {
    // sshd offers ed25519 first; known_hosts has only the ecdsa key (recorded by an older client).
    const multi = await startTestHosts({ count: 1, hostKeyTypes: ['ed25519', 'ecdsa'] });
    try {
      const host = multi.hosts[0]!;
      const file = await knownHostsFile(
        `[127.0.0.1]:${host.port} ${await multi.hostKeyOf(host.name, 'ecdsa')}\n`,
      );
      const target = ssh({
        hosts: [{ name: host.name, address: host.address, port: host.port }],
        privateKey: multi.clientKeyFile,
        knownHosts: [file],
      });
      expect((await target.run(host.name, ['echo', 'ecdsa ok'])).stdout).toBe('ecdsa ok\n');
      await target.close();
    } finally {
      await multi.stop();
    }
  });
});

describe('known_hosts matching', () => {
  const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.alloc(36, 7)]);
  const key = blob.toString('base64');

  it('matches plain names, [host]:port, wildcards and negations', () => {
    const entries = parseKnownHosts(
      [
        `web-1,10.0.0.1 ssh-ed25519 ${key}`,
        `[10.0.0.2]:2222 ssh-ed25519 ${key}`,
        `*.prod,!db.prod ssh-ed25519 ${key}`,
      ].join('\n'),
    );
    expect(verifyHostKey(entries, '10.0.0.1', blob).status).toBe('known');
    expect(verifyHostKey(entries, '[10.0.0.2]:2222', blob).status).toBe('known');
    expect(verifyHostKey(entries, '10.0.0.2', blob).status).toBe('unknown');
    expect(verifyHostKey(entries, 'api.prod', blob).status).toBe('known');
    expect(verifyHostKey(entries, 'db.prod', blob).status).toBe('unknown');
  });

  it('checks hashed entries with HMAC-SHA1, and honours @revoked', () => {
    const entries = parseKnownHosts(
      `${hashHostName('[10.0.0.3]:22022')} ssh-ed25519 ${key}\n@revoked * ssh-ed25519 ${key}\n`,
    );
    expect(verifyHostKey(entries, 'other', blob).status).toBe('revoked');
    const hashedOnly = parseKnownHosts(`${hashHostName('[10.0.0.3]:22022')} ssh-ed25519 ${key}\n`);
    expect(verifyHostKey(hashedOnly, '[10.0.0.3]:22022', blob).status).toBe('known');
    expect(verifyHostKey(hashedOnly, '[10.0.0.3]:22', blob).status).toBe('unknown');
  });
});
