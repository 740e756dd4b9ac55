/**
 * A ring's vars and secrets on real hosts: they reach the command, the hooks and the health
 * check as environment variables, on the command's stdin — never in the command line sent over
 * the SSH exec channel, nor in the argv of any process on the host — and, through the engine,
 * a host gate that prints its secret has it masked in the ledger.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createEngine,
  fileStore,
  localRepository,
  manualClock,
  memorySource,
  pipeline,
} from '@ringmaster/core';
import { Client } from 'ssh2';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildDeb, failingSecondRelease, type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab(2);
});
afterAll(async () => {
  await lab?.stop();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Every command line sent over an SSH exec channel while `work` runs. */
async function commandLines(work: () => Promise<unknown>): Promise<string[]> {
  const sent: string[] = [];
  const exec = Client.prototype.exec;
  vi.spyOn(Client.prototype, 'exec').mockImplementation(function (this: Client, ...args: unknown[]) {
    sent.push(String(args[0]));
    return (exec as (...a: unknown[]) => Client).apply(this, args);
  } as typeof exec);
  await work();
  return sent;
}

/**
 * A shell snippet that fails (exit 5) when the value of `$1`'s variable is in the argv of any
 * process on the host (the hosts share this machine's PIDs: every process is looked at). The
 * value goes to grep in a file written by `printf`, a builtin, so the check adds no argv of its own.
 */
const NOT_IN_ANY_ARGV = [
  'pattern=$(mktemp)',
  'eval "printf %s \\"\\$$1\\"" > "$pattern"',
  // A process may exit between the glob and the read: the shell's own "cannot open" for the
  // redirection goes to stderr unless 2>/dev/null comes first (redirections apply left to right).
  'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " 2>/dev/null < "$f"; echo; done > "$pattern.all"',
  'if grep -F -q -f "$pattern" "$pattern.all"; then rm -f "$pattern" "$pattern.all"; echo "in an argv" >&2; exit 5; fi',
  'rm -f "$pattern" "$pattern.all"',
].join('\n');

describe('env on ssh hosts', () => {
  it('run() passes env to the command on its stdin: the value is in no command line and no argv on the host', async () => {
    const target = lab.target();
    const secret = "pa55-w0rd with spaces; $(id) 'quoted'";
    let result: Awaited<ReturnType<typeof target.run>> | undefined;
    const sent = await commandLines(async () => {
      result = await target.run(
        'host-1',
        [
          'sh',
          '-c',
          `${NOT_IN_ANY_ARGV}\nprintf '[%s][%s]' "$DB_PASSWORD" "$APP_MODE"`,
          'check',
          'DB_PASSWORD',
        ],
        { env: { DB_PASSWORD: secret, APP_MODE: 'canary' } },
      );
    });
    expect(result?.stderr).toBe('');
    expect(result).toMatchObject({ exitCode: 0, stdout: `[${secret}][canary]` });
    expect(sent.length).toBeGreaterThan(0);
    const encoded = Buffer.from(secret).toString('base64');
    expect(sent.filter((line) => line.includes('pa55-w0rd') || line.includes(encoded))).toEqual([]);
    expect(target.capabilities.env).toBe(true);
  });

  it('the check itself works: a value passed in argv is found', async () => {
    const target = lab.target();
    const result = await target.run(
      'host-2',
      ['sh', '-c', `${NOT_IN_ANY_ARGV}\necho fine`, 'check', 'LEAKED', 'leaked-in-argv-1234'],
      { env: { LEAKED: 'leaked-in-argv-1234' } },
    );
    expect(result.exitCode).toBe(5);
    expect(result.stderr).toContain('in an argv');
  });

  it('install() gives env to the hooks, a custom restart and the health check, and not to dpkg', async () => {
    const LOG = '/var/log/ringmaster/env.log';
    const record = (what: string) => [
      'sh',
      '-c',
      `echo "${what} mode=$APP_MODE secret-set=\${DB_PASSWORD:+yes}" >> ${LOG}`,
    ];
    const target = lab.target({
      hooks: { beforeInstall: record('before'), afterInstall: record('after') },
      restart: record('restart'),
      healthCheck: {
        command: ['sh', '-c', `test "$APP_MODE" = canary && ${record('health').slice(2).join(' ')}`],
        retries: 1,
      },
    });
    const artifact = await buildDeb(lab.work, {
      name: 'rm-env',
      version: '1.0',
      postinst: `echo "postinst secret-set=\${DB_PASSWORD:+yes}" >> ${LOG}`,
    });
    const env = { APP_MODE: 'canary', DB_PASSWORD: 'health-secret-99' };
    const sent = await commandLines(() => target.install('host-2', artifact, { env }));
    expect((await readFile(join(lab.lab.rootOf('host-2'), LOG), 'utf8')).trim().split('\n')).toEqual([
      'before mode=canary secret-set=yes',
      'postinst secret-set=',
      'restart mode=canary secret-set=yes',
      'health mode=canary secret-set=yes',
      'after mode=canary secret-set=yes',
    ]);
    expect(sent.filter((line) => line.includes('health-secret-99'))).toEqual([]);
    // The health check needs the vars: without them it fails, naming the host.
    const without = await rejectionOf(target.healthCheck('host-2'));
    expect(without.code).toBe('TARGET');
    expect(without.message).toContain('host-2');
    await expect(target.healthCheck('host-2', { env })).resolves.toBeUndefined();
  });
});

describe('a ring with secrets on ssh hosts, through the engine', () => {
  it('a host gate gets the secret; printed, it is masked in the ledger and its journal files', async () => {
    const dir = lab.work;
    const value = 'ssh-gate-secret-4d2e';
    await writeFile(join(dir, 'gate-secret'), `${value}\n`);
    const clock = manualClock('2026-11-02T09:00:00Z');
    const app = pipeline({
      name: 'envapp',
      source: memorySource({ commits: [{ files: { a: '1' }, message: 'first', author: 'alice' }] }),
      packager: failingSecondRelease('rm-envapp', 'exit 1'),
      repository: localRepository({ dir: join(dir, 'envapp-repo') }),
      rings: [
        {
          name: 'eng',
          target: lab.target({
            healthCheck: { command: ['sh', '-c', 'test "$APP_MODE" = canary'], retries: 1 },
          }),
          vars: { APP_MODE: 'canary' },
          secrets: { DB_PASSWORD: { file: join(dir, 'gate-secret') } },
          gates: [
            {
              name: 'on-hosts',
              on: 'hosts',
              // Compared by its hash, so that the value is not in this argv either.
              run: [
                'sh',
                '-c',
                `test "$(printf %s "$DB_PASSWORD" | sha256sum)" = "${sha256(value)}  -" && echo "ok with $DB_PASSWORD" >&2 && exit 1`,
              ],
            },
          ],
          onGateFailure: 'halt',
        },
      ],
    });
    const ledgerDir = join(dir, 'envapp-ledger');
    const engine = createEngine({
      pipelines: [app],
      store: fileStore({ dir: ledgerDir }),
      clock,
      workDir: join(dir, 'envapp-work'),
    });
    try {
      for (let i = 0; i < 3; i++) {
        await engine.tick();
        clock.advance(60_000);
      }
      const records = await engine.ledger.read();
      // The hosts ran 1.0.1 (its health check saw the var), then the gate saw the secret: it exits 1
      // only after the comparison passed, and what it printed is masked.
      expect(
        records.filter((r) => r.type === 'host.finished').map((r) => (r.data as { ok: boolean }).ok),
      ).toEqual([true, true]);
      const gate = records.find((r) => r.type === 'gate.finished')?.data as { ok: boolean; log: string };
      expect(gate.ok).toBe(false);
      expect(gate.log).toContain('ok with ***');
      const files = await readdir(ledgerDir, { recursive: true, withFileTypes: true });
      const texts = await Promise.all(
        files.filter((f) => f.isFile()).map((f) => readFile(join(f.parentPath, f.name), 'utf8')),
      );
      expect(texts.length).toBeGreaterThan(0);
      expect([JSON.stringify(records), ...texts].filter((t) => t.includes(value))).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});
