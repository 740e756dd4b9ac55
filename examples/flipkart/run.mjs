#!/usr/bin/env node
// The seed's flow end to end on the real adapters: alice commits to svn trunk; the engine builds
// it with make, packages a .deb, publishes it to a GPG-signed apt repository served on
// 127.0.0.1, and rolls it out over SSH (apt-get on each host) through three rings of real sshd
// hosts: eng (unit tests on the runner), sandbox (smoke test on the hosts, automatic promotion)
// and prod (a person's `svn copy trunk prod/<timestamp>` AND a deploy window). A manual clock
// makes it pass on any day: it is first Friday, when the window is closed, then Monday 10:00.
// Exits 0 only when every prod host runs the release (asked through SSH).
//
//   npm run example:flipkart      (from the repository root, as root; installs what it needs)
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  all,
  auto,
  build,
  createEngine,
  describeState,
  fileStore,
  formatStatus,
  manual,
  manualClock,
  oneAtATime,
  pipeline,
  runCommand,
  shortReason,
  window,
} from '@ringmaster/core';
import { aptRepository, deb } from '@ringmaster/pkg-deb';
import { ssh } from '@ringmaster/target-ssh';
import { svn } from '@ringmaster/vcs-svn';
import { appFiles } from './app.mjs';
import { createSigningKey, createSvnRepository, startRingHosts } from './lab.mjs';

const home = resolve(process.env.RINGMASTER_FLIPKART_DIR ?? '.ringmaster-flipkart');
const color = process.stdout.isTTY ? (code, text) => `\x1b[${code}m${text}\x1b[0m` : (_code, text) => text;
const say = (text) => console.log(text);
const step = (text) => say(`\n${color('1', `▸ ${text}`)}`);

// Friday 2011-07-08 10:00 in Bangalore, the seed's own deploy; prod's window is Mon–Thu 10–16.
const TIME_ZONE = 'Asia/Kolkata';
const clock = manualClock('2011-07-08T04:30:00Z');
const RINGS = { eng: 1, sandbox: 2, prod: 3 };
const MARKER = '# scratch space of examples/flipkart/run.mjs\n*\n';

const labs = {};
let key;
let apt;
let engine;
let ok = false;
try {
  // Start afresh, but never wipe a directory this example did not make (its marker is the
  // .gitignore it writes there, which also keeps the scratch space out of git).
  const marker = join(home, '.gitignore');
  const entries = await readdir(home).catch(() => []);
  if (entries.length > 0 && (await readFile(marker, 'utf8').catch(() => '')) !== MARKER) {
    throw new Error(`${home} is not empty and was not made by this example; set RINGMASTER_FLIPKART_DIR`);
  }
  await rm(home, { recursive: true, force: true });
  await mkdir(home, { recursive: true });
  await writeFile(marker, MARKER);

  step('Setting up: svn repository, signing key, apt repository, sshd hosts');
  const repo = await createSvnRepository(join(home, 'svn'));
  say(`  svn repository ${repo.url} with trunk/ and prod/`);
  key = await createSigningKey(home);
  say(`  GPG signing key ${key.keyId} (public key ${key.publicKeyFile})`);
  apt = aptRepository({
    dir: join(home, 'apt'),
    architectures: ['amd64'],
    signingKey: { homedir: key.homedir, keyId: key.keyId },
  });
  const server = await apt.serve({ port: 0 });
  say(`  signed apt repository served at ${server.url}`);
  for (const [ring, count] of Object.entries(RINGS)) labs[ring] = await startRingHosts(ring, count);
  for (const [ring, lab] of Object.entries(labs)) {
    say(`  ${ring}: ${lab.hosts.map((h) => `${h.name} (sshd on 127.0.0.1:${h.port})`).join(', ')}`);
  }

  // Alice's first commit: the app, its tests and its Makefile (seed, slide 27: commit to trunk).
  const first = await repo.commit('alice', 'Foostat widget renders HTML', appFiles);
  say(`  alice committed r${first} to trunk`);

  const source = svn({
    url: repo.url,
    line: 'trunk',
    deployRequests: { prod: 'prod' },
    onSkippedRequest: (s) => say(color('33', `  skipped deploy request ${s.path}: ${s.reason}`)),
  });
  // Each ring's hosts over SSH; apt-get installs name=version from the ring's own suite of the
  // signed repository (dists/eng, dists/sandbox, dists/prod), whose source the target writes.
  const target = (ring, health) =>
    ssh({
      hosts: labs[ring].hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, user: 'root' })),
      privateKey: labs[ring].clientKeyFile,
      knownHosts: [labs[ring].knownHostsFile],
      installMode: 'apt',
      aptSource: { url: server.url, suite: ring, keyFile: key.publicKeyFile },
      ...(health
        ? { healthCheck: { command: [health], retries: 3, intervalMs: 500, deadlineMs: 30_000 } }
        : {}),
    });
  const health = '/opt/foostat/bin/health';
  // ENG's unit tests run on the runner, against a fresh checkout of the release's revision.
  const unitTests = {
    name: 'unit',
    check: async ({ release, log }) => {
      const dir = join(home, 'work', `unit-${release.revision}`);
      await rm(dir, { recursive: true, force: true });
      try {
        await source.checkout(release.revision, dir);
        const r = await runCommand(['make', '-s', 'test'], { cwd: dir, timeoutMs: 60_000 });
        log(r.stdout + r.stderr);
        return r.exitCode === 0 || `make test exited ${r.exitCode}: ${r.stderr.trim()}`;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };

  const foostat = pipeline({
    name: 'foostat',
    source,
    build: build({ steps: [['make', '-s', 'build']], output: 'out' }),
    packager: deb({
      name: 'foostat',
      maintainer: 'Flipkart Ops <ops@flipkart.invalid>',
      description: 'Foostat widget\nThe foostat widget page, its health check and smoke test.',
      prefix: '/opt/foostat',
      // The app needs its settings: foostat goes into a ring only once foostat-conf is there.
      depends: ['foostat-conf (>= 0.0.2)'],
    }),
    repository: apt,
    rings: [
      { name: 'eng', target: target('eng', health), gates: [unitTests] },
      {
        name: 'sandbox',
        target: target('sandbox', health),
        gates: [{ name: 'smoke', run: ['/opt/foostat/bin/smoke'], on: 'hosts', timeout: '1m' }],
        policy: auto(),
      },
      {
        name: 'prod',
        target: target('prod', health),
        rollout: oneAtATime(),
        policy: all(
          manual({ group: ['bob', 'carol'] }),
          window({ days: ['mon-thu'], hours: '10:00-16:00', timeZone: TIME_ZONE }),
        ),
      },
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

  // The settings: a second pipeline on the same trunk (make conf), packaged as foostat-conf,
  // through the same rings and policies. It is listed after foostat, so the run shows foostat
  // waiting for it: pipelines of one project promote in the order their packages need.
  const conf = pipeline({
    name: 'foostat-conf',
    source,
    build: build({ steps: [['make', '-s', 'conf']], output: 'out-conf' }),
    packager: deb({
      name: 'foostat-conf',
      maintainer: 'Flipkart Ops <ops@flipkart.invalid>',
      description: 'Foostat settings\nThe settings of the foostat widget.',
      // Under /opt, which each test host has to itself (a real one would use /etc/foostat).
      prefix: '/opt/foostat-conf',
    }),
    repository: apt,
    rings: foostat.rings.map((r) => ({
      name: r.name,
      target: target(r.name),
      rollout: r.rollout,
      policy: r.policy,
    })),
    notifiers: foostat.notifiers,
  });

  engine = createEngine({
    pipelines: [foostat, conf],
    store: fileStore({ dir: join(home, 'ledger') }),
    workDir: join(home, 'work'),
    clock,
  });
  engine.on('revision.seen', ({ revision }) =>
    say(`  r${revision.id} by ${revision.author} on ${revision.line}: ${revision.message}`),
  );
  engine.on('build.finished', (d) =>
    say(
      `  ${d.pipeline}: make ${d.ok ? color('32', 'passed') : color('31', `failed: ${d.error}`)} (${d.durationMs} ms)`,
    ),
  );
  engine.on('release.created', (d) =>
    say(
      `  ${color('1', d.artifact.file.split('/').at(-1))} published to the apt repository (${d.artifact.size} bytes, sha256 ${d.artifact.sha256.slice(0, 12)}…)`,
    ),
  );
  engine.on('rollout.started', (d) =>
    say(
      `  ${d.kind} ${d.pipeline} ${d.release} → ${color('36', d.ring)}: ${d.batches.map((b) => b.join('+')).join(' → ')}`,
    ),
  );
  engine.on('host.finished', (d) =>
    say(
      `    ${d.ok ? color('32', '✔') : color('31', '✘')} ${d.host} ${d.phase === 'rollback' ? 'rolled back to' : 'runs'} ${d.pipeline} ${describeState(d.state)}${d.error ? ` (${shortReason(d.error)})` : ''}`,
    ),
  );
  engine.on('gate.finished', (d) =>
    say(
      `    gate ${d.gate} of ${d.pipeline} on ${d.ring}: ${d.ok ? color('32', 'passed') : color('31', `FAILED\n${d.log}`)}`,
    ),
  );
  engine.on('deploy-request.seen', ({ request }) =>
    say(`  deploy request ${request.name}: ${request.author} asks ${request.ring} for r${request.revision}`),
  );
  engine.on('approval.recorded', (d) =>
    say(`  approval of ${d.pipeline} r${d.revision} for ${d.ring} by ${d.by} (${d.via})`),
  );
  engine.on('suite.updated', (d) =>
    say(
      `    ${d.ring}'s suite lists ${Object.entries(d.packages)
        .map(([name, versions]) => `${name} ${versions.join(', ')}`)
        .join('; ')}`,
    ),
  );
  engine.on('ring.rejected', (d) =>
    say(`  ${color('33', `${d.release} rejected in ${d.ring}`)}: ${d.reason}`),
  );
  // A release its policy lets in but its package relations keep out: say what it waits for.
  engine.on('decision', (d) => {
    if (d.needs && d.decision.verdict === 'promote') say(`  ${d.pipeline}: ${color('33', d.reason)}`);
  });
  engine.on('error', (e) => say(color('31', `  error (${e.operation}): ${e.error.message}`)));
  await engine.start();
  const explain = async () =>
    say(
      `  explain prod: ${color('33', (await engine.explain({ pipeline: 'foostat', ring: 'prod' })).summary)}`,
    );

  step(`${clock.now().toISOString()}: the engine sees r${first} and builds foostat and foostat-conf from it`);
  await engine.tick();
  say(`  explain eng: ${color('33', (await engine.explain({ pipeline: 'foostat', ring: 'eng' })).summary)}`);
  step('The next pass: foostat follows foostat-conf into eng, and both trickle down to sandbox');
  await engine.tick();
  await explain();

  // The seed's step 1, typed by a person: bob copies trunk to prod/<local time>. There is no step 2.
  const name = localStamp(clock.now());
  step(`bob: svn copy -m "deploying to prod" trunk prod/${name}`);
  const copied = repo.copyToProd('bob', name);
  say(`  committed r${copied}`);
  await engine.tick();
  await explain();

  const until = (await engine.explain({ pipeline: 'foostat', ring: 'prod' })).candidate?.decision.until;
  if (!until) throw new Error('prod should be waiting for its deploy window');
  clock.set(until);
  step(`${until}: the window opens; prod gets foostat-conf, then foostat, one host at a time`);
  await engine.tick();
  await explain();
  await engine.tick();
  await explain();

  // Slide 6, "All images are gone": a Makefile change that forgets to ship the page. The unit
  // tests pass (the source is fine); the health check on eng-1 does not, and eng-1 goes back.
  clock.advance(5 * 60_000);
  const broken = await repo.commit('carol', 'Makefile: ship only bin/', {
    Makefile: appFiles.Makefile.replace('\tcp www/index.html out/www/\n', ''),
  });
  step(`carol commits r${broken}, which forgets the page; ENG catches it and sandbox and prod never see it`);
  await engine.tick();

  step('Status (every host asked through SSH what it really runs)');
  const status = await engine.status({ live: true });
  say(formatStatus(status));
  const prod = status.pipelines[0].rings.find((r) => r.name === 'prod');
  const prodTarget = foostat.rings.find((r) => r.name === 'prod').target;
  const live = await Promise.all(
    prodTarget.hosts.map(async (h) => (await prodTarget.installed(h.name, 'foostat'))?.version),
  );
  // "apt-get install whatever" (seed, slide 34): prod-1 got it from the signed repository.
  const policy = await prodTarget.run(prodTarget.hosts[0].name, ['apt-cache', 'policy', 'foostat']);
  say(`\n${prodTarget.hosts[0].name}$ apt-cache policy foostat\n${policy.stdout.trimEnd()}`);
  // What prod's hosts could install, as the ledger recorded it (their suite, dists/prod).
  const suite = await engine.suite({ ring: 'prod' });
  say(
    `\nprod's suite: ${Object.entries(suite?.packages ?? {})
      .map(([name, versions]) => `${name} ${versions.join(', ')}`)
      .join('; ')}`,
  );
  const liveConf = await Promise.all(
    prodTarget.hosts.map(async (h) => (await prodTarget.installed(h.name, 'foostat-conf'))?.version),
  );
  ok =
    Boolean(prod.version) &&
    live.length === RINGS.prod &&
    live.every((v) => v === prod.version) &&
    liveConf.every((v) => v === prod.version);
  say(
    ok
      ? color(
          '32',
          `\nFlipkart example finished: prod runs foostat and foostat-conf ${prod.version} on every host.`,
        )
      : color(
          '31',
          `\nFlipkart example failed: prod hosts run foostat ${JSON.stringify(live)}, foostat-conf ${JSON.stringify(liveConf)}.`,
        ),
  );
  say(`Ledger: ${join(home, 'ledger', 'journal.jsonl')}`);
} catch (error) {
  say(color('31', `Flipkart example failed: ${error instanceof Error ? error.stack : String(error)}`));
} finally {
  await engine?.close().catch((e) => say(`  closing the engine: ${e.message}`));
  await apt?.close().catch(() => {});
  await Promise.allSettled(Object.values(labs).map((lab) => lab.stop()));
  key?.close();
}
process.exit(ok ? 0 : 1);

/** `2011-07-08-10:00`: the seed's request name, in prod's time zone. */
function localStamp(date) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: TIME_ZONE,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}-${parts.hour}:${parts.minute}`;
}
