import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../src/util/sleep.js';
import { type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
let agentPid: number | undefined;
beforeAll(async () => {
  lab = await startLab(2);
});
afterAll(async () => {
  if (agentPid) process.kill(agentPid, 'SIGTERM');
  await lab?.stop();
});

/** Authorises one more public key on every lab host. */
async function authorize(pubFile: string): Promise<void> {
  const file = join(lab.lab.dir, 'authorized_keys');
  await writeFile(file, (await readFile(file, 'utf8')) + (await readFile(pubFile, 'utf8')));
}

describe('authentication', () => {
  it('uses an encrypted private key with its passphrase', async () => {
    const key = join(lab.work, 'enc_key');
    await runCommand(['ssh-keygen', '-q', '-a', '1', '-t', 'ed25519', '-N', 's3cret pass', '-f', key]);
    await authorize(`${key}.pub`);
    const target = lab.target({ privateKey: key, passphrase: 's3cret pass' });
    expect((await target.run('host-1', ['whoami'])).stdout).toBe('root\n');
  });

  it('uses an ssh-agent instead of a key file', async () => {
    const socket = join(lab.work, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    agentPid = agent.pid;
    for (let i = 0; i < 100; i++) {
      if ((await runCommand(['test', '-S', socket])).exitCode === 0) break;
      await sleep(50);
    }
    const added = await runCommand(['ssh-add', lab.lab.clientKeyFile], { env: { SSH_AUTH_SOCK: socket } });
    expect(added.exitCode).toBe(0);
    const target = lab.target({ privateKey: undefined, agent: socket });
    expect((await target.run('host-2', ['echo', 'via agent'])).stdout).toBe('via agent\n');
  });

  it('an agent without the key fails authentication with TARGET naming the host', async () => {
    const socket = join(lab.work, 'agent.sock');
    await runCommand(['ssh-add', '-D'], { env: { SSH_AUTH_SOCK: socket } });
    const target = lab.target({ privateKey: undefined, agent: socket });
    const error = await rejectionOf(target.run('host-2', ['true']));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('host-2');
    expect(error.message).toContain('authentication failed');
  });
});
