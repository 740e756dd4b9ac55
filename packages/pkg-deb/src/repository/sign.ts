/**
 * OpenPGP signing with the system `gpg`: one gpg per Release makes a text-mode detached signature
 * of it, which is `Release.gpg` and, wrapped around the Release, the signature of `InRelease` too
 * (see {@link clearSigned}). Its process is forked while the indexes are built, as a shell that
 * waits for a go line and only then runs gpg: when the Release is not given to it (a refused one,
 * a failed publish, this process dying), the shell is killed or reads an end of file and exits,
 * and gpg never runs, so it never signs an empty or unintended input. A key comes from an
 * existing GnuPG home (`homedir`, `keyId`) or an armored secret key file imported into a private
 * temporary home. A passphrase only ever travels on a pipe (gpg's `--passphrase-fd 3`), never in
 * argv, the environment or an error message.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { RingmasterError, runCommand, TailBuffer, tail } from '@ringmaster/core/adapter';

/** Where the signing key lives. */
export interface SigningKey {
  /** A GnuPG home holding the secret key. */
  homedir?: string;
  /** Key id, fingerprint or user id to sign with (gpg's default key otherwise). */
  keyId?: string;
  /** An armored secret key file, imported into a private temporary GnuPG home on first use. */
  keyFile?: string;
  /** The key's passphrase, given to gpg on a pipe only. */
  passphrase?: string;
}

const TIMEOUT_MS = 60_000;
/** How long a started gpg may wait for its Release at most (a publish of many packages). */
const WAIT_LIMIT_MS = 30 * 60_000;
/** The line that lets the waiting shell run gpg, which reads the Release after it. */
const GO = 'sign\n';
/** Runs gpg with its arguments once stdin's first line is `sign`; exits 1 on anything else. */
const WAITING_SHELL = 'IFS= read -r go && [ "$go" = sign ] && exec gpg "$@"; exit 1';

/** A Release's two signed forms. */
export interface ReleaseSignatures {
  /** The clear-signed Release (`InRelease`). */
  inRelease: Buffer;
  /** The armored detached signature (`Release.gpg`). */
  detached: Buffer;
}

/** A gpg started ahead of its Release (see {@link Signer.prepare}). */
export interface PendingSignature {
  /** Hands `release` to the waiting gpg; resolves with both signed forms. A refused one is never signed. */
  sign(release: Buffer): Promise<ReleaseSignatures>;
  /** Stops the waiting gpg, which never ran: nothing is signed. */
  cancel(): Promise<void>;
}

const CLEARTEXT_HEADER = Buffer.from('-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n');

/**
 * `InRelease` from the Release and its text-mode detached signature. Both are OpenPGP signatures
 * of class 0x01 (canonical text): a detached one hashes the file with its line endings made CRLF;
 * a cleartext one hashes the message the same way, without the line ending just before its
 * `BEGIN PGP SIGNATURE` line and without trailing spaces and tabs. So the message is the Release
 * and one more line ending, and the Release may have no trailing whitespace ({@link signable}).
 * Lines starting with `-` are dash-escaped, as RFC 4880 §7.1 has it.
 */
export function clearSigned(release: Buffer, detached: Buffer): Buffer {
  // Lines are split on '\n' alone (latin1 maps each byte to one character, so UTF-8 is untouched).
  const text = release.toString('latin1');
  const body = text.startsWith('-') || text.includes('\n-') ? text.split('\n-').join('\n- -') : text;
  const escaped = body.startsWith('-') ? `- ${body}` : body;
  return Buffer.concat([CLEARTEXT_HEADER, Buffer.from(escaped, 'latin1'), Buffer.from('\n'), detached]);
}

/**
 * Why `release` cannot be signed as one text, or undefined: it must be valid UTF-8 lines ending
 * with a newline, none with trailing spaces or tabs (which a cleartext signature does not hash)
 * and no carriage return anywhere (a text signature makes line endings CRLF); `renderRelease()`
 * writes none of these.
 */
export function signable(release: Buffer): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(release);
  } catch {
    return 'it is not valid UTF-8';
  }
  if (!text.endsWith('\n')) return 'it does not end with a newline';
  if (text.includes('\r')) return 'it has a carriage return';
  if (/[ \t]\n/.test(text)) return 'a line ends with whitespace';
  return undefined;
}

/** A gpg process started by {@link Signer}. */
interface Gpg {
  child: ChildProcess;
  stdout: Buffer[];
  stderr: TailBuffer;
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
  /** True once it ended. */
  done: boolean;
}

/** Signs Releases with one key; `close()` stops the agent of a temporary home and deletes it. */
export class Signer {
  private home: Promise<string> | undefined;
  private tempHome: string | undefined;

  constructor(private readonly key: SigningKey) {}

  private fail(what: string, stderr: string): never {
    throw new RingmasterError('REPOSITORY', `gpg could not ${what}: ${tail(stderr, 5)}`, {
      scope: 'pkg-deb',
    });
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
      const passphrase =
        this.key.passphrase === undefined ? [] : ['--pinentry-mode', 'loopback', '--passphrase-fd', '0'];
      const r = await runCommand(
        ['gpg', '--homedir', home, '--batch', '--quiet', ...passphrase, '--import', this.key.keyFile!],
        { input: this.key.passphrase ?? '', timeoutMs: TIMEOUT_MS },
      );
      if (r.exitCode !== 0) this.fail(`import the signing key from ${this.key.keyFile}`, r.stderr);
      return home;
    })();
    return this.home;
  }

  /**
   * A shell waiting for the go line on its stdin, then running gpg on the rest (see
   * {@link WAITING_SHELL}): should this process end first, it reads an end of file and exits.
   */
  private spawnGpg(home: string | undefined): Gpg {
    const withPassphrase = this.key.passphrase !== undefined;
    const argv = [
      ...(home ? ['--homedir', home] : []),
      '--batch',
      '--yes',
      '--quiet',
      ...(withPassphrase ? ['--pinentry-mode', 'loopback', '--passphrase-fd', '3'] : []),
      ...(this.key.keyId ? ['--local-user', this.key.keyId] : []),
      '--digest-algo',
      'SHA256',
      '--armor',
      '--textmode',
      '--detach-sign',
    ];
    const child = spawn('sh', ['-c', WAITING_SHELL, 'sh', ...argv], {
      stdio: ['pipe', 'pipe', 'pipe', ...(withPassphrase ? (['pipe'] as const) : [])],
    });
    const gpg: Gpg = {
      child,
      stdout: [],
      stderr: new TailBuffer(64 * 1024),
      ended: new Promise((resolve) => {
        child.once('error', (error) => resolve({ code: null, signal: null, error }));
        child.once('close', (code, signal) => resolve({ code, signal }));
      }),
      done: false,
    };
    void gpg.ended.then(() => {
      gpg.done = true;
    });
    child.stdout.on('data', (chunk: Buffer) => gpg.stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => gpg.stderr.push(chunk));
    // gpg may stop reading (a bad key): its exit status and stderr say why.
    child.stdin.on('error', () => undefined);
    if (withPassphrase) {
      const pipe = child.stdio[3] as Writable;
      pipe.on('error', () => undefined);
      pipe.end(`${this.key.passphrase}\n`);
    }
    return gpg;
  }

  /**
   * Forks the process that will sign the next Release, before the Release is known (the fork
   * costs milliseconds for a Node process with a large heap, paid while the indexes are built):
   * `sign()` gives it the Release, `cancel()` kills it; until then gpg has not run.
   */
  async prepare(): Promise<PendingSignature> {
    const home = await this.homedir();
    const gpg = this.spawnGpg(home);
    const { child } = gpg;
    const kill = async () => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      await gpg.ended;
    };
    let timer = setTimeout(() => child.kill('SIGKILL'), WAIT_LIMIT_MS);
    let used = false;
    return {
      sign: async (release) => {
        if (used) throw new Error('this signature was given its Release already');
        used = true;
        const problem = signable(release);
        if (problem) {
          await kill();
          throw new Error(`cannot sign this Release as InRelease: ${problem}`);
        }
        clearTimeout(timer);
        timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
        try {
          if (gpg.done) this.fail('start', gpg.stderr.toString() || 'it ended before its Release was given');
          child.stdin!.write(GO);
          child.stdin!.end(release);
          const r = await gpg.ended;
          if (r.error) this.fail('start', r.error.message);
          if (r.code !== 0) {
            const why = r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`;
            this.fail('sign the Release', gpg.stderr.toString() || why);
          }
          const detached = Buffer.concat(gpg.stdout);
          if (!detached.toString('latin1').startsWith('-----BEGIN PGP SIGNATURE-----')) {
            this.fail('sign the Release', `no armored signature on its output ${gpg.stderr.toString()}`);
          }
          return { inRelease: clearSigned(release, detached), detached };
        } finally {
          // Ended already, unless a failure above came first: then nothing outlives it.
          if (!gpg.done) await kill();
          clearTimeout(timer);
        }
      },
      cancel: kill,
    };
  }

  /** Stops the agent of a temporary home, which it deletes. */
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
