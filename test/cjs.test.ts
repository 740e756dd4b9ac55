/**
 * Both module formats: a CommonJS script (a plain `.cjs`, `require()` only) using the built
 * packages. Errors thrown by one bundle (pkg-deb, vcs-git, core's `./adapter` entry) are
 * recognised by another (core's main entry); and an engine whose git history is force-pushed
 * recovers from CURSOR_LOST once, as the ESM engine does, instead of failing every tick.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../', import.meta.url));
let dir: string;

beforeAll(async () => {
  await mkdir(join(repo, '.ringmaster'), { recursive: true });
  // Inside the repository, so require('@ringmaster/…') resolves to the workspace's built packages.
  dir = await mkdtemp(join(repo, '.ringmaster', 'cjs-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function runCjs(
  name: string,
  source: string,
): Promise<{ status: number | null; out: unknown; stderr: string }> {
  const file = join(dir, `${name}.cjs`);
  await writeFile(file, source);
  const r = spawnSync(process.execPath, [file, dir], { encoding: 'utf8', timeout: 120_000 });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  return { status: r.status, out: last ? JSON.parse(last) : undefined, stderr: r.stderr };
}

describe('CommonJS', () => {
  it('recognises errors from every bundle, whichever copy of core threw them', async () => {
    const r = await runCjs(
      'errors',
      `const core = require('@ringmaster/core');
const adapter = require('@ringmaster/core/adapter');
const { deb } = require('@ringmaster/pkg-deb');
const { git } = require('@ringmaster/vcs-git');
const { ssh } = require('@ringmaster/target-ssh');
const caught = (fn) => { try { fn(); } catch (e) { return e; } };
const fromDeb = caught(() => deb({ name: 'Not A Name', maintainer: 'x', description: 'y' }));
const fromGit = caught(() => git({ url: '' }));
const fromSsh = caught(() => ssh({ hosts: [] }));
const fromAdapter = new adapter.RingmasterError('TARGET', 'thrown through core/adapter');
console.log(JSON.stringify({
  two: core.RingmasterError !== adapter.RingmasterError,
  deb: [core.isRingmasterError(fromDeb, 'CONFIG'), fromDeb instanceof core.ConfigError, fromDeb instanceof core.RingmasterError],
  git: [core.isRingmasterError(fromGit, 'CONFIG'), fromGit instanceof core.ConfigError],
  ssh: [core.isRingmasterError(fromSsh, 'CONFIG'), fromSsh instanceof core.ConfigError],
  adapter: [core.isRingmasterError(fromAdapter, 'TARGET'), fromAdapter instanceof core.RingmasterError, fromAdapter instanceof core.ConfigError],
}));
`,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toEqual({
      // Core's CJS entries are separate bundles, each with its own class: what broke instanceof.
      two: true,
      deb: [true, true, true],
      git: [true, true],
      ssh: [true, true],
      adapter: [true, true, false],
    });
  });

  it('an engine recovers from a force-push once, not CURSOR_LOST every tick', async () => {
    const r = await runCjs(
      'force-push',
      `const { execFileSync } = require('node:child_process');
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { createEngine, fileStore, localRepository, localTarget, pipeline, tarball } = require('@ringmaster/core');
const { git } = require('@ringmaster/vcs-git');

const dir = join(process.argv[2], 'force-push');
const env = { ...process.env, GIT_AUTHOR_NAME: 'alice', GIT_AUTHOR_EMAIL: 'a@example.com', GIT_COMMITTER_NAME: 'alice', GIT_COMMITTER_EMAIL: 'a@example.com' };
const sh = (cwd, ...args) => execFileSync('git', args, { cwd, env, stdio: 'pipe' }).toString().trim();
mkdirSync(dir, { recursive: true });
const bare = join(dir, 'origin.git');
const work = join(dir, 'work');
sh(dir, 'init', '-q', '--bare', '-b', 'main', bare);
sh(dir, 'clone', '-q', bare, work);
sh(work, 'checkout', '-q', '-b', 'main');
const commit = (text) => { writeFileSync(join(work, 'app.txt'), text); sh(work, 'add', '-A'); sh(work, 'commit', '-qm', text); return sh(work, 'rev-parse', 'HEAD'); };
const base = commit('base');
sh(work, 'push', '-q', 'origin', 'main');

const app = pipeline({
  name: 'app',
  source: git({ url: bare, branch: 'main', cacheDir: join(dir, 'cache') }),
  packager: tarball({ name: 'app' }),
  repository: localRepository({ dir: join(dir, 'repo') }),
  rings: [{ name: 'eng', target: localTarget({ root: join(dir, 'hosts'), hosts: ['eng-1'] }) }],
});
const engine = createEngine({ pipelines: [app], store: fileStore({ dir: join(dir, 'ledger') }), workDir: join(dir, 'w') });
const errors = [];
engine.on('error', (e) => errors.push(e.error.message));
(async () => {
  await engine.tick();
  commit('oops');
  sh(work, 'push', '-q', 'origin', 'main');
  await engine.tick();
  // Rewritten history: the cursor's commit is gone from the branch.
  sh(work, 'reset', '-q', '--hard', base);
  commit('fixed instead');
  commit('and more');
  sh(work, 'push', '-q', '--force', 'origin', 'HEAD:refs/heads/main');
  for (let i = 0; i < 3; i++) await engine.tick();
  const records = await fileStore({ dir: join(dir, 'ledger') }).read();
  await engine.close();
  console.log(JSON.stringify({
    errors,
    resets: records.filter((r) => r.type === 'source.reset').length,
    releases: records.filter((r) => r.type === 'release.created').map((r) => r.data.version),
  }));
})();
`,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toEqual({ errors: [], resets: 1, releases: ['1.0.1', '1.0.2', '1.0.3'] });
  });
});

describe('CommonJS: store-postgres', () => {
  it('stores a ledger in a real PostgreSQL, and its errors are recognised by core', async () => {
    const r = await runCjs(
      'postgres',
      `const core = require('@ringmaster/core');
const { postgresStore } = require('@ringmaster/store-postgres');
const { startPostgres } = require('@ringmaster/store-postgres/testing');
const caught = async (p) => p.then(() => undefined, (e) => e);
(async () => {
  const bad = (() => { try { postgresStore({ schema: 'x' }); } catch (e) { return e; } })();
  const cluster = await startPostgres();
  try {
    const store = postgresStore({ connectionString: cluster.connectionString });
    await store.append([{ type: 'a', time: new Date(0).toISOString(), data: {} }]);
    const conflict = await caught(store.append([{ type: 'b', time: new Date(0).toISOString(), data: {} }], { expectedSeq: 0 }));
    const records = await store.read();
    await store.close();
    console.log(JSON.stringify({
      config: [core.isRingmasterError(bad, 'CONFIG'), bad instanceof core.ConfigError],
      conflict: [core.isRingmasterError(conflict, 'CONFLICT'), conflict instanceof core.RingmasterError],
      records: records.map((x) => [x.seq, x.type]),
      many: store.capabilities.manyRunners,
    }));
  } finally {
    await cluster.destroy();
  }
})();
`,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toEqual({ config: [true, true], conflict: [true, true], records: [[1, 'a']], many: true });
  });
});

describe('CommonJS: the CLI package', () => {
  it('loads a TypeScript config file through require("@ringmaster/cli")', async () => {
    await writeFile(
      join(dir, 'ringmaster.config.ts'),
      `import { defineConfig } from '@ringmaster/cli';
import { localRepository, localTarget, pipeline, tarball } from '@ringmaster/core';
import { git } from '@ringmaster/vcs-git';
const name: string = 'app';
export default defineConfig({
  pipelines: [
    pipeline({
      name,
      source: git({ url: 'file:///nowhere.git', branch: 'main' }),
      packager: tarball({ name }),
      repository: localRepository({ dir: 'repo' }),
      rings: [{ name: 'eng', target: localTarget({ root: 'hosts', hosts: ['eng-1'] }) }],
    }),
  ],
});
`,
    );
    const r = await runCjs(
      'cli-config',
      `const { loadProject } = require('@ringmaster/cli');
loadProject(process.argv[2]).then(async (project) => {
  const out = { file: project.file.endsWith('ringmaster.config.ts'), pipelines: [...project.engine.pipelines.keys()] };
  await project.engine.close();
  console.log(JSON.stringify(out));
});
`,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toEqual({ file: true, pipelines: ['app'] });
  });

  it('the page and its access control work under require(), and their errors are recognised by ESM-loaded core', async () => {
    const r = await runCjs(
      'web',
      `const { join } = require('node:path');
const core = require('@ringmaster/core');
const { createWebApp } = require('@ringmaster/web');
const dir = process.argv[2];
const access = core.createAccess({ permissions: { prod: { approve: ['oncall'] } } }, join(dir, 'web-users.json'));
(async () => {
  const { token } = await access.addUser('dan', ['dev']);
  const dan = await access.authenticate(token);
  let denied;
  try { access.authorize(dan, 'approve', 'app', 'prod'); } catch (e) { denied = e; }
  const lax = core.createEngine({ pipelines: [], store: core.memoryStore(), workDir: join(dir, 'web-work') });
  let refused;
  try { createWebApp({ engine: lax, access }); } catch (e) { refused = e; }
  const engine = core.createEngine({ pipelines: [], store: core.memoryStore(), workDir: join(dir, 'web-work'), authenticatedApprovals: true });
  const web = createWebApp({ engine, access });
  const home = await web.app.request('/');
  const live = await web.app.request('/live');
  web.close();
  await engine.close();
  const esm = await import('@ringmaster/core');
  console.log(JSON.stringify({
    dan: dan && dan.name,
    forbidden: core.isRingmasterError(denied, 'FORBIDDEN'),
    forbiddenByEsm: esm.isRingmasterError(denied, 'FORBIDDEN'),
    laxEngineRefused: esm.isRingmasterError(refused, 'CONFIG') && refused.details.path,
    home: [home.status, home.headers.get('location')],
    live: live.status,
  }));
})();
`,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toEqual({
      dan: 'dan',
      forbidden: true,
      forbiddenByEsm: true,
      laxEngineRefused: 'access',
      home: [302, '/login'],
      live: 401,
    });
  });
});
