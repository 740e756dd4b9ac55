#!/usr/bin/env node
// bench:ssh — deploy one 5 MB .deb (upload + dpkg -i + verify) to 10 and to 30 real sshd test
// hosts with @ringmaster/target-ssh (built, from packages/target-ssh/dist), side by side in one
// run with: a sequential scp+ssh loop (the old school), parallel-scp + parallel-ssh (pssh),
// Ansible (forks = N, pipelining) and the limit (the same dpkg -i in each host's mount
// namespace through nsenter, no SSH, in parallel). Prints wall times, ratios, growth from 10 to
// 30 hosts, our peak RSS, and ends with one JSON line. Needs root; installs pssh and ansible
// with apt-get when missing (a tool that cannot be installed is reported as null).
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

const SIZES = (process.env.BENCH_SSH_SIZES ?? '10,30').split(',').map(Number);
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

const methods = {
  async ours(lab, hosts, artifact, n) {
    const target = ssh({
      hosts: hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, user: 'root' })),
      privateKey: lab.clientKeyFile,
      knownHosts: [lab.knownHostsFile],
      concurrency: n,
    });
    try {
      // install() verifies with dpkg-query that the host runs the version before it resolves.
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

async function main() {
  if (process.getuid?.() !== 0) throw new Error('bench:ssh needs root (mount namespaces, sshd, apt-get)');
  const peers = ensurePeers();
  const work = await mkdtemp('/var/tmp/ringmaster-bench-ssh-'); // not /tmp: each host has its own /tmp
  await chmod(work, 0o755);
  const artifact = await buildDeb(work, '1.0.0');
  console.log(`bench:ssh  package ${(artifact.size / 1048576).toFixed(2)} MB, ${cpuCount()} CPUs`);
  const lab = await startTestHosts({ count: Math.max(...SIZES) });
  const results = {}; // method -> n -> seconds | null
  let peakRss = 0;
  try {
    for (const n of SIZES) {
      const hosts = lab.hosts.slice(0, n);
      for (const method of ['limit', 'ours', 'pssh', 'ansible', 'sequential']) {
        results[method] ??= {};
        if ((method === 'pssh' && !peers.pssh) || (method === 'ansible' && !peers.ansible)) {
          results[method][n] = null;
          continue;
        }
        await reset(hosts);
        let sampler;
        if (method === 'ours') {
          sampler = setInterval(() => {
            peakRss = Math.max(peakRss, process.memoryUsage().rss);
          }, 10);
        }
        const started = performance.now();
        try {
          await methods[method](lab, hosts, artifact, n, work);
          results[method][n] = (performance.now() - started) / 1000;
          await verify(hosts, artifact.version);
        } catch (error) {
          console.error(`${method} @${n}: ${error.message.slice(0, 1500)}`);
          results[method][n] = null;
        } finally {
          if (sampler) clearInterval(sampler);
        }
        const t = results[method][n];
        console.log(
          `  ${String(n).padStart(2)} hosts  ${method.padEnd(10)} ${t === null ? 'n/a' : `${t.toFixed(2)} s`}`,
        );
      }
    }
  } finally {
    await lab.stop();
    await rm(work, { recursive: true, force: true });
  }

  const big = Math.max(...SIZES);
  const small = Math.min(...SIZES);
  const ours = results.ours[big];
  const ratio = (other) => (ours && other ? Number((ours / other).toFixed(3)) : null);
  console.log(
    `\nwall time (s)        ${SIZES.map((n) => `${n} hosts`.padStart(9)).join(' ')}   growth ${small}→${big}`,
  );
  for (const [method, byN] of Object.entries(results)) {
    const cells = SIZES.map((n) => (byN[n] == null ? 'n/a' : byN[n].toFixed(2)).padStart(9)).join(' ');
    const growth = byN[small] && byN[big] ? `${(byN[big] / byN[small]).toFixed(2)}×` : 'n/a';
    console.log(`  ${method.padEnd(18)} ${cells}   ${growth}`);
  }
  console.log(`\nours at ${big} hosts vs:`);
  for (const method of ['limit', 'pssh', 'ansible', 'sequential']) {
    console.log(`  ${method.padEnd(12)} ${ratio(results[method][big]) ?? 'n/a'}×`);
  }
  const peakMb = Math.round(peakRss / 1048576);
  console.log(`  peak RSS (whole bench process during our runs): ${peakMb} MB`);
  console.log(
    JSON.stringify({
      bench: 'ssh',
      hosts: big,
      ratio_vs_limit: ratio(results.limit[big]),
      ratio_vs_ansible: ratio(results.ansible[big]),
      ratio_vs_pssh: ratio(results.pssh[big]),
      ratio_vs_sequential: ratio(results.sequential[big]),
      peak_rss_mb: peakMb,
    }),
  );
}

function cpuCount() {
  return spawnSync('nproc', { encoding: 'utf8' }).stdout.trim();
}

await main();
