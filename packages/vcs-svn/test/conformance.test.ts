/**
 * The Source conformance suite of @ringmaster/core/testing, on a real repository reached over
 * file:// and over svnserve on loopback with a password.
 */
import { rm } from 'node:fs/promises';
import { describeSource } from '@ringmaster/core/testing';
import { afterAll, beforeAll } from 'vitest';
import { svn } from '../src/index.js';
import {
  createRepo,
  type Repo,
  repoDir,
  type Svnserve,
  startSvnserve,
  USERS,
  type WorkingCopy,
} from './helpers.js';

let served: string;
let server: Svnserve;
let count = 0;

beforeAll(async () => {
  served = await repoDir('rm-svn-served-');
  server = await startSvnserve(served);
});

afterAll(async () => {
  await server?.stop();
  await rm(served, { recursive: true, force: true });
});

/** A fixture whose person commits to trunk from a working copy at `wcUrl` with their own credentials. */
async function fixture(repo: Repo, wc: WorkingCopy, source: ReturnType<typeof svn>) {
  await wc.commit({ 'README.txt': 'hello\n' }, 'initial import');
  return {
    source,
    commit: (files: Record<string, string>, message: string, author?: string) =>
      wc.commit(files, message, author),
    cleanup: () => repo.cleanup(),
  };
}

describeSource('svn file://', {
  async create() {
    const repo = await createRepo();
    const wc = await repo.workingCopy('trunk');
    return fixture(repo, wc, svn({ url: repo.fileUrl, username: 'alice' }));
  },
});

describeSource('svn svnserve', {
  async create() {
    const name = `repo${++count}`;
    const repo = await createRepo(served, name);
    const url = server.url(name);
    const wc = await repo.workingCopy('trunk', { url, username: 'alice', password: USERS.alice! });
    return fixture(repo, wc, svn({ url, username: 'alice', password: USERS.alice! }));
  },
});
