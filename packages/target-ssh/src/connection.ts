/**
 * One SSH connection to one host (ssh2 `Client`): host key check before authentication,
 * commands with a timeout, uploads on a command's stdin, a bounded number of channels at once. Opened by the
 * pool, directly or through a bastion's `forwardOut` stream.
 */
import { createReadStream, type ReadStream } from 'node:fs';
import type { Duplex } from 'node:stream';
import { RingmasterError, TailBuffer } from '@ringmaster/core/adapter';
import { Client, type ClientChannel, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import { hostError, SCOPE } from './errors.js';
import { inFlightGate, SLICE_BYTES } from './in-flight.js';
import {
  appendKnownHost,
  fingerprint,
  type KnownHostEntry,
  keyTypeOf,
  knownHostsName,
  preferredHostKeyAlgorithms,
  verifyHostKey,
} from './known-hosts.js';
import type { ResolvedSshOptions, SshHost } from './options.js';
import { Semaphore } from './util/semaphore.js';

/**
 * Bytes for a command's stdin that are an upload: a Buffer (one copy shared by every host of a
 * fan-out) or the first `size` bytes of a file, read as they are sent. `timeoutMs` bounds the
 * upload alone; the command's own timeout starts once it is delivered.
 *
 * With `received`, delivery is the command's word: it prints `received` on stderr once every
 * byte arrived, and only then is {@link UPLOAD_GO} sent and stdin closed. An upload that times
 * out first is abandoned: its channel is closed, and the command reads end-of-file where it waits
 * for the go (nothing of it runs). Without `received`, stdin is closed after the last byte and
 * delivery is the channel taking it.
 */
export interface UploadInput {
  data: Buffer | { file: string; size: number };
  timeoutMs: number;
  received?: string;
  /** About how many bytes may be in flight, not yet given back as window (see in-flight.ts); 0: the server's window. */
  inFlightBytes?: number;
}

/** What follows an upload whose command said `received`: go on (a line, for the shell's `read`). */
export const UPLOAD_GO = 'go\n';

/**
 * Slices of an upload handed to the channel at once (ssh2 splits them into packets), and the
 * file's reads: the pacing's step, by which its cap is overshot at most (see in-flight.ts).
 */
const UPLOAD_SLICE = SLICE_BYTES;

/** What a finished remote command gives back. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  signal?: string;
}

/** Shared by every connection of one target: options, credentials, the known_hosts cache. */
export interface ConnectContext {
  options: ResolvedSshOptions;
  /** The private key bytes (read on first use). */
  privateKey(): Promise<Buffer | undefined>;
  knownHosts(): Promise<KnownHostEntry[]>;
  /** Forgets cached known_hosts after a trust-on-first-use append. */
  knownHostsChanged(): void;
  secrets: readonly (string | undefined)[];
}

/** An open, authenticated connection. */
export class HostConnection {
  closed = false;
  private readonly channels: Semaphore;
  private readonly closeWaiters = new Set<(reason: Error) => void>();

  constructor(
    readonly host: SshHost,
    readonly client: Client,
    private readonly context: ConnectContext,
  ) {
    this.channels = new Semaphore(context.options.channelsPerHost);
    const lost = () => {
      if (this.closed) return;
      this.closed = true;
      const error = new Error('connection lost');
      for (const waiter of this.closeWaiters) waiter(error);
      this.closeWaiters.clear();
    };
    client.on('close', lost);
    client.on('end', lost);
    client.on('error', lost);
  }

  private fail(
    message: string,
    command: string | undefined,
    cause?: unknown,
    stderr?: string,
    code: 'TARGET' | 'TIMEOUT' = 'TARGET',
  ): RingmasterError {
    return hostError(
      message,
      { host: this.host.name, ...(command ? { command } : {}), ...(stderr ? { stderr } : {}), cause },
      this.context.secrets,
      code,
    );
  }

  /**
   * Runs a command line (already quoted by the caller) and resolves with its exit code and
   * output; rejects with `TARGET` when the channel cannot open or the connection drops, and with
   * `TIMEOUT` when the command outlives `timeoutMs`. The command is then signalled and its
   * channel closed — unless `interrupt` is false (a package manager, which is never interrupted:
   * we only stop waiting). `timeoutMs` undefined waits as long as the command runs. `input`, when
   * given, is written to the command's stdin, which is then closed: a string, or an upload
   * (TIMEOUT when its sending outlives its own `timeoutMs`; the channel is then closed, so the
   * host sees the upload end early).
   */
  async exec(
    command: string,
    timeoutMs: number | undefined,
    label = command,
    interrupt = true,
    input?: string | UploadInput,
  ): Promise<ExecResult> {
    const release = await this.channels.acquire();
    try {
      return await new Promise<ExecResult>((resolve, reject) => {
        let settled = false;
        let timer: NodeJS.Timeout | undefined;
        let stopInput: (() => void) | undefined;
        const settle = (fn: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          stopInput?.();
          this.closeWaiters.delete(onLost);
          fn();
        };
        const stdout = new TailBuffer();
        const stderr = new TailBuffer();
        const onLost = (reason: Error) =>
          settle(() =>
            reject(
              this.fail('the connection dropped while the command ran', label, reason, stderr.toString()),
            ),
          );
        if (this.closed) {
          settle(() => reject(this.fail('the connection is closed', label)));
          return;
        }
        this.closeWaiters.add(onLost);
        try {
          this.client.exec(command, (error, stream) => {
            if (error) {
              settle(() => reject(this.fail(`could not start the command: ${error.message}`, label, error)));
              return;
            }
            let exitCode: number | undefined;
            let signal: string | undefined;
            const onTimeout = () => {
              if (interrupt) {
                try {
                  // TERM, not KILL: sshd signals the session's process, which is the host-side
                  // `timeout` wrapper (see Remote); timeout passes TERM on to the command and
                  // follows with KILL 5 s later. A KILL would orphan the command instead. (sshd
                  // refuses signals for root sessions; the host-side timeout covers those.)
                  stream.signal('TERM');
                } catch {
                  // the server may not support signals; the host-side timeout still ends it
                }
              }
              stream.close();
              settle(() =>
                reject(
                  this.fail(
                    `the command did not finish within ${timeoutMs} ms`,
                    label,
                    undefined,
                    stderr.toString(),
                    'TIMEOUT',
                  ),
                ),
              );
            };
            const armTimeout = () => {
              if (timeoutMs !== undefined && timer === undefined && !settled)
                timer = setTimeout(onTimeout, timeoutMs);
            };
            // An upload's time is its own: the command's timeout starts once it is delivered.
            const upload = typeof input === 'object' ? input : undefined;
            if (!upload) armTimeout();
            // A channel is a stream: an 'error' without a listener would crash the process.
            stream.on('error', (err: Error) =>
              settle(() => reject(this.fail(`the command's channel failed: ${err.message}`, label, err))),
            );
            stream.on('data', (chunk: Buffer) => stdout.push(chunk));
            let delivered: (() => void) | undefined;
            if (typeof input === 'string') stream.end(input);
            else if (upload) {
              const sending = sendUpload(stream, upload, armTimeout, (error, timedOut) => {
                stream.close();
                settle(() =>
                  reject(
                    timedOut
                      ? this.fail(
                          `the upload did not finish within ${upload.timeoutMs} ms`,
                          label,
                          undefined,
                          stderr.toString(),
                          'TIMEOUT',
                        )
                      : this.fail(`the upload failed: ${error?.message}`, label, error, stderr.toString()),
                  ),
                );
              });
              stopInput = sending.stop;
              if (upload.received) delivered = sending.delivered;
            }
            stream.stderr.on('data', (chunk: Buffer) => {
              stderr.push(chunk);
              if (delivered && upload?.received && stderr.toString().includes(upload.received)) {
                delivered();
                delivered = undefined;
              }
            });
            stream.on('exit', (code: number | null, sig?: string) => {
              // The command ended (perhaps before reading all of its input): stop sending.
              stopInput?.();
              if (typeof code === 'number') exitCode = code;
              if (sig) signal = sig;
            });
            stream.on('close', () =>
              settle(() =>
                resolve({
                  exitCode: exitCode ?? (signal ? 128 : 255),
                  stdout: stdout.toString(),
                  stderr: stderr.toString(),
                  ...(signal ? { signal } : {}),
                }),
              ),
            );
          });
        } catch (error) {
          settle(() => reject(this.fail('could not start the command', label, error)));
        }
      });
    } finally {
      release();
    }
  }

  /** Ends the connection and waits (bounded) for it to close. */
  async close(): Promise<void> {
    if (this.closed) {
      this.client.destroy();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.client.destroy();
        resolve();
      }, 2000);
      timer.unref();
      this.client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.client.end();
    });
    this.closed = true;
  }
}

/**
 * Writes an upload to a command's stdin with backpressure. `failed` is called when the file
 * cannot be read or the upload outlives `input.timeoutMs`. `delivered` (called by the caller
 * when the command says `received`, or here at the channel's 'finish' when it says nothing)
 * stops that clock, sends the go after a `received`, and calls `done`. `stop` stops sending (the
 * command ended, or the exec settled).
 */
function sendUpload(
  stream: ClientChannel,
  input: UploadInput,
  done: () => void,
  failed: (error: Error | undefined, timedOut: boolean) => void,
): { stop: () => void; delivered: () => void } {
  let stopped = false;
  let file: ReadStream | undefined;
  const gate = inFlightGate(stream, input.inFlightBytes ?? 0);
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    gate.stop();
    file?.destroy();
  };
  /** Calls `then` once the channel takes more: drained, and the gate open. */
  const whenWritable = (drained: boolean, then: () => void) => {
    if (stopped) return;
    if (!drained) stream.once('drain', () => whenWritable(true, then));
    else if (!gate.open()) gate.wait(() => whenWritable(true, then));
    else then();
  };
  const timer = setTimeout(() => {
    if (stopped) return;
    stop();
    failed(undefined, true);
  }, input.timeoutMs);
  const delivered = () => {
    if (stopped) return;
    clearTimeout(timer);
    gate.stop();
    if (input.received) stream.end(UPLOAD_GO);
    done();
  };
  // With `received`, stdin stays open after the last byte: the go (or end-of-file) follows.
  const end = !input.received;
  if (end) stream.once('finish', delivered);
  const { data } = input;
  if (Buffer.isBuffer(data) || data.size === 0) {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.alloc(0);
    let offset = 0;
    const pump = () => {
      while (!stopped && offset < bytes.length) {
        if (!gate.open()) {
          whenWritable(true, pump);
          return;
        }
        const next = Math.min(offset + UPLOAD_SLICE, bytes.length);
        const more = stream.write(bytes.subarray(offset, next));
        offset = next;
        if (!more) {
          whenWritable(false, pump);
          return;
        }
      }
      if (!stopped && end) stream.end();
    };
    pump();
  } else {
    // Exactly the bytes the artifact says it has, even if the file grew since.
    file = createReadStream(data.file, { highWaterMark: UPLOAD_SLICE, end: data.size - 1 });
    file.once('error', (error) => {
      if (stopped) return;
      stop();
      failed(error, false);
    });
    file.on('data', (chunk) => {
      if (stopped) return;
      const more = stream.write(chunk);
      if (!more || !gate.open()) {
        file?.pause();
        whenWritable(more, () => file?.resume());
      }
    });
    file.once('end', () => {
      if (!stopped && end) stream.end();
    });
  }
  return { stop, delivered };
}

function describeConnectError(
  error: Error & { level?: string; code?: string },
  host: SshHost,
  connected: boolean,
  timeoutMs: number,
): string {
  const where = `${host.user}@${host.address ?? host.name}:${host.port}`;
  if (error.level === 'client-authentication') {
    return `authentication failed for ${where}: check that the key is in the user's authorized_keys (or that the agent holds it)`;
  }
  if (error.level === 'client-timeout') {
    return connected
      ? `timed out connecting to ${where}: the TCP connection opened but the SSH handshake did not finish within ${timeoutMs} ms (a hung sshd, or something else on that port?)`
      : `timed out connecting to ${where}: is the host up?`;
  }
  if (error.code === 'ECONNREFUSED')
    return `connection refused by ${where}: is sshd running and the port right?`;
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN')
    return `cannot resolve ${host.address ?? host.name}`;
  if (error.code === 'ECONNRESET') return `the connection to ${where} was reset during the handshake`;
  if (/^Invalid header|^Bad identification|^Unsupported protocol version/i.test(error.message))
    return `${where} does not speak SSH (${error.message}): is the port right?`;
  return `cannot connect to ${where}: ${error.message}`;
}

/**
 * Opens and authenticates a connection to `host`, over `sock` when given (a bastion's
 * forwarded stream). The host key is checked against known_hosts before authentication; a
 * refusal rejects with `HOST_KEY` naming the host and the key's SHA256 fingerprint.
 */
export async function openConnection(
  host: SshHost,
  context: ConnectContext,
  sock?: Duplex,
): Promise<HostConnection> {
  const { options } = context;
  const address = host.address ?? host.name;
  const lookupName = knownHostsName(address, host.port);
  let privateKey: Buffer | undefined;
  let known: KnownHostEntry[];
  try {
    privateKey = await context.privateKey();
    known = await context.knownHosts();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw hostError(reason, { host: host.name, cause: error }, context.secrets);
  }
  let hostKeyError: RingmasterError | undefined;
  const preferred = preferredHostKeyAlgorithms(known, lookupName);
  const algorithms = preferred as ServerHostKeyAlgorithm[];

  const hostVerifier = (key: Buffer, verify: (valid: boolean) => void): void => {
    const verdict = verifyHostKey(known, lookupName, key);
    const seen = `${keyTypeOf(key)} ${fingerprint(key)}`;
    if (verdict.status === 'known') {
      verify(true);
      return;
    }
    if (verdict.status === 'unknown' && options.trustOnFirstUse) {
      appendKnownHost(options.knownHosts[0]!, lookupName, key).then(
        () => {
          context.knownHostsChanged();
          verify(true);
        },
        (error: unknown) => {
          hostKeyError = new RingmasterError(
            'HOST_KEY',
            `host ${host.name}: cannot record its key ${seen} in ${options.knownHosts[0]}: ${String(error)}`,
            { scope: SCOPE, details: { host: host.name, fingerprint: fingerprint(key) } },
          );
          verify(false);
        },
      );
      return;
    }
    const message =
      verdict.status === 'unknown'
        ? `host ${host.name} (${lookupName}) is not in known_hosts; it offered ${seen}. ` +
          `Verify that fingerprint out of band, then add the key (ssh-keyscan -p ${host.port} ${address}) or set trustOnFirstUse: true`
        : verdict.status === 'revoked'
          ? `host ${host.name} (${lookupName}) offered a revoked key ${seen}`
          : `host ${host.name} (${lookupName}) offered ${seen} but known_hosts expects ${verdict.expected.join(', ')}. ` +
            'The host was reinstalled or someone is in between: check, then fix known_hosts';
    hostKeyError = new RingmasterError('HOST_KEY', message, {
      scope: SCOPE,
      details: { host: host.name, fingerprint: fingerprint(key), status: verdict.status },
    });
    verify(false);
  };

  const config: ConnectConfig = {
    host: address,
    port: host.port,
    username: host.user,
    readyTimeout: options.timeouts.connectMs,
    keepaliveInterval: options.timeouts.keepaliveMs,
    keepaliveCountMax: options.timeouts.keepaliveCountMax,
    hostVerifier,
    ...(preferred.length > 0
      ? // ssh2 applies `remove` then `prepend`: this moves the known algorithms to the front.
        { algorithms: { serverHostKey: { remove: algorithms, prepend: algorithms, append: [] } } }
      : {}),
    ...(sock ? { sock } : {}),
    ...(privateKey ? { privateKey } : {}),
    ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}),
    ...(options.agent ? { agent: options.agent === true ? process.env.SSH_AUTH_SOCK : options.agent } : {}),
  };

  const client = new Client();
  return new Promise<HostConnection>((resolve, reject) => {
    let settled = false;
    let connected = false;
    client.once('connect', () => {
      connected = true;
    });
    const onError = (error: Error & { level?: string; code?: string }) => {
      if (settled) return;
      settled = true;
      client.destroy();
      if (hostKeyError) reject(hostKeyError);
      else
        reject(
          hostError(
            describeConnectError(error, host, connected, options.timeouts.connectMs),
            { host: host.name, cause: error },
            context.secrets,
            error.level === 'client-timeout' ? 'TIMEOUT' : 'TARGET',
          ),
        );
    };
    // `on`, not `once`, for the client's whole life: ssh2 can emit 'error' twice (a handshake
    // timeout, then "Connection lost before handshake" once destroy() closes the socket), and an
    // 'error' with no listener left would crash the process. After ready, HostConnection's own
    // listener marks the connection closed; this one then does nothing.
    client.on('error', onError);
    client.once('close', () =>
      onError(Object.assign(new Error('the connection closed during the handshake'), {})),
    );
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      resolve(new HostConnection(host, client, context));
    });
    try {
      client.connect(config);
    } catch (error) {
      settled = true;
      client.destroy();
      const reason = error instanceof Error ? error.message : String(error);
      reject(
        hostError(
          `cannot use the private key ${options.privateKey ?? '(agent)'}: ${reason}` +
            (/passphrase/i.test(reason) ? ' (check the passphrase option)' : ''),
          { host: host.name },
          context.secrets,
        ),
      );
    }
  });
}
