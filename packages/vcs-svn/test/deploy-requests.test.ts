/**
 * Deploy requests in the repository: copies a person makes into prod/<name> are read as requests
 * for ring prod, and requestDeploy() makes the seed's step 1 itself with a server-side copy.
 */
import { existsSync } from 'node:fs';
import { rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isRingmasterError } from '@ringmaster/core/adapter';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type SkippedDeployRequest, svn } from '../src/index.js';
import { createRepo, type Repo, sh, tempDir, type WorkingCopy } from './helpers.js';

let repo: Repo;
let root: WorkingCopy;
let t1: string;
let t2: string;

const youngest = async () => (await sh(['svnlook', 'youngest', repo.path])).trim();

beforeAll(async () => {
  repo = await createRepo();
  root = await repo.workingCopy();
  t1 = await root.commit({ 'trunk/app.txt': '1\n' }, 'one', 'alice');
  t2 = await root.commit({ 'trunk/app.txt': '2\n' }, 'two', 'bob');
  await root.commit({ 'docs/readme.txt': 'r\n' }, 'docs, not trunk', 'bob');
});

afterAll(async () => {
  await repo.cleanup();
});

describe('deployRequests()', () => {
  let first: string;

  it('is empty before anyone asked (no prod folder yet)', async () => {
    expect(await svn({ url: repo.fileUrl }).deployRequests()).toEqual([]);
  });

  it('reads a copy of trunk into prod/<name> as a request for ring prod, with who, when and why', async () => {
    first = await root.copy('trunk', 'prod/2011-07-08-10:00', 'deploying to prod', 'carol');
    const [request, ...rest] = await svn({ url: repo.fileUrl }).deployRequests();
    expect(rest).toEqual([]);
    // The working copy's trunk was at the repository head (the docs commit); the request names
    // the revision of trunk that the copy holds, the one log() lists.
    expect(request).toMatchObject({
      id: first,
      ring: 'prod',
      revision: t2,
      author: 'carol',
      message: 'deploying to prod',
      name: '2011-07-08-10:00',
    });
    expect(request!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('returns only the requests after the cursor, oldest first', async () => {
    const source = svn({ url: repo.fileUrl });
    expect(await source.deployRequests(first)).toEqual([]);
    const older = await root.copy('trunk', 'prod/hotfix-old', 'roll back to one', 'dave', t1);
    const again = await root.copy('trunk', 'prod/2011-07-09', 'again', 'erin');
    const after = await source.deployRequests(first);
    expect(after.map((r) => [r.id, r.name, r.revision, r.author])).toEqual([
      [older, 'hotfix-old', t1, 'dave'],
      [again, '2011-07-09', t2, 'erin'],
    ]);
    expect((await source.deployRequests(older)).map((r) => r.id)).toEqual([again]);
  });

  it('skips copies that are not valid requests, with a reason, and still reads the valid ones', async () => {
    const before = await youngest();
    await root.copy('trunk', 'prod/bad name', 'space', 'mallory');
    await root.copy('trunk', 'prod/x;rm -rf ~', 'semicolon', 'mallory');
    await root.copy('trunk', 'prod/$(id)`id`', 'substitution', 'mallory');
    await root.copy('trunk', 'prod/.hidden', 'dot', 'mallory');
    await root.copy('docs', 'prod/from-docs', 'not the line', 'mallory');
    await root.svn(['mkdir', '-q', 'prod/empty']);
    await root.commitStaged('no history', 'mallory');
    await root.commit({ 'prod/2011-07-08-10:00/app.txt': 'edited\n' }, 'edit inside a request', 'mallory');
    const good = await root.copy('trunk', 'prod/good', 'a good one', 'frank');
    const skipped: SkippedDeployRequest[] = [];
    const requests = await svn({
      url: repo.fileUrl,
      onSkippedRequest: (s) => skipped.push(s),
    }).deployRequests(before);
    expect(requests.map((r) => [r.id, r.name, r.author])).toEqual([[good, 'good', 'frank']]);
    expect(skipped.map((s) => s.path)).toEqual([
      '/prod/bad name',
      '/prod/x;rm -rf ~',
      '/prod/$(id)`id`',
      '/prod/.hidden',
      '/prod/from-docs',
      '/prod/empty',
    ]);
    expect(skipped[0]!.reason).toContain('name "bad name" is not allowed');
    expect(skipped[1]!.reason).toContain('"x;rm -rf ~"');
    expect(skipped[4]!.reason).toContain('copied from /docs, not from the watched line /trunk');
    expect(skipped[5]!.reason).toContain('created without history');
  });

  it('warns about skipped copies as a process warning when no onSkippedRequest is given', async () => {
    const before = await youngest();
    await root.copy('trunk', 'prod/warn me', 'space again', 'mallory');
    // Caught, so the run's output does not print it.
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      expect(await svn({ url: repo.fileUrl }).deployRequests(before)).toEqual([]);
      const mine = emitted.mock.calls.filter(
        ([, options]) =>
          (options as { code?: string } | undefined)?.code === 'RINGMASTER_SKIPPED_DEPLOY_REQUEST',
      );
      expect(mine).toEqual([
        [
          expect.stringContaining('/prod/warn me is not a deploy request'),
          { code: 'RINGMASTER_SKIPPED_DEPLOY_REQUEST' },
        ],
      ]);
    } finally {
      emitted.mockRestore();
    }
  });

  it('tells each skipped copy once: not again when later polls read it, nor from a cursor at its revision', async () => {
    const before = await youngest();
    const bad = await root.copy('trunk', 'prod/once only', 'space', 'mallory');
    const skipped: SkippedDeployRequest[] = [];
    const source = svn({ url: repo.fileUrl, onSkippedRequest: (s) => skipped.push(s) });
    // A watch with no valid request since polls from the same cursor again and again.
    for (let poll = 0; poll < 3; poll++) expect(await source.deployRequests(before)).toEqual([]);
    expect(skipped.map((s) => [s.revision, s.path])).toEqual([[bad, '/prod/once only']]);
    // Another source, whose cursor is the bad copy's revision: that revision is not new to it.
    const later: SkippedDeployRequest[] = [];
    const next = await root.copy('trunk', 'prod/after-it', 'a good one', 'frank');
    const reader = svn({ url: repo.fileUrl, onSkippedRequest: (s) => later.push(s) });
    expect((await reader.deployRequests(bad)).map((r) => r.id)).toEqual([next]);
    expect(later).toEqual([]);
    // A cursor naming one request of a commit that also holds a bad copy: that commit is not new.
    await root.svn(['update', '-q']);
    for (const name of ['prod/pa', 'prod/pc', 'prod/pb x']) await root.svn(['copy', '-q', 'trunk', name]);
    const rev = await root.commitStaged('two requests and a bad copy', 'gina');
    const fresh: SkippedDeployRequest[] = [];
    const third = svn({ url: repo.fileUrl, onSkippedRequest: (s) => fresh.push(s) });
    expect((await third.deployRequests(`${rev}/pa`)).map((r) => r.id)).toEqual([`${rev}/pc`]);
    expect(fresh).toEqual([]);
  });

  it('gives each of several copies made in one commit its own id, usable as a cursor', async () => {
    const before = await youngest();
    await root.svn(['update', '-q']);
    await root.svn(['copy', '-q', 'trunk', 'prod/pair-a']);
    await root.svn(['copy', '-q', 'trunk', 'prod/pair-b']);
    const rev = await root.commitStaged('two at once', 'gina');
    const source = svn({ url: repo.fileUrl });
    const both = await source.deployRequests(before);
    expect(both.map((r) => r.id)).toEqual([`${rev}/pair-a`, `${rev}/pair-b`]);
    expect((await source.deployRequests(`${rev}/pair-a`)).map((r) => r.name)).toEqual(['pair-b']);
    expect(await source.deployRequests(`${rev}/pair-b`)).toEqual([]);
  });

  it('gives copies of one name into two folders in one commit ids of their own, so a cursor on the first keeps the second', async () => {
    await root.svn(['update', '-q']);
    const folders = { prod: 'prod', sandbox: 'sb' };
    for (const folder of Object.keys(folders)) {
      await root.svn(['copy', '-q', '--parents', 'trunk', `${folder}/same-name`]);
    }
    const rev = await root.commitStaged('one name, two rings', 'hana');
    const source = svn({ url: repo.fileUrl, deployRequests: folders });
    const both = await source.deployRequests(String(Number(rev) - 1));
    expect(both.map((r) => [r.id, r.ring, r.name])).toEqual([
      [`${rev}/same-name/prod`, 'prod', 'same-name'],
      [`${rev}/same-name/sandbox`, 'sb', 'same-name'],
    ]);
    // As after a crash between recording the two: the second is still to come.
    expect((await source.deployRequests(both[0]!.id)).map((r) => r.id)).toEqual([both[1]!.id]);
    expect(await source.deployRequests(both[1]!.id)).toEqual([]);
  });

  it('reads every request folder of one poll at one revision: requests committed between two folder reads are all found by the next poll', async () => {
    // svn, with a hook: right after its first log of the prod folder, two requests are committed,
    // one into each folder, as other people's commits can land between two reads of a poll.
    const bin = await tempDir('rm-svn-bin-');
    const hook = join(bin, 'hook');
    await writeFile(
      join(bin, 'svn'),
      `#!/bin/sh\n/usr/bin/svn "$@"\nrc=$?\ncase "$*" in *" log "*|"log "*) case "$*" in *"/prod@"*) if [ -f "${hook}" ]; then sh "${hook}" >/dev/null 2>&1; rm -f "${hook}"; fi;; esac;; esac\nexit $rc\n`,
      { mode: 0o755 },
    );
    await symlink('/usr/bin/svnmucc', join(bin, 'svnmucc'));
    const before = await youngest();
    const url = repo.fileUrl;
    await writeFile(
      hook,
      `svnmucc -m late-prod -U '${url}' cp HEAD trunk prod/late-prod\nsvnmucc -m folder -U '${url}' mkdir sandbox 2>/dev/null\nsvnmucc -m late-sandbox -U '${url}' cp HEAD trunk sandbox/late-sandbox\n`,
    );
    try {
      const source = svn({ url, svnPath: join(bin, 'svn'), deployRequests: { prod: 'prod', sandbox: 'sb' } });
      const first = await source.deployRequests(before);
      expect(existsSync(hook)).toBe(false); // the hook ran, between the two folders' reads
      // The engine moves its cursor to the last request it was given.
      const cursor = first.at(-1)?.id ?? before;
      const second = await source.deployRequests(cursor);
      expect([...first, ...second].map((r) => [r.ring, r.name])).toEqual([
        ['prod', 'late-prod'],
        ['sb', 'late-sandbox'],
      ]);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });

  it('maps each request folder to its ring', async () => {
    const before = await youngest();
    const sb = await root.copy('trunk', 'sandbox/today', 'to sandbox', 'hana');
    const prod = await root.copy('trunk', 'prod/today', 'to prod', 'hana');
    const source = svn({ url: repo.fileUrl, deployRequests: { prod: 'prod', sandbox: 'sb' } });
    const requests = await source.deployRequests(before);
    expect(requests.map((r) => [r.id, r.ring])).toEqual([
      [sb, 'sb'],
      [prod, 'prod'],
    ]);
  });
});

describe('requestDeploy()', () => {
  it('copies trunk into prod/<UTC timestamp> server-side, as the configured user', async () => {
    const source = svn({ url: repo.fileUrl, username: 'release-bot' });
    const before = await youngest();
    const made = await source.requestDeploy({ ring: 'prod', revision: t1 });
    expect(made).toMatchObject({
      ring: 'prod',
      revision: t1,
      author: 'release-bot',
      message: 'deploying to prod',
    });
    expect(made.name).toMatch(/^\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d$/);
    expect(made.id).toBe(String(Number(before) + 1));
    const listing = await sh(['svn', 'ls', `${repo.fileUrl}/prod/${made.name}`]);
    expect(listing.split('\n')).toContain('app.txt');
    expect(await sh(['svn', 'cat', `${repo.fileUrl}/prod/${made.name}/app.txt`])).toBe('1\n');
    expect(await source.deployRequests(before)).toEqual([made]);
  });

  it('takes the seed name with a colon, a message, and a repository revision that is not a trunk change', async () => {
    const docsOnly = await root.commit({ 'docs/x.txt': 'x\n' }, 'docs again');
    const made = await svn({ url: repo.fileUrl }).requestDeploy({
      ring: 'prod',
      revision: docsOnly,
      name: '2026-11-28-10:00',
      message: 'ship it <now> & "fast"\n$(id) `id`; done',
    });
    expect(made).toMatchObject({
      name: '2026-11-28-10:00',
      revision: t2,
      message: 'ship it <now> & "fast"\n$(id) `id`; done',
    });
  });

  it('creates the request folder, and its missing parents, with the first request', async () => {
    for (const folder of ['releases', 'deploy/to/eng']) {
      const source = svn({ url: repo.fileUrl, deployRequests: { [folder]: 'eng' } });
      const made = await source.requestDeploy({ ring: 'eng', revision: t2, name: 'first' });
      expect(made).toMatchObject({ ring: 'eng', revision: t2, name: 'first' });
      expect((await source.deployRequests()).map((r) => r.id)).toEqual([made.id]);
      expect(await sh(['svn', 'cat', `${repo.fileUrl}/${folder}/first/app.txt`])).toBe('2\n');
    }
  });

  it('refuses a name that already exists instead of copying into it', async () => {
    const before = await youngest();
    const error = await svn({ url: repo.fileUrl })
      .requestDeploy({ ring: 'prod', revision: t2, name: 'good' })
      .catch((e: unknown) => e);
    expect(isRingmasterError(error, 'SOURCE')).toBe(true);
    expect((error as Error).message).toContain('already exists');
    expect(await youngest()).toBe(before);
  });

  it.each(['../x', 'a;b', 'a b', 'two\nlines', '$(id)', '.', 'x/y'])(
    'refuses the name %j before touching the repository',
    async (name) => {
      const before = await youngest();
      const error = await svn({ url: repo.fileUrl })
        .requestDeploy({ ring: 'prod', revision: t2, name })
        .catch((e: unknown) => e);
      expect(isRingmasterError(error, 'UNSAFE_INPUT')).toBe(true);
      expect((error as Error).message).toContain('deploy request name');
      expect(await youngest()).toBe(before);
    },
  );

  it('refuses a ring without a request folder, and a revision that does not exist', async () => {
    const source = svn({ url: repo.fileUrl });
    const noRing = await source.requestDeploy({ ring: 'staging', revision: t2 }).catch((e: unknown) => e);
    expect(isRingmasterError(noRing, 'CONFIG')).toBe(true);
    expect((noRing as Error).message).toContain('"staging"');
    const noRev = await source.requestDeploy({ ring: 'prod', revision: '987654' }).catch((e: unknown) => e);
    expect(isRingmasterError(noRev, 'SOURCE')).toBe(true);
    expect((noRev as Error).message).toContain('No such revision 987654');
  });

  it('works in a project folder below the repository root', async () => {
    await sh(['svn', 'mkdir', '-q', '--parents', '-m', 'project', `${repo.fileUrl}/shop/trunk`]);
    const line = await root.commit({ 'shop/trunk/index.php': '<?php\n' }, 'shop code', 'ivan');
    const source = svn({ url: `${repo.fileUrl}/shop` });
    const made = await source.requestDeploy({ ring: 'prod', revision: line, name: 'shop-1' });
    expect(made.revision).toBe(line);
    const byHand = await root.copy('shop/trunk', 'shop/prod/shop-2', 'by hand', 'ivan');
    expect((await source.deployRequests(made.id)).map((r) => [r.id, r.revision])).toEqual([[byHand, line]]);
  });
});
