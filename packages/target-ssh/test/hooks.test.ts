import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { executeRollout, oneAtATime, planBatches } from '@ringmaster/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
let server: Server;
let base = '';
beforeAll(async () => {
  // One host per test, so the tests run concurrently.
  lab = await startLab(7);
  // An HTTP service on loopback; the hosts share the machine's network, so they reach it too.
  server = createServer((req, res) => {
    res.statusCode = req.url === '/healthy' ? 200 : 503;
    res.end(req.url === '/healthy' ? 'ok' : 'starting');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await lab?.stop();
});

const LOG = '/var/log/ringmaster/events.log';
const log = (host: string) => join(lab.lab.rootOf(host), LOG);
const record = (word: string) => ['sh', '-c', `echo "$1" >> ${LOG}`, 'record', word];

describe.concurrent('hooks, restart and health', () => {
  it('runs beforeInstall, install, restart, health check, afterInstall in that order, with {host}', async () => {
    const target = lab.target({
      hooks: { beforeInstall: record('lb-out {host}'), afterInstall: record('lb-in {host}') },
      restart: record('restart {host}'),
      healthCheck: { command: ['sh', '-c', `test -f /opt/rm-hooked/VERSION && echo health >> ${LOG}`] },
    });
    const artifact = await buildDeb(lab.work, {
      name: 'rm-hooked',
      version: '1.0',
      postinst: `echo postinst >> ${LOG}`,
    });
    await target.install('host-1', artifact);
    expect((await readFile(log('host-1'), 'utf8')).trim().split('\n')).toEqual([
      'lb-out host-1',
      'postinst',
      'restart host-1',
      'health',
      'lb-in host-1',
    ]);
    expect(existsSync(log('host-2'))).toBe(false);
    expect(target.capabilities.healthCheck).toBe(true);
  });

  it('a rollout checks health once per host, before afterInstall puts the host back in service', async () => {
    const target = lab.target({
      hooks: { afterInstall: record('lb-in {host}') },
      healthCheck: { command: ['sh', '-c', `echo health >> ${LOG}`] },
    });
    const artifact = await buildDeb(lab.work, { name: 'rm-once', version: '1.0' });
    const spec = oneAtATime();
    const result = await executeRollout({
      spec,
      batches: planBatches(spec, ['host-7']),
      target,
      artifact,
      resolve: async () => undefined,
      recorder: { hostStarted: async () => {}, hostFinished: async () => {} },
    });
    expect(result.outcome).toBe('succeeded');
    // Once: the engine leaves the check to the target, which runs it where it belongs.
    expect((await readFile(log('host-7'), 'utf8')).trim().split('\n')).toEqual(['health', 'lb-in host-7']);
  });

  it('a health check that never turns green fails after its retries, and afterInstall does not run', async () => {
    const target = lab.target({
      hooks: { afterInstall: record('lb-in {host}') },
      healthCheck: { command: ['sh', '-c', 'echo "not ready yet" >&2; exit 1'], retries: 3, intervalMs: 50 },
    });
    const artifact = await buildDeb(lab.work, { name: 'rm-unhealthy', version: '1.0' });
    const error = await rejectionOf(target.install('host-2', artifact));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('host-2');
    expect(error.message).toContain('health check did not pass after 3 attempt(s)');
    expect(error.message).toContain('not ready yet');
    expect(existsSync(log('host-2'))).toBe(false);
    // The package is installed; it is the rollout's call to roll it back.
    expect((await target.installed('host-2', 'rm-unhealthy'))?.version).toBe('1.0');
  });

  it('the deadline bounds a health check whose attempts hang', async () => {
    const target = lab.target({
      healthCheck: { command: ['sleep', '30'], retries: 1000, intervalMs: 0, deadlineMs: 1500 },
    });
    const error = await rejectionOf(target.healthCheck('host-3'));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('after 1 attempt(s)');
    expect(error.message).toContain('sleep 30');
  });

  it('probes a URL from the host with curl', async () => {
    const healthy = lab.target({ healthCheck: { url: `${base}/healthy`, retries: 2, intervalMs: 10 } });
    await healthy.healthCheck('host-3');
    const sick = lab.target({ healthCheck: { url: `${base}/starting`, retries: 2, intervalMs: 10 } });
    const error = await rejectionOf(sick.healthCheck('host-3'));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('503');
    expect(error.message).toContain(`${base}/starting`);
  });

  it('a failing beforeInstall hook stops the install before anything is uploaded', async () => {
    const target = lab.target({ hooks: { beforeInstall: ['sh', '-c', 'echo "lb refused" >&2; exit 2'] } });
    const artifact = await buildDeb(lab.work, { name: 'rm-nohook', version: '1.0' });
    const error = await rejectionOf(target.install('host-4', artifact));
    expect(error.code).toBe('TARGET');
    expect(error.message).toContain('beforeInstall');
    expect(error.message).toContain('lb refused');
    expect(await target.installed('host-4', 'rm-nohook')).toBeUndefined();
  });

  it('with sudo, privileged steps (dpkg, restart) run through sudo -n; hooks run as given', async () => {
    const target = lab.target({
      sudo: true,
      restart: ['sh', '-c', `echo "restart sudo_user=$SUDO_USER" >> ${LOG}`],
      hooks: { beforeInstall: ['sh', '-c', `echo "hook sudo_user=$SUDO_USER" >> ${LOG}`] },
    });
    await target.install('host-5', await buildDeb(lab.work, { name: 'rm-sudo', version: '1.0' }));
    expect((await target.installed('host-5', 'rm-sudo'))?.version).toBe('1.0');
    expect((await readFile(log('host-5'), 'utf8')).trim().split('\n')).toEqual([
      'hook sudo_user=',
      'restart sudo_user=root',
    ]);
  });

  it('without a health check configured, healthCheck() passes and the capability says so', async () => {
    const target = lab.target();
    expect(target.capabilities.healthCheck).toBe(false);
    await target.healthCheck('host-6');
    expect(await target.openConnections()).toBe(0);
  });
});
