/**
 * The on-call engineer's questions, answered through the real `ringmaster` bin on the real
 * components (git, dpkg-deb, sshd hosts in three rings): what failed and why (in the progress,
 * `status`, `explain`, notifications and `--json`), exit codes that tell the truth for every
 * command, refusals at the door that write nothing, retrying a failed build, the README's
 * `make unit` gate running in a checkout of the release, history saying who did what.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_HEAD, type RealProject, realProject } from './lab.js';

const CONFIG = `import { auto, commandNotifier, localRepository, manual, pipeline } from '@ringmaster/core';
import { deb } from '@ringmaster/pkg-deb';
import { git } from '@ringmaster/vcs-git';
${CONFIG_HEAD}
const here = (name) => new URL(name, import.meta.url).pathname;
export default {
  pipelines: [
    pipeline({
      name: 'shop',
      source: git({ url: lab.gitUrl, branch: 'main' }),
      // The team's build tool lives outside the repository: fixing it fixes every revision.
      build: { steps: [['sh', here('build-tool.sh')]] },
      // Under /opt, which each test host has to itself: a file at / would be the machine's, shared by all.
      packager: deb({ name: 'shop', version: '1.0.{number}', prefix: '/opt/shop', maintainer: 'Shop <shop@example.com>', description: 'The shop' }),
      repository: localRepository({ dir: 'repo' }),
      rings: [
        { name: 'eng', target: hosts(0, 1), gates: [{ name: 'unit', run: ['make', 'unit'] }] },
        { name: 'sandbox', target: hosts(1, 2), policy: auto() },
        { name: 'prod', target: hosts(2, 3), policy: manual() },
      ],
      notifiers: [commandNotifier({ name: 'file', run: ['sh', '-c', 'cat >> "$0"; echo >> "$0"', here('notes.jsonl')] })],
    }),
  ],
};
`;

const MAKEFILE_OK = 'unit:\n\t@echo unit tests pass\n';
// The target renamed: `make unit` fails the way the issue saw it.
const MAKEFILE_BROKEN = 'units:\n\t@echo unit tests pass\n';

let w: RealProject;
let first: string;

beforeAll(async () => {
  w = await realProject('surfaces', 3, CONFIG);
  await writeFile(join(w.dir, 'build-tool.sh'), 'echo "build-tool: unknown command \'biuld\'" >&2\nexit 3\n');
  first = w.commit({ Makefile: MAKEFILE_OK, 'index.html': '<h1>shop</h1>\n' }, 'First shop page');
}, 120_000);
afterAll(async () => {
  await w?.stop();
});

const journal = async () => (await w.records()).length;

describe('the CLI on real components', () => {
  it('a failed build says why and exits 1; it can be retried once its build tool is fixed', {
    timeout: 120_000,
  }, async () => {
    const watch = await w.run('watch', '--once');
    expect(watch.code).toBe(1);
    // Timestamped lines, the build shown starting, and the failure with what the tool said.
    expect(watch.stdout).toMatch(/^\d\d:\d\d:\d\d \[shop\] build [0-9a-f]{10} started$/m);
    expect(watch.stdout).toMatch(
      /\[shop\] build [0-9a-f]{10} FAILED: sh .*build-tool\.sh exited with 3: build-tool: unknown command 'biuld'/,
    );
    expect(watch.stderr).toContain('1 failure(s)');

    const again = await w.run('build');
    expect(again.stdout).toContain('nothing new to build');
    expect(again.code).toBe(0);

    await writeFile(join(w.dir, 'build-tool.sh'), 'echo built\n');
    const retry = await w.run('build', 'shop', '--retry', first.slice(0, 7));
    expect(retry.stdout).toContain(`build ${first.slice(0, 10)} started (attempt 2)`);
    expect(retry.stdout).toContain(`build ${first.slice(0, 10)} passed`);
    expect(retry.stdout).toContain('release 1.0.1');
    expect(retry.code).toBe(0);
    const history = await w.run('history', 'shop');
    expect(history.stdout).toContain(`asked for ${first.slice(0, 10)} to be built again`);

    // A revision that built fine needs no retry: refused, exit 1, nothing written.
    const before = await journal();
    const needless = await w.run('build', 'shop', '--retry', first.slice(0, 7));
    expect(needless.code).toBe(1);
    expect(needless.stderr).toContain('needs no retry: it was built into release 1.0.1');
    expect(await journal()).toBe(before);
  });

  it("the README's make unit gate runs in a checkout of the release; prod waits for an approval, refused from its author", {
    timeout: 180_000,
  }, async () => {
    const watch = await w.run('watch', '--once');
    expect(watch.stdout).toContain('gate unit on eng: passed');
    expect(watch.code).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', null]);

    const explain = await w.run('explain', 'shop', 'prod');
    expect(explain.stdout).toContain('1.0.1 waits for prod: waiting for 1 more approval');

    const before = await journal();
    const self = await w.run('approve', 'shop', 'prod', '1.0.1', '--by', 'alice');
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('alice committed 1.0.1');
    expect((await w.run('approve', 'shop', 'prod', '1.0.1', '--by', 'bob')).code).toBe(0);
    const twice = await w.run('approve', 'shop', 'prod', '1.0.1', '--by', 'bob', '--json');
    expect(twice.code).toBe(1);
    expect(JSON.parse(twice.stdout)).toMatchObject({
      error: { code: 'STATE', message: expect.stringContaining('already approved') },
    });
    expect(await journal()).toBe(before + 1);

    expect((await w.run('watch', '--once')).code).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', '1.0.1']);
  });

  it('a gate that fails shows why: in the progress, status, explain, --json and the notice to the committer', {
    timeout: 180_000,
  }, async () => {
    w.commit({ Makefile: MAKEFILE_BROKEN }, 'Rename the test target', 'carol');
    const watch = await w.run('watch', '--once');
    expect(watch.code).toBe(1);
    expect(watch.stdout).toContain('gate unit on eng: FAILED');
    expect(watch.stdout).toContain("make: *** No rule to make target 'unit'.  Stop.");
    expect(watch.stdout).toMatch(
      /rejected in eng by engine: gate unit failed: make: \*\*\* No rule to make target 'unit'/,
    );
    // eng was rolled back, on the hosts too.
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', '1.0.1']);

    const status = await w.run('status');
    expect(status.stdout).toMatch(
      /shop\/eng: 1\.0\.2 rejected \d{4}-\d\d-\d\d \d\d:\d\dZ: gate unit failed: make: \*\*\* No rule to make target 'unit'/,
    );
    const json = JSON.parse((await w.run('status', '--json')).stdout);
    expect(json.pipelines[0].rings[0].lastFailure).toMatchObject({
      version: '1.0.2',
      status: 'rejected',
      by: 'engine',
      reason: expect.stringContaining("No rule to make target 'unit'"),
    });
    const explain = await w.run('explain', 'shop', 'eng');
    expect(explain.stdout).toMatch(
      /^eng runs 1\.0\.1; 1\.0\.2 was rejected here at .* \(gate unit failed: make: \*\*\* No rule to make target 'unit'\. {2}Stop\.\); allow 1\.0\.2 to let it through$/m,
    );

    // The committer heard it, at their own address, with the reason.
    const notes = (await readFile(join(w.dir, 'notes.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const failure = notes.find((n) => n.kind === 'gate' && !n.ok);
    expect(failure).toMatchObject({
      author: 'carol',
      to: 'carol@example.com',
      release: '1.0.2',
      ring: 'eng',
    });
    expect(failure.summary).toContain("No rule to make target 'unit'");
  });

  it('refusals at the door exit 1 and write nothing; every command answers --json, errors included', {
    timeout: 120_000,
  }, async () => {
    const before = await journal();
    expect((await w.run('lock', 'shop', 'prod', '--reason', 'incident 42', '--by', 'carol')).code).toBe(0);
    const twice = await w.run('lock', 'shop', 'prod', '--reason', 'again', '--json');
    expect(twice.code).toBe(1);
    expect(JSON.parse(twice.stdout).error).toMatchObject({
      code: 'STATE',
      message: expect.stringContaining('already locked by carol'),
    });
    expect((await w.run('unlock', 'shop', 'prod', '--json')).stdout).toContain('"unlocked"');
    const unlocked = await w.run('unlock', 'shop', 'prod');
    expect(unlocked.code).toBe(1);
    expect(unlocked.stderr).toContain('is not locked; nothing to unlock');
    expect(await journal()).toBe(before + 2);

    const unknown = await w.run('approve', 'shop', 'prod', '9.9.9', '--by', 'dave', '--json');
    expect(unknown.code).toBe(4);
    expect(JSON.parse(unknown.stdout).error).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('no release "9.9.9"'),
    });
    const usage = await w.run('explain', '--json');
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout).error.code).toBe('CONFIG');

    // prod runs the only release verified there: nothing earlier to go back to.
    const rollback = await w.run('rollback', 'shop', 'prod', '--json');
    expect(rollback.code).toBe(1);
    expect(JSON.parse(rollback.stdout).error.message).toContain('no earlier release verified there');

    const history = await w.run('history', 'shop');
    expect(history.stdout).toContain('bob approved');
    expect(history.stdout).toContain('carol locked prod: incident 42');
    expect(history.stdout).toMatch(/1\.0\.2 rejected in eng by engine: gate unit failed/);
  });

  it('each command has its own --help, with an example and the exit codes', async () => {
    const help = await w.run('approve', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('ringmaster approve <pipeline> <ring> <release>');
    expect(help.stdout).toContain('Example:');
    expect(help.stdout).toContain('ringmaster approve foostat prod 1.0.42 --by alice');
    expect(help.stdout).toContain('Exit codes:');
    expect(help.stdout).not.toContain('Commands:');
    expect((await w.run('help', 'rollback')).stdout).toContain('--to       the release to go back to');
  });
});
