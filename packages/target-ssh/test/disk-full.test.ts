/**
 * A full disk under a running engine, for real: the engine runs as a child process in its own
 * mount namespace with its ledger on a small tmpfs, rolling a .deb out to real sshd hosts; the
 * disk fills up while a host installs, and space comes back. Every append that failed said
 * ENOSPC; nothing acknowledged is missing and nothing unacknowledged appears; the next pass
 * finishes the rollout; dpkg on every host, the ledger and status agree.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inSmallTmpfs } from '@ringmaster/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, startLab } from './fixture.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const child = fileURLToPath(new URL('./fixtures/disk-full-engine.mjs', import.meta.url));
let lab: Lab;
let dir: string;

beforeAll(async () => {
  lab = await startLab(3);
  await mkdir(join(repo, '.ringmaster'), { recursive: true });
  dir = await mkdtemp(join(repo, '.ringmaster', 'disk-full-'));
}, 120_000);
afterAll(async () => {
  await lab?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Report {
  acknowledged: number[];
  errors: { operation: string; message: string; errno?: string }[];
  errorsWhileFull: number;
  reread: { seq: number; type: string; data: Record<string, unknown> }[];
  status: {
    pipelines: {
      rings: { version?: string; hosts: { drift: boolean; unreachable?: string; live?: unknown }[] }[];
    }[];
  };
}

describe('the ledger fills its disk mid-rollout', () => {
  it('appends fail with ENOSPC, nothing acknowledged is lost, the next pass finishes; hosts, ledger and status agree', {
    timeout: 180_000,
  }, async () => {
    const mount = join(dir, 'mnt');
    await mkdir(mount);
    const labFile = join(dir, 'lab.json');
    await writeFile(
      labFile,
      JSON.stringify({
        hosts: lab.hostOptions(),
        clientKey: lab.lab.clientKeyFile,
        knownHosts: lab.lab.knownHostsFile,
      }),
    );
    const run = await inSmallTmpfs('256k', mount, [process.execPath, child, mount, dir, labFile]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as Report;

    // While the disk was full, the failure surfaced with its cause.
    expect(report.errorsWhileFull).toBeGreaterThan(0);
    const full = report.errors.filter((e) => e.errno === 'ENOSPC');
    expect(full.length).toBeGreaterThan(0);
    for (const e of full) expect(e.message).toContain('ENOSPC');

    // Exactly what was acknowledged is in the ledger: numbered without gaps, nothing extra.
    expect(report.reread.map((r) => r.seq)).toEqual(report.reread.map((_, i) => i + 1));
    expect(report.reread.map((r) => r.seq)).toEqual(report.acknowledged);
    const steps = report.reread.filter((r) => r.type === 'host.finished');
    const keys = steps.map((r) => `${r.data.rollout} ${r.data.host} ${r.data.phase}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(steps.map((r) => r.data.host)).toEqual(lab.lab.hosts.map((h) => h.name));
    // Host 2's install finished while its record could not be written: the next pass asked it.
    expect(steps[1]!.data.alreadyThere).toBe(true);
    expect(report.reread.find((r) => r.type === 'rollout.finished')?.data.outcome).toBe('succeeded');

    // The truth on the hosts, in the ledger and in status.
    const direct = lab.target();
    for (const h of lab.lab.hosts)
      expect(await direct.installed(h.name, 'diskfull')).toEqual({ version: '1.0.1', status: 'installed' });
    for (const r of steps) expect(r.data.state).toEqual({ status: 'installed', version: '1.0.1' });
    const ring = report.status.pipelines[0]!.rings[0]!;
    expect(ring.version).toBe('1.0.1');
    expect(ring.hosts.map((h) => [h.drift, h.unreachable, h.live])).toEqual(
      lab.lab.hosts.map(() => [false, undefined, { status: 'installed', version: '1.0.1' }]),
    );
  });
});
