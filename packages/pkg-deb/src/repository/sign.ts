/**
 * OpenPGP signing with the system `gpg`: `InRelease` (clear-signed) and `Release.gpg` (detached,
 * armored). A key comes from an existing GnuPG home (`homedir`, `keyId`) or an armored secret
 * key file imported into a private temporary home. A passphrase only ever travels on gpg's
 * stdin (`--passphrase-fd 0`), never in argv, the environment or an error message.
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

  /** Writes `output` as gpg's signature of `input` (`clear`: InRelease; `detach`: Release.gpg). */
  async sign(input: string, output: string, mode: 'clear' | 'detach'): Promise<void> {
    const home = await this.homedir();
    const argv = [
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
      mode === 'clear' ? '--clearsign' : '--detach-sign',
      '--output',
      output,
      input,
    ];
    const r = await runCommand(argv, { input: this.key.passphrase ?? '', timeoutMs: TIMEOUT_MS });
    if (r.exitCode !== 0) this.fail(`sign ${input}`, r.stderr);
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
