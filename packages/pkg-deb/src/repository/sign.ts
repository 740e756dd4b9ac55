/**
 * OpenPGP signing with the system `gpg`: `InRelease` (clear-signed) and `Release.gpg` (detached,
 * armored), made by two gpg at once, started before the Release is known. A key comes from an existing GnuPG home (`homedir`,
 * `keyId`) or an armored secret key file imported into a private temporary home. A passphrase
 * only ever travels on stdin (gpg's `--passphrase-fd 0`), never in argv, the environment or an
 * error message.
 */
import { constants } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { RingmasterError, runCommand, tail } from '@ringmaster/core/adapter';
import { tempNameFor } from './fs-atomic.js';

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
/** How long a started signature may wait for its Release at most (a publish of many packages). */
const WAIT_LIMIT_MS = 30 * 60_000;

/** What the signing script prints once both gpg are started and waiting for the Release. */
const READY = 'ringmaster-sign: waiting';

/**
 * Signs a Release both ways at once with one process start from here, started before the
 * Release exists: this small shell makes two FIFOs ($3, $4: temporary names next to the outputs,
 * which the server never serves and the next publisher removes if a crash left them) and starts
 * the two gpg reading them ($7… is their common argv; $1 InRelease, $2 Release.gpg), which then
 * wait for the Release to be written into both. So their start (a fork of a Node process with a
 * large heap costs milliseconds; the shell's forks cost little) and gpg's own start-up happen
 * while the indexes are built, not after. With $5 = 1 the passphrase is read once from stdin and
 * handed to each gpg by printf, a builtin: it is in no argv and no environment.
 */
const SIGN_BOTH = [
  'clear=$1 detached=$2 clearIn=$3 detachedIn=$4 withPassphrase=$5 publisher=$6',
  'shift 6',
  'secret=',
  'if [ "$withPassphrase" = 1 ]; then IFS= read -r secret; fi',
  'mkfifo -m 600 "$clearIn" "$detachedIn" || exit 1',
  'feed() { if [ "$withPassphrase" = 1 ]; then printf "%s\\n" "$secret"; fi; }',
  'feed | "$@" --clearsign --output "$clear" "$clearIn" & c=$!',
  'feed | "$@" --detach-sign --output "$detached" "$detachedIn" & d=$!',
  // Should the publisher ($6: its pid, since $PPID is 1 if it died before this shell started)
  // die while they wait, nobody would ever write the Release: the whole group goes within a
  // second. (Away from our pipes, which would otherwise stay open until its last sleep ends.)
  '(while kill -0 "$publisher" 2>/dev/null; do sleep 1; done; kill -TERM 0) </dev/null >/dev/null 2>&1 & w=$!',
  `echo '${READY}'`,
  'wait "$c"; rc=$?',
  'wait "$d"; rd=$?',
  'kill "$w" 2>/dev/null',
  '[ "$rc" -eq 0 ] && [ "$rd" -eq 0 ]',
].join('\n');

/** A signature started ahead of its Release (see {@link Signer.prepare}). */
export interface PendingSignature {
  /** Signs `release` both ways into the files given to `prepare`; resolves once both are written. */
  sign(release: Buffer): Promise<void>;
  /** Stops the waiting gpg: nothing is signed. */
  cancel(): Promise<void>;
}

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

  /**
   * Starts the two gpg that will write `inRelease` (clear-signed) and `detached` (Release.gpg),
   * before the Release is known: they wait until `sign()` hands it over (or `cancel()`).
   */
  async prepare(inRelease: string, detached: string): Promise<PendingSignature> {
    const withPassphrase = this.key.passphrase === undefined ? '0' : '1';
    const argv = await this.gpgArgv();
    const inputs = {
      clear: tempNameFor(join(dirname(inRelease), 'InRelease.in')),
      detached: tempNameFor(join(dirname(detached), 'Release.gpg.in')),
    };
    const abort = new AbortController();
    let output = '';
    let started!: () => void;
    const waiting = new Promise<void>((resolve) => {
      started = resolve;
    });
    const run = runCommand(
      [
        'sh',
        '-c',
        SIGN_BOTH,
        'ringmaster-sign',
        inRelease,
        detached,
        inputs.clear,
        inputs.detached,
        withPassphrase,
        String(process.pid),
        ...argv,
      ],
      {
        input: this.key.passphrase ?? '',
        // The wait for the Release is bounded by the caller (it signs or cancels); the signing
        // itself by TIMEOUT_MS, from sign().
        timeoutMs: WAIT_LIMIT_MS,
        signal: abort.signal,
        onOutput: (chunk) => {
          output += chunk;
          if (output.includes(READY)) started();
        },
      },
    );
    // Whatever happens, the script's end also ends the wait for it to start.
    const ended = run.finally(() => started());
    ended.catch(() => undefined);
    /** Unblocks a write stuck opening a FIFO nobody will read (gpg ended first). */
    const release = async (fifo: string) => {
      const handle = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined);
      await handle?.close();
    };
    const cleanup = () => Promise.all(Object.values(inputs).map((fifo) => rm(fifo, { force: true })));
    return {
      sign: async (text) => {
        const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
        try {
          await waiting;
          const feeding = Promise.all(
            Object.values(inputs).map((fifo) =>
              writeFile(fifo, text).catch((error: NodeJS.ErrnoException) => {
                // gpg stopped reading: its exit status and stderr say why.
                if (error.code !== 'EPIPE' && error.code !== 'ENOENT') throw error;
              }),
            ),
          );
          const r = await ended;
          await Promise.all(Object.values(inputs).map(release));
          await feeding;
          if (r.exitCode !== 0)
            this.fail('sign the Release', r.stderr || (r.signal ? `killed by ${r.signal}` : ''));
        } finally {
          clearTimeout(timer);
          await cleanup();
        }
      },
      cancel: async () => {
        abort.abort();
        await ended.catch(() => undefined);
        await cleanup();
      },
    };
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
