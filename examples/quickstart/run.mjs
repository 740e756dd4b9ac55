#!/usr/bin/env node
// The Ringmaster demo: one pipeline through eng → sandbox → prod on the embedded defaults
// (a local git repository, a file ledger, hosts that are local directories). Three commits,
// made with the real git client as a person would:
// the first ships everywhere, the second breaks the sandbox smoke test and is rolled back,
// the third fixes it and reaches prod after an approval. Ends with the status table.
//
//   npm run demo            (from the repository root; installs what it needs)
//   npm run demo -- --serve (then keeps the team page up, with a user to sign in as)
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  batches,
  build,
  createAccess,
  createEngine,
  describeState,
  fileStore,
  formatStatus,
  localTarget,
  manual,
  oneAtATime,
  pipeline,
  shortReason,
} from '@ringmaster/core';
import { aptRepository, deb } from '@ringmaster/pkg-deb';
import { git } from '@ringmaster/vcs-git';
import { serveWeb } from '@ringmaster/web';

const home = resolve(process.env.RINGMASTER_DEMO_DIR ?? '.ringmaster-demo');
await rm(home, { recursive: true, force: true });

const color = process.stdout.isTTY ? (code, text) => `\x1b[${code}m${text}\x1b[0m` : (_code, text) => text;
const say = (text) => console.log(text);
const step = (text) => say(`\n${color('1', `▸ ${text}`)}`);

// The application's repository: a bare repository and a working copy people commit from.
const origin = join(home, 'git', 'foostat.git');
const work = join(home, 'git', 'foostat');
const sh = (cwd, ...args) => execFileSync('git', args, { cwd, stdio: 'pipe' }).toString();
await mkdir(work, { recursive: true });
sh(home, 'init', '--quiet', '--bare', '--initial-branch=main', origin);
sh(work, 'init', '--quiet', '--initial-branch=main');
sh(work, 'remote', 'add', 'origin', origin);
async function commit(author, message, files) {
  for (const [path, content] of Object.entries(files)) await writeFile(join(work, path), content);
  sh(work, 'add', '--all');
  sh(
    work,
    '-c',
    `user.name=${author}`,
    '-c',
    `user.email=${author}@example.com`,
    'commit',
    '--quiet',
    '-m',
    message,
  );
  sh(work, 'push', '--quiet', 'origin', 'main');
}
// The application: an index page and a health check the hosts run after each install.
await commit('alice', 'Foostat widget renders HTML', {
  'index.html': '<h1>foostat</h1>\n',
  'check.sh': '#!/bin/sh\ngrep -q "<h1>" index.html\n',
});
const source = git({ url: origin, branch: 'main', cacheDir: join(home, 'git', 'mirror.git') });

const hosts = (ring, n) =>
  localTarget({
    root: join(home, 'hosts', ring),
    hosts: Array.from({ length: n }, (_, i) => `${ring}-${i + 1}`),
    healthCheck: { run: ['sh', 'check.sh'] },
  });

const foostat = pipeline({
  name: 'foostat',
  source,
  build: build({ steps: [['sh', '-c', 'mkdir -p out && cp index.html check.sh out/']], output: 'out' }),
  // A real Debian package, published to an apt repository (pool/, dists/…/Packages, Release).
  packager: deb({
    name: 'foostat',
    version: '1.0.{number}',
    maintainer: 'Foostat team <foostat@example.com>',
    description: 'Foostat widget\nRenders the foostat widget on the home page.',
  }),
  repository: aptRepository({ dir: join(home, 'apt') }),
  rings: [
    {
      name: 'eng',
      target: hosts('eng', 2),
      gates: [{ name: 'unit', run: ['sh', '-c', 'test -n "$RINGMASTER_VERSION"'] }],
    },
    {
      name: 'sandbox',
      target: hosts('sandbox', 3),
      rollout: batches(2),
      // The smoke test reads the page on every sandbox host: it must not show raw PHP.
      gates: [
        { name: 'smoke', run: ['sh', '-c', '! grep -q "<?php" foostat/current/index.html'], on: 'hosts' },
      ],
    },
    { name: 'prod', target: hosts('prod', 4), rollout: oneAtATime(), policy: manual({ group: ['oncall'] }) },
  ],
  notifiers: [
    {
      name: 'committer',
      notify: async (n) =>
        say(
          n.kind === 'approval'
            ? `    ✉ to ${n.approvers?.join(', ') ?? 'the approvers'}: ${n.summary}`
            : `    ${n.ok ? '✉' : color('31', '✉')} to ${n.author}: ${n.summary}`,
        ),
    },
  ],
});

// With --serve, the team page comes up at the end, with identities: one user, demo (in oncall),
// who may do everything; the script signs in as demo with its token to approve, and approvals
// count only from people who signed in.
const serve = process.argv.includes('--serve');
const access = serve
  ? createAccess(
      {
        users: { demo: { groups: ['oncall'] } },
        permissions: {
          '*': { approve: ['oncall'], deploy: ['oncall'], rollback: ['oncall'], lock: ['oncall'] },
        },
      },
      join(home, 'users.json'),
    )
  : undefined;
const token = access ? (await access.addUser('demo')).token : undefined;
const demo = token ? await access.authenticate(token) : undefined;
/** Who approves in the script: oncall by name, or with --serve demo, signed in. */
const approver = demo
  ? { by: demo.name, identity: { method: demo.method, groups: [...demo.groups] } }
  : { by: 'oncall' };

const engine = createEngine({
  pipelines: [foostat],
  store: fileStore({ dir: join(home, 'ledger') }),
  workDir: join(home, 'work'),
  authenticatedApprovals: serve,
});

// Progress: every step the engine takes arrives as a typed event.
engine.on('revision.seen', ({ revision }) =>
  say(`  commit ${revision.id.slice(0, 8)} by ${revision.author}: ${revision.message.trim()}`),
);
engine.on('build.finished', (d) =>
  say(`  build ${d.ok ? color('32', 'passed') : color('31', `failed: ${d.error}`)} (${d.durationMs} ms)`),
);
engine.on('release.created', (d) =>
  say(
    `  release ${color('1', d.version)} published (${d.artifact.size} bytes, sha256 ${d.artifact.sha256.slice(0, 12)}…)`,
  ),
);
engine.on('rollout.started', (d) =>
  say(`  ${d.kind} ${d.release} → ${color('36', d.ring)}: ${d.batches.map((b) => b.join('+')).join(' → ')}`),
);
engine.on('host.finished', (d) =>
  say(
    `    ${d.ok ? color('32', '✔') : color('31', '✘')} ${d.host} ${d.phase === 'rollback' ? 'rolled back to' : 'runs'} ${describeState(d.state)}${d.error ? ` (${shortReason(d.error)})` : ''}`,
  ),
);
engine.on('gate.finished', (d) =>
  say(`    gate ${d.gate} on ${d.ring}: ${d.ok ? color('32', 'passed') : color('31', 'FAILED')}`),
);
engine.on('ring.rejected', (d) => say(`  ${color('33', `${d.release} rejected in ${d.ring}`)}: ${d.reason}`));
engine.on('error', (e) => say(color('31', `  error (${e.operation}): ${e.error.message}`)));

await engine.start();

step('Commit 1 → build → .deb → apt repository → eng → sandbox, then prod waits for approval');
await engine.tick();
const why = await engine.explain({ pipeline: 'foostat', ring: 'prod' });
say(`  explain prod: ${color('33', why.summary)}`);

step('oncall approves 1.0.1 for prod');
await engine.approve({
  pipeline: 'foostat',
  ring: 'prod',
  release: '1.0.1',
  ...approver,
  comment: 'ship it',
});
await engine.tick();

step('Commit 2 breaks the page: the sandbox smoke test catches it, and sandbox rolls back');
await commit('bob', 'Render widget server-side', {
  'index.html': '<?php echo $widget; ?>\n<h1>foostat</h1>\n',
});
await engine.tick();
say(`  explain prod: ${color('33', (await engine.explain({ pipeline: 'foostat', ring: 'prod' })).summary)}`);

step('Commit 3 fixes it; oncall approves; it reaches prod one host at a time');
await commit('bob', 'Render widget client-side', {
  'index.html': '<h1>foostat</h1>\n<div class="widget"></div>\n',
});
await engine.tick();
await engine.approve({ pipeline: 'foostat', ring: 'prod', release: '1.0.3', ...approver });
await engine.tick();

step('Status (every host asked what it really runs)');
const status = await engine.status({ live: true });
say(formatStatus(status));

const prod = status.pipelines[0].rings.find((r) => r.name === 'prod');
const ok = prod.version === '1.0.3' && prod.hosts.every((h) => h.live?.version === '1.0.3');
say(
  `\n${ok ? color('32', 'Demo finished: prod runs 1.0.3 on every host.') : color('31', 'Demo failed: prod does not run 1.0.3 everywhere.')}`,
);
say(`Ledger: ${join(home, 'ledger', 'journal.jsonl')}`);

if (serve) {
  const port = Number(process.env.RINGMASTER_DEMO_PORT ?? 8080);
  const web = await serveWeb({ engine, access, title: 'foostat (demo)', port }).catch((error) =>
    error.code === 'EADDRINUSE'
      ? serveWeb({ engine, access, title: 'foostat (demo)', port: 0 })
      : Promise.reject(error),
  );
  step(`The team page: ${web.url}`);
  say(`  sign in with the token ${color('1', token)} (user demo, group oncall); Ctrl-C stops it`);
  await new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await web.close();
}
await engine.close();
process.exit(ok ? 0 : 1);
