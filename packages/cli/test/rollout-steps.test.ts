/**
 * Rollout steps through the CLI on real sshd hosts: a canary that pauses for a person and
 * resumes (`ringmaster resume`, recorded as who did it), and a verify that fails on the second
 * step and rolls back only the hosts done — the hosts after it are never touched.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launchBrowser, signIn } from '@ringmaster/web/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RealProject, realProject, serveProject, shopConfigWith } from './lab.js';

let w: RealProject;
/** alice's token, once the team turns identities on (the third case). */
let tokenOfAlice = '';

// prod: four hosts, one first, a person looks, the gate checks it, then two, checked again, then all.
// The smoke gate fails 1.0.2 once two hosts serve it, with a line saying why on stderr.
const config = (more = '') => `${shopConfigWith({
  head: "import { canary, pause, verify } from '@ringmaster/core';\n",
  rings: `{ name: 'eng', target: hosts(0, 1) },
        {
          name: 'prod',
          target: hosts(1, 5),
          policy: auto(),
          rollout: canary([1, pause('manual'), verify(), 2, verify(), '100%']),
          gates: [{
            name: 'smoke',
            run: ['sh', '-c', 'set -- $RINGMASTER_HOSTS; if [ "$RINGMASTER_VERSION" = 1.0.2 ] && [ $# -ge 2 ]; then echo "GET /health: 500 on $2" >&2; exit 1; fi'],
          }],
        },`,
})}${more}
};
`;

beforeAll(async () => {
  w = await realProject('steps', 5, config());
}, 180_000);
afterAll(async () => {
  await w?.stop();
});

/** The host steps of rollout `id`, in order: `prod-2 deploy`. */
async function hostSteps(id: string): Promise<string[]> {
  return (await w.records()).flatMap((r) =>
    r.type === 'host.started' && r.data.rollout === id ? [`${r.data.host} ${r.data.phase}`] : [],
  );
}

describe('rollout steps', () => {
  it('a canary pauses for a person; status and explain say so; resume carries it on and records who', async () => {
    w.commit({ 'index.html': '<h1>shop</h1>\n' }, 'First page');
    const first = await w.run('watch', '--once');
    expect(first.code, first.stderr).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', null, null, null]);
    expect(first.stdout).toContain(
      'prod#1 paused at step 2: until a person resumes it (ringmaster resume shop prod)',
    );

    const status = await w.run('status');
    expect(status.stdout).toMatch(/shop\s+prod\s+-\s+\d\/4\s+paused 2\/6/);
    expect(status.stdout).toContain(
      'shop/prod: paused at step 2 of 6 (pause for a person): waits for a person: ringmaster resume shop prod',
    );
    const explain = await w.run('explain', 'shop', 'prod');
    expect(explain.stdout).toContain(
      'deploy prod#1 of 1.0.1 to prod is paused at step 2 of 6 (pause for a person), 1/4 hosts done',
    );
    // Another pass does nothing while it waits.
    expect((await w.run('watch', '--once')).code).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', null, null, null]);

    const resume = await w.run('resume', 'shop', 'prod', '--reason', 'canary looks fine');
    expect(resume.code, resume.stderr + resume.stdout).toBe(0);
    expect(resume.stdout).toMatch(/^resumed prod#1 at step 2 as \S+$/m);
    expect(resume.stdout).toContain('deploy prod#1 of 1.0.1 to prod (resumed in prod) succeeded');
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', '1.0.1', '1.0.1', '1.0.1']);
    const resumed = (await w.records()).find((r) => r.type === 'rollout.resumed');
    expect(resumed?.data).toMatchObject({ rollout: 'prod#1', step: 2, reason: 'canary looks fine' });
    const gates = (await w.records()).flatMap((r) =>
      r.type === 'gate.finished' && r.data.ring === 'prod' ? [[r.data.step ?? 'end', r.data.ok]] : [],
    );
    expect(gates).toEqual([
      [3, true],
      [5, true],
      ['end', true],
    ]);
    // Nothing is paused now: resume is refused, and says why.
    const again = await w.run('resume', 'shop', 'prod');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('shop/prod has no paused rollout to resume');
  });

  it('a verify that fails on the second step rolls back only the hosts done, and says why', async () => {
    w.commit({ 'index.html': '<h1>shop 2</h1>\n' }, 'Second page');
    expect((await w.run('build')).code).toBe(0);
    // Deployed by hand: it stops at the pause, and the exit code says paused (6), not failed.
    const deploy = await w.run('deploy', 'shop', 'prod', '1.0.2');
    expect(deploy.code, deploy.stderr).toBe(6);
    expect(deploy.stdout).toContain('deploy prod#2 of 1.0.2 to prod (named by');
    expect(deploy.stdout).toContain(
      'paused at step 2 of 6 (pause for a person): it waits for a person: ringmaster resume shop prod',
    );
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.2', '1.0.1', '1.0.1', '1.0.1']);
    const resume = await w.run('resume', 'shop', 'prod');
    expect(resume.code).toBe(1);
    expect(resume.stdout).toContain(
      'deploy prod#2 of 1.0.2 to prod (resumed in prod) rolled-back: step 5 of 6 (verify) failed: gate smoke failed: GET /health: 500 on steps-3; rolled back steps-3, steps-2',
    );
    expect(await w.versions('shop')).toEqual(['1.0.1', '1.0.1', '1.0.1', '1.0.1', '1.0.1']);
    // prod's last two hosts were never touched by that rollout.
    expect(await hostSteps('prod#2')).toEqual([
      'steps-2 deploy',
      'steps-3 deploy',
      'steps-3 rollback',
      'steps-2 rollback',
    ]);
    const explain = await w.run('explain', 'shop', 'prod');
    expect(explain.stdout).toContain('1.0.2 failed here');
    expect(explain.stdout).toContain('GET /health: 500 on steps-3');
  });

  it('the page shows the pause and resumes it, recorded as the person signed in', async () => {
    // The team turns identities on: deploying (and resuming) in any ring needs oncall.
    await writeFile(
      join(w.dir, 'ringmaster.config.mjs'),
      config(`
  access: { permissions: { '*': { deploy: ['oncall'], rollback: ['oncall'], lock: ['oncall'], approve: ['oncall'] } }, admins: ['oncall'] },`),
    );
    const added = await w.run('user', 'add', 'alice', '--group', 'oncall');
    expect(added.code, added.stderr).toBe(0);
    const token = added.stdout.trim();
    tokenOfAlice = token;
    w.commit({ 'index.html': '<h1>shop 3</h1>\n' }, 'Third page');
    const pass = await w.runAs({ RINGMASTER_TOKEN: token }, 'watch', '--once');
    expect(pass.code, pass.stderr).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.3', '1.0.3', '1.0.1', '1.0.1', '1.0.1']);
    // Without a token the CLI may not resume it.
    expect((await w.run('resume', 'shop', 'prod')).code).toBe(5);

    const served = await serveProject(w.dir);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await signIn(page, served.url, token);
      const prod = page.locator('#ring-shop-prod');
      expect(await prod.locator('[data-testid=state]').textContent()).toBe(
        'paused at step 2/6: deploy of 1.0.3, 1/4 hosts; waits for a person',
      );
      // The host the canary updated is not drift.
      expect(await prod.locator('p.warn').count()).toBe(0);
      await prod.locator('a.action.resume').click();
      await page.waitForURL(/\/preview\?/);
      expect(await page.locator('[data-testid=preview] h2').textContent()).toBe('Resume shop/prod');
      expect(await page.locator('[data-testid=preview]').textContent()).toContain(
        'Ends the pause at step 2 of 6 of prod#3 (1.0.3, 1/4 hosts done)',
      );
      await page.fill('input[name=reason]', 'canary error rate flat');
      await Promise.all([page.waitForURL(`${served.url}/actions`), page.click('[data-testid=confirm]')]);
      expect(await page.locator('[data-testid=flash]').textContent()).toBe(
        'resumed prod#3 at step 2 as alice: succeeded: 1.0.3 on every host',
      );
    } finally {
      await browser.close();
      await served.stop();
    }
    expect(await w.versions('shop')).toEqual(['1.0.3', '1.0.3', '1.0.3', '1.0.3', '1.0.3']);
    const resumed = (await w.records()).filter(
      (r) => r.type === 'rollout.resumed' && r.data.rollout === 'prod#3',
    );
    expect(resumed.map((r) => r.data)).toEqual([
      { pipeline: 'shop', rollout: 'prod#3', step: 2, by: 'alice', reason: 'canary error rate flat' },
    ]);
  }, 120_000);

  it('abort takes a paused canary back: the host it updated gets what it ran before', async () => {
    w.commit({ 'index.html': '<h1>shop 4</h1>\n' }, 'Fourth page');
    const pass = await w.runAs({ RINGMASTER_TOKEN: tokenOfAlice }, 'watch', '--once');
    expect(pass.code, pass.stdout + pass.stderr).toBe(0);
    expect(await w.versions('shop')).toEqual(['1.0.4', '1.0.4', '1.0.3', '1.0.3', '1.0.3']);
    const abort = await w.runAs(
      { RINGMASTER_TOKEN: tokenOfAlice },
      'abort',
      'shop',
      'prod',
      '--reason',
      'canary 500s',
    );
    expect(abort.code, abort.stderr + abort.stdout).toBe(0);
    expect(abort.stdout).toContain('aborted prod#4 as alice: canary 500s');
    expect(abort.stdout).toContain(
      'rolled-back: aborted by alice: canary 500s (at step 2 of 6); rolled back steps-2',
    );
    expect(await w.versions('shop')).toEqual(['1.0.4', '1.0.3', '1.0.3', '1.0.3', '1.0.3']);
  });
});
