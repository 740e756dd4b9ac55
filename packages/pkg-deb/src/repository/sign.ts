/**
 * OpenPGP signing with the system `gpg`: `InRelease` (clear-signed) and `Release.gpg` (detached,
 * armored), made by two gpg at once. A key comes from an existing GnuPG home (`homedir`,
 * `keyId`) or an armored secret key file imported into a private temporary home. A passphrase
 * only ever travels on stdin (gpg's `--passphrase-fd 0`), never in argv, the environment or an
 * error message.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RingmasterError, runCommand, tail } from '@ringmaster/core/adapter';

/** Where the signing key lives. */
export interface SigningKey {
  /** A GnuPG home holding the secret key. */
  homedir?: string;
  /** Key id, fingerprint or user id to sign with (gpg's default key otherwise). */
  keyId?: string;
  /** An armored secret key file, imported into a private temporary GnuPG home on first use. */
  keyFile?: string;
  /** The key's passphrase, given to gpg on stdin only. */
  passphrase?: string;
}

const TIMEOUT_MS = 60_000;

/**
 * Signs a Release both ways at once with one process start from here: this small shell runs
 * the two gpg ($5… is their common argv; $1 InRelease, $2 Release.gpg, $3 the Release). A fork
 * of a Node process with a large heap (a repository of thousands of packages) costs
 * milliseconds; the shell's forks cost little. With $4 = 1 the passphrase is read once from
 * stdin and handed to each gpg by printf, a builtin: it is in no argv and no environment.
 */
const SIGN_BOTH = [
  'clear=$1 detached=$2 input=$3 withPassphrase=$4',
  'shift 4',
  'secret=',
  'if [ "$withPassphrase" = 1 ]; then IFS= read -r secret; fi',
  'feed() { if [ "$withPassphrase" = 1 ]; then printf "%s\\n" "$secret"; fi; }',
  'feed | "$@" --clearsign --output "$clear" "$input" & c=$!',
  'feed | "$@" --detach-sign --output "$detached" "$input" & d=$!',
  'wait "$c"; rc=$?',
  'wait "$d"; rd=$?',
  '[ "$rc" -eq 0 ] && [ "$rd" -eq 0 ]',
].join('\n');

/** Signs files with one key; `close()` stops the agent of a temporary home and deletes it. */
export class Signer {
  private home: Promise<string> | undefined;
  private tempHome: string | undefined;

  constructor(private readonly key: SigningKey) {}

  private fail(what: string, stderr: string): never {
    throw new RingmasterError('REPOSITORY', `gpg could not ${what}: ${tail(stderr, 5)}`, {
      scope: 'pkg-deb',
    });
  }

  private passphraseArgs(): string[] {
    return this.key.passphrase === undefined ? [] : ['--pinentry-mode', 'loopback', '--passphrase-fd', '0'];
  }

  private async homedir(): Promise<string | undefined> {
    if (!this.key.keyFile) return this.key.homedir;
    this.home ??= (async () => {
      // Short path: gpg-agent's socket path must fit in 108 bytes.
      const home = await mkdtemp(join(tmpdir(), 'rm-gpg-'));
      this.tempHome = home;
      // The agent re-protects the imported key with a KDF calibrated for interactive use (seconds
      // per signature on a small VM). This copy is private (0700) and deleted on close(), so a
      // cheaper KDF here keeps a publish fast; the key file itself is untouched.
      await writeFile(join(home, 'gpg-agent.conf'), 's2k-count 65536\n', { mode: 0o600 });
      const r = await runCommand(
        [
          'gpg',
          '--homedir',
          home,
          '--batch',
          '--quiet',
          ...this.passphraseArgs(),
          '--import',
          this.key.keyFile!,
        ],
        { input: this.key.passphrase ?? '', timeoutMs: TIMEOUT_MS },
      );
      if (r.exitCode !== 0) this.fail(`import the signing key from ${this.key.keyFile}`, r.stderr);
      return home;
    })();
    return this.home;
  }

  /** gpg's argv up to the signing mode: home, batch, passphrase, key, SHA-256, armored output. */
  private async gpgArgv(): Promise<string[]> {
    const home = await this.homedir();
    return [
      'gpg',
      ...(home ? ['--homedir', home] : []),
      '--batch',
      '--yes',
      '--quiet',
      ...this.passphraseArgs(),
      ...(this.key.keyId ? ['--local-user', this.key.keyId] : []),
      '--digest-algo',
      'SHA256',
      '--armor',
    ];
  }

  /** Writes `inRelease` (clear-signed) and `detached` (Release.gpg) for `release`, both at once. */
  async signRelease(release: string, inRelease: string, detached: string): Promise<void> {
    const withPassphrase = this.key.passphrase === undefined ? '0' : '1';
    const argv = [
      'sh',
      '-c',
      SIGN_BOTH,
      'ringmaster-sign',
      inRelease,
      detached,
      release,
      withPassphrase,
      ...(await this.gpgArgv()),
    ];
    const r = await runCommand(argv, { input: this.key.passphrase ?? '', timeoutMs: TIMEOUT_MS });
    if (r.exitCode !== 0) this.fail(`sign ${release}`, r.stderr);
  }

  async close(): Promise<void> {
    const home = this.tempHome;
    if (!home) return;
    this.tempHome = undefined;
    this.home = undefined;
    await runCommand(['gpgconf', '--homedir', home, '--kill', 'gpg-agent'], { timeoutMs: 10_000 }).catch(
      () => {},
    );
    await rm(home, { recursive: true, force: true });
  }
}
