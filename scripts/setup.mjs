#!/usr/bin/env node
// Makes a fresh clone ready: installs the Debian tools the tests and the demo drive for real
// (subversion, sshd, dpkg-dev, lintian, apt-utils, gnupg, postgresql, chromium) and the npm
// dependencies.
// Idempotent and quick when everything is already there, so `npm test` and `npm run demo`
// can call it on every run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2] ?? 'dev';

/** Debian package → a command it provides, checked with `command -v`. */
const debianTools = {
  demo: { git: 'git' },
  test: {
    git: 'git',
    subversion: 'svnadmin',
    'openssh-server': 'sshd',
    'openssh-client': 'ssh-keygen',
    'dpkg-dev': 'dpkg-scanpackages',
    lintian: 'lintian',
    'apt-utils': 'apt-ftparchive',
    gnupg: 'gpg',
    'xz-utils': 'xz',
    zstd: 'zstd',
    'util-linux': 'unshare',
    curl: 'curl',
    make: 'make',
    sudo: 'sudo',
    // The server binaries live in /usr/lib/postgresql/<version>/bin, not on PATH.
    postgresql: 'postgres-server',
    // The web page's tests drive a real headless browser (playwright-core, no bundled browser).
    chromium: 'chromium',
  },
};

function has(command) {
  if (command === 'postgres-server') {
    const root = '/usr/lib/postgresql';
    return existsSync(root) && readdirSync(root).some((v) => existsSync(join(root, v, 'bin', 'initdb')));
  }
  return (
    spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0 ||
    existsSync(`/usr/sbin/${command}`)
  );
}

function ensureDebianPackages(wanted) {
  const missing = Object.entries(wanted)
    .filter(([, command]) => !has(command))
    .map(([pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(
      `[setup] missing Debian packages: ${missing.join(' ')}. Install them with: sudo apt-get install -y ${missing.join(' ')}`,
    );
    process.exit(1);
  }
  console.log(`[setup] installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  });
}

function ensureNodeModules() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(marker) && (!existsSync(lock) || statSync(marker).mtimeMs >= statSync(lock).mtimeMs)) return;
  console.log('[setup] installing npm dependencies');
  execFileSync('npm', [existsSync(lock) ? 'ci' : 'install', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: 'inherit',
  });
}

ensureDebianPackages({ ...debianTools.demo, ...(mode === 'test' ? debianTools.test : {}) });
ensureNodeModules();
