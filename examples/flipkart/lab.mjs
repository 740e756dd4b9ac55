// What the Flipkart example sets up before the engine runs, with the real tools: an svn
// repository (trunk/ and prod/) that people commit to and copy in, a GPG key that signs the apt
// repository, and the apt configuration each test host gets (the repository's key and a sources
// entry), written into the host's own /etc through the fixture's rootOf().
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ssh } from '@ringmaster/target-ssh';
import { startTestHosts } from '@ringmaster/target-ssh/testing';

const SVN_ENV = { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' };

/** Runs a tool with an argv array (never a shell string); its stdout, or its stderr in the error. */
export function tool(argv, options = {}) {
  try {
    return execFileSync(argv[0], argv.slice(1), {
      stdio: 'pipe',
      env: SVN_ENV,
      timeout: 60_000,
      ...options,
    }).toString();
  } catch (error) {
    throw new Error(
      `${argv.slice(0, 2).join(' ')} failed: ${error.stderr?.toString().trim() || error.message}`,
    );
  }
}

/**
 * `svnadmin create`, then trunk/ and prod/ made by `ops`. Returns the file:// URL and `as(user)`,
 * which runs the svn client as that person would (`--username` is the author over file://).
 */
export async function createSvnRepository(dir) {
  const path = join(dir, 'repo');
  await mkdir(dir, { recursive: true });
  tool(['svnadmin', 'create', path]);
  const url = `file://${path}`;
  const svnAs = (user, args, cwd = dir) =>
    tool(['svn', args[0], '--non-interactive', '--no-auth-cache', '--username', user, ...args.slice(1)], {
      cwd,
    });
  svnAs('ops', ['mkdir', '-q', '-m', 'Create trunk and prod', `${url}/trunk`, `${url}/prod`]);
  const wc = join(dir, 'wc');
  svnAs('ops', ['checkout', '-q', `${url}/trunk`, wc]);
  return {
    url,
    /** Writes files into the trunk working copy, `svn add`s them and commits as `author`. */
    async commit(author, message, files) {
      svnAs(author, ['update', '-q'], wc);
      for (const [file, content] of Object.entries(files)) {
        await mkdir(dirname(join(wc, file)), { recursive: true });
        await writeFile(join(wc, file), content);
      }
      svnAs(author, ['add', '-q', '--force', '--parents', '.'], wc);
      const out = svnAs(author, ['commit', '-m', message], wc);
      return /Committed revision (\d+)/.exec(out)?.[1];
    },
    /** The seed's step 1: `svn copy -m "deploying to prod" trunk prod/<name>`, as `user`. */
    copyToProd(user, name, message = 'deploying to prod') {
      const out = svnAs(user, ['copy', '-m', message, `${url}/trunk`, `${url}/prod/${name}`]);
      return /Committed revision (\d+)/.exec(out)?.[1];
    },
  };
}

/**
 * A signing key made in batch (no passphrase) in a private GnuPG home, and its public key
 * exported for apt's `signed-by`. `close()` stops the gpg-agent it started and removes the home.
 * The home is a short path under the system's temp dir, wherever the clone is: gpg-agent's
 * socket lives in it, and a socket path may not be longer than 108 bytes.
 */
export async function createSigningKey(dir) {
  const homedir = await mkdtemp(join(tmpdir(), 'rm-gpg-'));
  await chmod(homedir, 0o700);
  const keyId = 'repo@flipkart.invalid';
  const gpg = (...args) => tool(['gpg', '--homedir', homedir, '--batch', ...args]);
  gpg(
    '--passphrase',
    '',
    '--quick-gen-key',
    `Flipkart apt repository <${keyId}>`,
    'ed25519',
    'sign',
    'never',
  );
  const publicKeyFile = join(dir, 'flipkart-repo.gpg');
  gpg('--output', publicKeyFile, '--export', keyId);
  return {
    homedir,
    keyId,
    publicKeyFile,
    close() {
      try {
        tool(['gpgconf', '--homedir', homedir, '--kill', 'gpg-agent']);
      } catch {
        // no agent running
      }
      rmSync(homedir, { recursive: true, force: true });
    },
  };
}

/**
 * `count` real sshd hosts named `<prefix>-1…`, each checked over SSH (its key against
 * known_hosts, then `true`) before use. The machine is shared: a lab whose host does not answer
 * is stopped and started again, at most three times.
 */
export async function startRingHosts(prefix, count) {
  let problem = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const lab = await startTestHosts({ count, prefix });
    const probe = ssh({
      hosts: lab.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, user: 'root' })),
      privateKey: lab.clientKeyFile,
      knownHosts: [lab.knownHostsFile],
      timeouts: { connectMs: 5_000 },
    });
    const answers = await Promise.allSettled(lab.hosts.map((h) => probe.run(h.name, ['true'])));
    await probe.close();
    const failed = answers.flatMap((a, i) =>
      a.status === 'rejected' || a.value.exitCode !== 0 ? [lab.hosts[i].name] : [],
    );
    if (failed.length === 0) return lab;
    problem = answers.map((a) => (a.status === 'rejected' ? a.reason.message : '')).join(' ');
    console.log(`  ${failed.join(', ')} did not answer over SSH (attempt ${attempt}): ${problem.trim()}`);
    await lab.stop();
  }
  throw new Error(`could not start ${count} ${prefix} hosts that answer over SSH: ${problem.trim()}`);
}
