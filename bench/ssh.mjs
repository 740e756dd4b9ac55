#!/usr/bin/env node
// bench:ssh — deploy one 5 MB .deb (upload + dpkg -i + verify) to 30 and to 100 real sshd test
// hosts with @ringmaster/target-ssh (built, from packages/target-ssh/dist), side by side in the
// same run with: the limit (the same dpkg -i in each host's mount namespace through nsenter, no
// SSH, in parallel), the floor (the limit with one SSH connection per host made meanwhile by our
// client: the hosts' sshd share this machine's cores, so each connection's share is paid here),
// our apt install mode (hosts fetch from our signed repository over HTTP on
// loopback: apt-get update + install), parallel-scp + parallel-ssh (pssh), Ansible (forks = N,
// pipelining) and a sequential scp+ssh loop. Every method runs BENCH_RUNS times (5), the methods
// interleaved within each run; ratios are of the medians. Also: our peak RSS, the controller's
// CPU per host (what a real fleet pays on the machine running ringmaster; here the hosts share
// its 2 cores), and the machine's load at start and end. Ends with one JSON line. Needs root;
// installs pssh and ansible with apt-get when missing (a tool that cannot be installed is null).
//
//   BENCH_SSH_SIZES=30,100  BENCH_RUNS=5  BENCH_SSH_METHODS=limit,floor,ours,apt,pssh,ansible,sequential
//   BENCH_SSH_PEER_SIZES=30 (the peer tools at these sizes only)
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const dist = new URL('../packages/target-ssh/dist/', import.meta.url);
if (!existsSync(new URL('index.js', dist))) {
  console.error('bench:ssh needs the built package: run `npm run build` first');
  process.exit(1);
}
const { ssh } = await import(new URL('index.js', dist).href);
const { startTestHosts } = await import(new URL('testing/index.js', dist).href);
const { aptRepository } = await import(new URL('../../pkg-deb/dist/index.js', dist).href);
const { load, median, spread } = await import('./stats.mjs');

const SIZES = (process.env.BENCH_SSH_SIZES ?? '30,100').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const METHODS = (process.env.BENCH_SSH_METHODS ?? 'limit,floor,ours,apt,pssh,ansible,sequential').split(',');
// The peer tools at these sizes only (Ansible takes minutes a run at 100 hosts); default: every size.
const PEER_SIZES = process.env.BENCH_SSH_PEER_SIZES?.split(',').map(Number);
const PEERS = ['pssh', 'ansible', 'sequential'];
const PKG = 'rm-bench';
const PAYLOAD = 5 * 1024 * 1024;
// A dpkg-query format, written so it cannot be mistaken for a JS template.
const VERSION_FORMAT = ['$', '{Version}'].join('');

function sh(file, args, { timeoutMs = 600_000, cwd, env } = {}) {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, cwd, env: { ...process.env, ...env } },
      (error, stdout, stderr) => resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** apt-get install, waiting (bounded) while another apt holds the dpkg lock. */
function aptInstall(pkgs) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (let attempt = 0; attempt < 20; attempt++) {
    const r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], {
      env,
      encoding: 'utf8',
      timeout: 900_000,
    });
    if (r.status === 0) return true;
    if (!/lock/i.test(r.stderr ?? '')) {
      spawnSync('apt-get', ['update', '-qq'], { env, timeout: 300_000 });
      const again = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], {
        env,
        timeout: 900_000,
      });
      return again.status === 0;
    }
    spawnSync('sleep', ['15']);
  }
  return false;
}

function ensurePeers() {
  const tools = { pssh: has('parallel-ssh') && has('parallel-scp'), ansible: has('ansible-playbook') };
  if (!tools.pssh) tools.pssh = aptInstall(['pssh']) && has('parallel-ssh');
  if (!tools.ansible) tools.ansible = aptInstall(['ansible']) && has('ansible-playbook');
  return tools;
}

async function buildDeb(dir, version) {
  const root = join(dir, 'pkgroot');
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await mkdir(join(root, 'opt', PKG), { recursive: true });
  await writeFile(
    join(root, 'DEBIAN', 'control'),
    `Package: ${PKG}\nVersion: ${version}\nArchitecture: all\nMaintainer: Bench <bench@ringmaster.invalid>\nDescription: 5 MB bench package\n`,
  );
  await writeFile(join(root, 'opt', PKG, 'payload'), randomBytes(PAYLOAD));
  const file = join(dir, `${PKG}_${version}_all.deb`);
  const r = await sh('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z1', '--build', root, file]);
  if (r.code !== 0) throw new Error(`dpkg-deb: ${r.stderr}`);
  await rm(root, { recursive: true, force: true });
  const bytes = await readFile(file);
  return {
    name: PKG,
    version,
    architecture: 'all',
    dependencies: [],
    file,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    format: 'deb',
  };
}

async function parallel(items, fn) {
  return Promise.all(items.map(fn));
}

/** Removes the package on every host directly in its namespace (untimed reset between runs). */
async function reset(hosts) {
  await parallel(hosts, (h) => sh('nsenter', ['--target', String(h.pid), '--mount', 'dpkg', '--purge', PKG]));
}

async function verify(hosts, version) {
  const bad = [];
  await parallel(hosts, async (h) => {
    const r = await sh('nsenter', [
      '--target',
      String(h.pid),
      '--mount',
      'dpkg-query',
      '-W',
      '-f',
      VERSION_FORMAT,
      PKG,
    ]);
    if (r.stdout.trim() !== version) bad.push(h.name);
  });
  if (bad.length > 0) throw new Error(`not installed on ${bad.join(', ')}`);
}

const sshArgs = (lab) => [
  '-i',
  lab.clientKeyFile,
  '-o',
  `UserKnownHostsFile=${lab.knownHostsFile}`,
  '-o',
  'StrictHostKeyChecking=yes',
  '-o',
  'BatchMode=yes',
];

const remoteScript = (version) =>
  `dpkg -i /tmp/${PKG}.deb >/dev/null && rm -f /tmp/${PKG}.deb && test "$(dpkg-query -W -f '\${Version}' ${PKG})" = ${version}`;

/** Our target over `hosts`, `n` at once, with `extra` options. */
const ourTarget = (lab, hosts, n, extra = {}) =>
  ssh({
    hosts: hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, user: 'root' })),
    privateKey: lab.clientKeyFile,
    knownHosts: [lab.knownHostsFile],
    concurrency: n,
    ...extra,
  });

const methods = {
  async ours(lab, hosts, artifact, n) {
    const target = ourTarget(lab, hosts, n);
    try {
      // install() verifies with dpkg-query that the host runs the version before it resolves.
      await parallel(hosts, (h) => target.install(h.name, artifact));
    } finally {
      await target.close();
    }
  },
  /** Our apt mode: each host writes its source (first run only), runs apt-get update and install. */
  async apt(lab, hosts, artifact, n, _work, repo) {
    const target = ourTarget(lab, hosts, n, {
      installMode: 'apt',
      aptSource: { url: repo.url, suite: 'stable', keyFile: repo.keyFile, name: 'rm-bench' },
    });
    try {
      await parallel(hosts, (h) => target.install(h.name, artifact));
    } finally {
      await target.close();
    }
  },
  async sequential(lab, hosts, artifact) {
    for (const h of hosts) {
      const scp = await sh('scp', [
        '-q',
        '-P',
        String(h.port),
        ...sshArgs(lab),
        artifact.file,
        `root@127.0.0.1:/tmp/${PKG}.deb`,
      ]);
      if (scp.code !== 0) throw new Error(`scp ${h.name}: ${scp.stderr}`);
      const r = await sh('ssh', [
        '-p',
        String(h.port),
        ...sshArgs(lab),
        'root@127.0.0.1',
        remoteScript(artifact.version),
      ]);
      if (r.code !== 0) throw new Error(`ssh ${h.name}: ${r.stderr}`);
    }
  },
  async pssh(lab, hosts, artifact, n, work) {
    const hostsFile = join(work, `pssh-hosts-${n}`);
    await writeFile(hostsFile, hosts.map((h) => `root@127.0.0.1:${h.port}`).join('\n') + '\n');
    const opts = ['-h', hostsFile, '-p', String(n), '-t', '600', '-x', sshArgs(lab).join(' ')];
    const scp = await sh('parallel-scp', [...opts, artifact.file, `/tmp/${PKG}.deb`]);
    if (scp.code !== 0) throw new Error(`parallel-scp: ${scp.stdout}${scp.stderr}`);
    const r = await sh('parallel-ssh', [...opts, remoteScript(artifact.version)]);
    if (r.code !== 0) throw new Error(`parallel-ssh: ${r.stdout}${r.stderr}`);
  },
  async ansible(lab, hosts, artifact, n, work) {
    const dir = join(work, `ansible-${n}`);
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'inventory.ini'),
      '[targets]\n' +
        hosts
          .map(
            (h) =>
              `${h.name} ansible_host=127.0.0.1 ansible_port=${h.port} ansible_user=root ansible_ssh_private_key_file=${lab.clientKeyFile}`,
          )
          .join('\n') +
        '\n',
    );
    await writeFile(
      join(dir, 'ansible.cfg'),
      `[defaults]\nforks = ${n}\nhost_key_checking = True\ninterpreter_python = /usr/bin/python3\nretry_files_enabled = False\n` +
        `[ssh_connection]\npipelining = True\nssh_args = -o UserKnownHostsFile=${lab.knownHostsFile} -o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPersist=60s\n`,
    );
    await writeFile(
      join(dir, 'deploy.yml'),
      `- hosts: targets\n  gather_facts: false\n  tasks:\n` +
        `    - copy: { src: "${artifact.file}", dest: "/tmp/${PKG}.deb" }\n` +
        `    - command: dpkg -i /tmp/${PKG}.deb\n` +
        `    - file: { path: "/tmp/${PKG}.deb", state: absent }\n` +
        `    - command: dpkg-query -W -f '\${Version}' ${PKG}\n      register: v\n` +
        `    - assert: { that: [ "v.stdout == '${artifact.version}'" ] }\n`,
    );
    const r = await sh('ansible-playbook', ['-i', 'inventory.ini', 'deploy.yml'], {
      cwd: dir,
      env: { ANSIBLE_CONFIG: join(dir, 'ansible.cfg'), ANSIBLE_NOCOLOR: '1' },
    });
    if (r.code !== 0) throw new Error(`ansible-playbook: ${r.stdout.slice(-2000)}${r.stderr.slice(-1000)}`);
  },
  /**
   * The limit's dpkg -i, and meanwhile one SSH connection per host (handshake, auth, one `true`),
   * made by our client as an install makes it: on this machine, where the hosts share its cores,
   * the hosts' sshd spend their share of each connection here, for any SSH tool.
   */
  async floor(lab, hosts, artifact, n) {
    const target = ourTarget(lab, hosts, n);
    try {
      await Promise.all([
        methods.limit(lab, hosts, artifact),
        parallel(hosts, async (h) => {
          const r = await target.run(h.name, ['true']);
          if (r.exitCode !== 0) throw new Error(`ssh true on ${h.name}: exit ${r.exitCode}`);
        }),
      ]);
    } finally {
      await target.close();
    }
  },
  async limit(_lab, hosts, artifact) {
    await parallel(hosts, async (h) => {
      const r = await sh('nsenter', ['--target', String(h.pid), '--mount', 'dpkg', '-i', artifact.file]);
      if (r.code !== 0) throw new Error(`dpkg -i in ${h.name}: ${r.stderr}`);
      const q = await sh('nsenter', [
        '--target',
        String(h.pid),
        '--mount',
        'dpkg-query',
        '-W',
        '-f',
        VERSION_FORMAT,
        PKG,
      ]);
      if (q.stdout.trim() !== artifact.version) throw new Error(`verify ${h.name}`);
    });
  },
};

/** A signed repository with the artifact in it, served over HTTP on loopback (for apt mode). */
async function serveRepository(work, artifact) {
  const gpgHome = join(work, 'gpg');
  await mkdir(gpgHome, { mode: 0o700 });
  const gpg = (args) => sh('gpg', ['--homedir', gpgHome, '--batch', ...args]);
  const made = await gpg([
    '--passphrase',
    '',
    '--quick-gen-key',
    'Bench <bench@ringmaster.invalid>',
    'ed25519',
    'sign',
    'never',
  ]);
  if (made.code !== 0) throw new Error(`gpg: ${made.stderr}`);
  const keyFile = join(work, 'repo.gpg');
  const exported = await gpg(['--output', keyFile, '--export', 'bench@ringmaster.invalid']);
  if (exported.code !== 0) throw new Error(`gpg --export: ${exported.stderr}`);
  await chmod(keyFile, 0o644);
  const repository = aptRepository({ dir: join(work, 'apt'), signingKey: { homedir: gpgHome } });
  await repository.publish(artifact);
  const server = await repository.serve({ port: 0 });
  return {
    url: server.url,
    keyFile,
    async close() {
      await server.close();
      await repository.close?.();
      await sh('gpgconf', ['--homedir', gpgHome, '--kill', 'gpg-agent']);
    },
  };
}

/** CPU ms of this process (user + system) so far. */
const round2 = (x) => (x === null ? null : Number(x.toFixed(2)));

const ownCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function main() {
  if (process.getuid?.() !== 0) throw new Error('bench:ssh needs root (mount namespaces, sshd, apt-get)');
  const loadStart = load();
  const peers = ensurePeers();
  const work = await mkdtemp('/var/tmp/ringmaster-bench-ssh-'); // not /tmp: each host has its own /tmp
  await chmod(work, 0o755);
  const artifact = await buildDeb(work, '1.0.0');
  console.log(
    `bench:ssh  package ${(artifact.size / 1048576).toFixed(2)} MB, ${cpuCount()} CPUs, ${RUNS} runs, load ${loadStart}`,
  );
  const lab = await startTestHosts({ count: Math.max(...SIZES) });
  const repo = METHODS.includes('apt') ? await serveRepository(work, artifact) : undefined;
  const times = {}; // method -> n -> seconds[] (a failed run is left out and counted)
  const failures = {};
  const peakRss = {}; // n -> MB, during our upload runs
  const controllerCpu = {}; // n -> ms of our CPU per host, per run
  try {
    for (const n of SIZES) {
      const hosts = lab.hosts.slice(0, n);
      for (let run = 1; run <= RUNS; run++) {
        const line = [];
        for (const method of METHODS) {
          times[method] ??= {};
          times[method][n] ??= [];
          if ((method === 'pssh' && !peers.pssh) || (method === 'ansible' && !peers.ansible)) continue;
          if (PEERS.includes(method) && PEER_SIZES && !PEER_SIZES.includes(n)) continue;
          await reset(hosts);
          let sampler;
          let rss = 0;
          if (method === 'ours') {
            sampler = setInterval(() => {
              rss = Math.max(rss, process.memoryUsage().rss);
            }, 10);
          }
          const cpu = ownCpuMs();
          const started = performance.now();
          try {
            await methods[method](lab, hosts, artifact, n, work, repo);
            const seconds = (performance.now() - started) / 1000;
            await verify(hosts, artifact.version);
            times[method][n].push(seconds);
            line.push(`${method} ${seconds.toFixed(2)}`);
            if (method === 'ours') {
              controllerCpu[n] ??= [];
              controllerCpu[n].push((ownCpuMs() - cpu) / n);
              peakRss[n] = Math.max(peakRss[n] ?? 0, rss / 1048576);
            }
          } catch (error) {
            console.error(`${method} @${n} run ${run}: ${error.message.slice(0, 1500)}`);
            failures[`${method}@${n}`] = (failures[`${method}@${n}`] ?? 0) + 1;
            line.push(`${method} failed`);
          } finally {
            if (sampler) clearInterval(sampler);
          }
        }
        console.log(`  ${String(n).padStart(3)} hosts, run ${run}: ${line.join(', ')} (s)`);
      }
    }
  } finally {
    await repo?.close();
    await lab.stop();
    await rm(work, { recursive: true, force: true });
  }

  const med = (method, n) => (times[method]?.[n]?.length ? median(times[method][n]) : null);
  const ratio = (a, b) => (a && b ? Number((a / b).toFixed(3)) : null);
  console.log(`\nwall time (s), median (min–max) of ${RUNS} runs, methods interleaved in each run`);
  console.log(`  ${'method'.padEnd(12)} ${SIZES.map((n) => `${n} hosts`.padEnd(20)).join(' ')}`);
  for (const method of METHODS) {
    const cells = SIZES.map((n) =>
      (times[method]?.[n]?.length ? spread(times[method][n], 2) : 'n/a').padEnd(20),
    );
    console.log(`  ${method.padEnd(12)} ${cells.join(' ')}`);
  }
  for (const n of SIZES) {
    const ours = med('ours', n);
    const vs = ['limit', 'floor', 'apt', 'pssh', 'ansible', 'sequential']
      .filter((m) => METHODS.includes(m))
      .map((m) => `${m} ${ratio(ours, med(m, n)) ?? 'n/a'}×`);
    console.log(
      `ours at ${n} hosts vs ${vs.join(', ')}; apt mode vs limit ${ratio(med('apt', n), med('limit', n)) ?? 'n/a'}×`,
    );
    if (controllerCpu[n]) {
      console.log(
        `  our process: peak RSS ${Math.round(peakRss[n] ?? 0)} MB, CPU ${spread(controllerCpu[n], 1)} ms per host (what the machine running ringmaster pays on a real fleet)`,
      );
    }
  }
  if (Object.keys(failures).length)
    console.log(`failed runs (left out of the medians): ${JSON.stringify(failures)}`);
  const loadEnd = load();
  console.log(`load at start ${loadStart}, at end ${loadEnd}`);
  const small = Math.min(...SIZES);
  console.log(
    JSON.stringify({
      bench: 'ssh',
      runs: RUNS,
      hosts: small,
      ratio_vs_limit: ratio(med('ours', small), med('limit', small)),
      ratio_vs_limit_100: SIZES.includes(100) ? ratio(med('ours', 100), med('limit', 100)) : null,
      floor_ratio_vs_limit: ratio(med('floor', small), med('limit', small)),
      floor_ratio_vs_limit_100: SIZES.includes(100) ? ratio(med('floor', 100), med('limit', 100)) : null,
      ratio_vs_floor: ratio(med('ours', small), med('floor', small)),
      peak_rss_mb_100: SIZES.includes(100) && peakRss[100] ? Math.round(peakRss[100]) : null,
      apt_mode_ratio_vs_limit: ratio(med('apt', small), med('limit', small)),
      ratio_vs_ansible: ratio(med('ours', small), med('ansible', small)),
      ratio_vs_pssh: ratio(med('ours', small), med('pssh', small)),
      ratio_vs_sequential: ratio(med('ours', small), med('sequential', small)),
      ours_s: round2(med('ours', small)),
      limit_s: round2(med('limit', small)),
      ours_s_100: SIZES.includes(100) ? round2(med('ours', 100)) : null,
      limit_s_100: SIZES.includes(100) ? round2(med('limit', 100)) : null,
      controller_cpu_ms_per_host: controllerCpu[small]
        ? Number(median(controllerCpu[small]).toFixed(1))
        : null,
      peak_rss_mb: peakRss[small] ? Math.round(peakRss[small]) : null,
      load_start: loadStart,
      load_end: loadEnd,
    }),
  );
}

function cpuCount() {
  return spawnSync('nproc', { encoding: 'utf8' }).stdout.trim();
}

await main();
