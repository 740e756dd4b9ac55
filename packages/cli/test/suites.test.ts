/**
 * Rings as apt suites, through the built CLI on the real components: two pipelines (bar, and foo
 * whose package says `Depends: bar (>= 2.0)`), one signed apt repository served on 127.0.0.1
 * with a suite per ring, and three real sshd hosts (eng, sandbox, prod) whose own apt reads their
 * ring's suite (the ssh target writes the source, `signed-by`). foo waits in prod while bar 2.0
 * is only in sandbox, and `explain` names bar; a prod host's apt cannot install a bar that was
 * never promoted to prod; once bar 2.0 is promoted, foo follows and apt on prod installs exactly
 * the promoted bar; a rollback of bar under foo is refused with the reason; `suite prod --at`
 * answers what prod could install before.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileStore } from '@ringmaster/core';
import { aptRepository, type RepositoryServer } from '@ringmaster/pkg-deb';
import { ssh } from '@ringmaster/target-ssh';
import { startTestHosts, type TestHosts } from '@ringmaster/target-ssh/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey, type TestKey } from '../../pkg-deb/test/helpers.js';
import { type CliRun, projectBase, ringmaster } from './helpers.js';

const CONFIG = `import { readFileSync } from 'node:fs';
import { auto, manual, pipeline } from '@ringmaster/core';
import { aptRepository, deb } from '@ringmaster/pkg-deb';
import { ssh } from '@ringmaster/target-ssh';
import { git } from '@ringmaster/vcs-git';

const lab = JSON.parse(readFileSync(new URL('./lab.json', import.meta.url), 'utf8'));
const apt = aptRepository({
  dir: 'apt',
  signingKey: { homedir: lab.gpgHome, keyId: lab.keyId, passphrase: lab.passphrase },
});
// Each ring's host installs with its own apt, from its own ring's suite.
const target = (i, ring) =>
  ssh({
    hosts: [lab.hosts[i]],
    privateKey: lab.clientKey,
    knownHosts: [lab.knownHosts],
    installMode: 'apt',
    aptSource: { url: lab.aptUrl, suite: ring, keyFile: lab.publicKey },
  });
const rings = (prod) => [
  { name: 'eng', target: target(0, 'eng') },
  { name: 'sandbox', target: target(1, 'sandbox'), policy: auto() },
  { name: 'prod', target: target(2, 'prod'), policy: prod },
];
const maintainer = 'Lab <lab@example.com>';

export default {
  pipelines: [
    pipeline({
      name: 'bar',
      source: git({ url: lab.barUrl, branch: 'main' }),
      packager: deb({ name: 'bar', version: '{number}.0', maintainer, description: 'Bar' }),
      repository: apt,
      rings: rings(manual()),
    }),
    pipeline({
      name: 'foo',
      source: git({ url: lab.fooUrl, branch: 'main' }),
      packager: deb({ name: 'foo', version: '1.{number}', depends: ['bar (>= 2.0)'], maintainer, description: 'Foo' }),
      repository: apt,
      rings: rings(auto()),
    }),
  ],
};
`;

let dir: string;
let lab: TestHosts;
let key: TestKey;
let server: RepositoryServer;
let direct: ReturnType<typeof ssh>;
const gitIn = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'alice',
      GIT_AUTHOR_EMAIL: 'alice@example.com',
      GIT_COMMITTER_NAME: 'alice',
      GIT_COMMITTER_EMAIL: 'alice@example.com',
    },
    stdio: 'pipe',
  }).toString();

/** Commits one file to pipeline `name`'s repository and pushes. */
function commit(name: string, content: string): void {
  const work = join(dir, `${name}-clone`);
  // Each package ships files of its own (two packages with one path would conflict in dpkg).
  execFileSync('sh', ['-c', `mkdir -p opt/${name} && cat > opt/${name}/notes.txt`], {
    cwd: work,
    input: content,
  });
  gitIn(work, 'add', '-A');
  gitIn(work, 'commit', '-qm', content);
  gitIn(work, 'push', '-q', 'origin', 'main');
}

const run = (...args: string[]): Promise<CliRun> => ringmaster(dir, ...args);

/** `watch --once` until a pass writes nothing (bounded): builds, rollouts and gates, ring by ring. */
async function settle(): Promise<void> {
  let last = -1;
  for (let i = 0; i < 8; i++) {
    const pass = await run('watch', '--once');
    expect(pass.code, pass.stdout + pass.stderr).toBe(0);
    const records = (await fileStore({ dir: join(dir, '.ringmaster/ledger') }).read()).length;
    if (records === last) return;
    last = records;
  }
  throw new Error('watch --once kept writing after 8 passes');
}

/** What dpkg on the ring's host says of `pkg`. */
async function version(host: number, pkg: string): Promise<string | null> {
  const found = await direct.installed(lab.hosts[host]!.name, pkg);
  return found?.status === 'installed' ? found.version : null;
}

beforeAll(async () => {
  dir = await projectBase('suites-');
  lab = await startTestHosts({ count: 3, prefix: 'suite' });
  key = await makeKey();
  for (const name of ['foo', 'bar']) {
    gitIn(dir, 'init', '-q', '--bare', '-b', 'main', join(dir, `${name}.git`));
    gitIn(dir, 'clone', '-q', join(dir, `${name}.git`), join(dir, `${name}-clone`));
    gitIn(join(dir, `${name}-clone`), 'checkout', '-q', '-b', 'main');
  }
  // The project's repository is served by the test (as a web server would serve it): hosts fetch from it.
  server = await aptRepository({ dir: join(dir, 'apt') }).serve({ port: 0 });
  const hosts = lab.hosts.map((h) => ({ name: h.name, address: '127.0.0.1', port: h.port, user: 'root' }));
  await writeFile(
    join(dir, 'lab.json'),
    JSON.stringify({
      hosts,
      clientKey: lab.clientKeyFile,
      knownHosts: lab.knownHostsFile,
      fooUrl: join(dir, 'foo.git'),
      barUrl: join(dir, 'bar.git'),
      aptUrl: server.url,
      gpgHome: key.homedir,
      keyId: key.keyId,
      passphrase: key.passphrase,
      publicKey: key.publicKeyFile,
    }),
  );
  await writeFile(join(dir, 'ringmaster.config.mjs'), CONFIG);
  direct = ssh({ hosts, privateKey: lab.clientKeyFile, knownHosts: [lab.knownHostsFile] });
}, 120_000);

afterAll(async () => {
  await direct?.close();
  await server?.close();
  await lab?.stop();
  await key?.close();
});

describe('rings as apt suites, with a dependency between two pipelines', () => {
  it('foo waits for the bar it needs in prod, follows it, and bar cannot be rolled back under it', async () => {
    // bar 1.0 goes everywhere (prod by approval); foo 1.1 needs a bar that does not exist yet.
    commit('bar', 'one');
    commit('foo', 'one');
    await settle();
    expect((await run('explain', 'foo', 'eng')).stdout).toContain(
      '1.1 waits for eng: needs bar (>= 2.0); eng has bar 1.0 (no release of bar meets it)',
    );
    expect(await version(0, 'foo')).toBeNull();
    expect((await run('approve', 'bar', 'prod', '1.0', '--by', 'carol')).code).toBe(0);
    await settle();
    expect(await version(2, 'bar')).toBe('1.0');
    // bar 2.0 goes up to sandbox (prod waits for a person), and foo 1.1 follows it ring by ring.
    commit('bar', 'two');
    await settle();
    expect([await version(0, 'bar'), await version(0, 'foo')]).toEqual(['2.0', '1.1']);
    expect([await version(1, 'bar'), await version(1, 'foo')]).toEqual(['2.0', '1.1']);

    // prod: foo 1.1 waits, and says for what and where it is.
    const waits = 'needs bar (>= 2.0); prod has bar 1.0 (bar 2.0 is verified in eng, sandbox)';
    const explain = await run('explain', 'foo', 'prod');
    expect(explain.stdout).toContain(`1.1 waits for prod: ${waits}`);
    const status = JSON.parse((await run('status', '--json')).stdout) as {
      pipelines: { name: string; rings: { name: string; action: string; summary: string }[] }[];
    };
    const fooProd = status.pipelines.find((p) => p.name === 'foo')!.rings.find((r) => r.name === 'prod')!;
    expect([fooProd.action, fooProd.summary]).toEqual(['wait', `1.1 waits for prod: ${waits}`]);
    expect((await run('plan', 'foo', 'prod')).stdout).toContain(waits);
    expect([await version(2, 'bar'), await version(2, 'foo')]).toEqual(['1.0', null]);

    // prod's host can only install what was promoted to prod: apt itself says so.
    const sneak = await direct.run(lab.hosts[2]!.name, ['apt-get', 'install', '-y', '-q', 'bar=2.0']);
    expect(sneak.exitCode).not.toBe(0);
    expect(sneak.stderr).toContain("Version '2.0' for 'bar' was not found");
    const before = new Date().toISOString();
    const suiteThen = JSON.parse((await run('suite', 'prod', '--json')).stdout) as {
      suite: { packages: Record<string, string[]>; indexes: Record<string, string> };
    };
    expect(suiteThen.suite.packages).toEqual({ bar: ['1.0'] });

    // bar 2.0 is promoted to prod; foo follows, and apt on prod installed exactly the promoted bar.
    await new Promise((r) => setTimeout(r, 1_100)); // the records after this are at a later second
    expect((await run('approve', 'bar', 'prod', '2.0', '--by', 'carol')).code).toBe(0);
    await settle();
    expect([await version(2, 'bar'), await version(2, 'foo')]).toEqual(['2.0', '1.1']);
    const now = JSON.parse((await run('suite', 'prod', '--json')).stdout) as typeof suiteThen;
    expect(now.suite.packages).toEqual({ bar: ['1.0', '2.0'], foo: ['1.1'] });
    // What the ledger recorded is what the hosts read: the hash of prod's Packages index.
    const packages = execFileSync('cat', [join(dir, 'apt/dists/prod/main/binary-amd64/Packages')]);
    const sha = execFileSync('sha256sum', { input: packages }).toString().split(' ')[0];
    expect(now.suite.indexes['main/binary-amd64/Packages']).toBe(sha);
    // And what prod could install before bar 2.0 came in is still answered, from the ledger.
    const then = JSON.parse(
      (await run('suite', 'prod', '--at', before, '--json')).stdout,
    ) as typeof suiteThen;
    expect(then.suite.packages).toEqual({ bar: ['1.0'] });

    // Rolling bar back under foo is refused, saying why; nothing on the host changes.
    const back = await run('rollback', 'bar', 'prod');
    expect(back.code).toBe(1);
    expect(back.stderr).toContain(
      'rolling bar back to 1.0 in prod is refused: foo 1.1 in prod needs bar (>= 2.0). Roll those back first, or force it (--force)',
    );
    expect(await version(2, 'bar')).toBe('2.0');
    // Its dry run says the same, and changes nothing either.
    const dry = await run('rollback', 'bar', 'prod', '--dry-run');
    expect(dry.stdout).toContain(
      'refused: rolling bar back to 1.0 in prod is refused: foo 1.1 in prod needs bar (>= 2.0)',
    );
  }, 300_000);
});
