/**
 * The compressors of a .deb's members, the ones dpkg-deb has: gzip (in-process, see
 * parallel-gzip.ts), xz and zstd (the system `xz` and `zstd`: Node 20's zlib has neither), and
 * none. The binaries are found on PATH before anything is written, run with an argv array (never
 * a shell) and an environment without XZ_OPT, XZ_DEFAULTS, ZSTD_CLEVEL or ZSTD_NBTHREADS, so what
 * they write depends only on the input, the level and the tool's version.
 *
 * xz runs multi-threaded on independent blocks (`xz --threads=N --block-size=B`): its output is
 * the same for any number of threads (xz(1), --no-adjust: the number of threads "won't affect
 * the compressed output"; the tests check it, and zstd's), the blocks keep every core busy, and
 * each thread holds one block. The block is 2 MiB up to level 6 (a quarter of the preset's
 * dictionary above it), and the dictionary is capped at the block: a match never reaches past
 * the start of its block, so a larger one would only cost memory (the compressed data is the
 * same, only the header's dictionary size differs). zstd runs 2 to 4 worker threads at every
 * level, always as `-T<n>`: its multi-threaded format, the same bytes for any number of workers
 * (`--single-thread` writes other bytes; the tests check both), in jobs of 2 MiB up to -5.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { RingmasterError } from '@ringmaster/core/adapter';
import type { ChunkSink } from './data-tar.js';

export type Compression = 'gzip' | 'xz' | 'zstd' | 'none';

/** Levels each compressor takes, and dpkg-deb's default (`man dpkg-deb`, -z). */
export const COMPRESSION_LEVELS = {
  gzip: { min: 1, max: 9, default: 9 },
  xz: { min: 0, max: 9, default: 6 },
  zstd: { min: 1, max: 22, default: 3 },
} as const;

/** The member name's suffix: data.tar.gz, data.tar.xz, data.tar.zst, data.tar. */
export const MEMBER_SUFFIX: Record<Compression, string> = { gzip: '.gz', xz: '.xz', zstd: '.zst', none: '' };

/** The command each external compressor runs, and the Debian package that ships it. */
const EXTERNAL = {
  xz: { command: 'xz', debianPackage: 'xz-utils' },
  zstd: { command: 'zstd', debianPackage: 'zstd' },
} as const;

const MiB = 1 << 20;
/** The dictionary of each xz preset, 0–9 (xz(1), "Presets"). */
const XZ_PRESET_DICT = [
  MiB / 4,
  MiB,
  2 * MiB,
  4 * MiB,
  4 * MiB,
  8 * MiB,
  8 * MiB,
  16 * MiB,
  32 * MiB,
  64 * MiB,
];

/** xz's block (and capped dictionary) at a level: 2 MiB up to -6, a quarter of the dictionary above. */
export function xzBlockSize(level: number): number {
  return Math.max(2 * MiB, XZ_PRESET_DICT[level]! / 4);
}

/** Threads of the external compressor: 2 to 4, as many as there are cores (the output is the same). */
function defaultThreads(): number {
  return Math.min(Math.max(availableParallelism(), 2), 4);
}

/**
 * zstd's job size (`-B`) up to level 5: 2 MiB, a quarter of its default there (four windows).
 * Once the tar is read, what is left to compress is the jobs in flight, the last of them on one
 * thread alone: small jobs end the build sooner, for 0.2% of size (each job starts from the last
 * 256 KiB of the one before). Above level 5 compression is slow enough that the jobs' size
 * matters less than what a smaller one costs (its overlap grows with the level): zstd's default.
 */
const ZSTD_JOB = 2 * MiB;

/** The argv (after the command) of an external compressor writing to stdout. */
export function compressorArgs(
  compression: 'xz' | 'zstd',
  level: number,
  threads = defaultThreads(),
): string[] {
  if (compression === 'xz') {
    const block = xzBlockSize(level);
    const dict = Math.min(XZ_PRESET_DICT[level]!, block);
    return [
      '--compress',
      '--stdout',
      '--quiet',
      '--format=xz',
      '--check=crc64',
      `--lzma2=preset=${level},dict=${dict}`,
      `--block-size=${block}`,
      `--threads=${threads}`,
      // Never fall back to single-threaded mode (other bytes) to meet a memory limit: fail instead.
      '--no-adjust',
    ];
  }
  // Always -T<n> with n >= 1: zstd's multi-threaded format, the same bytes for any n (the tests
  // check it). Never --single-thread (or a build without threads), which writes other bytes.
  return [
    '--compress',
    '--stdout',
    '--quiet',
    '--no-progress',
    `-${level}`,
    ...(level >= 20 ? ['--ultra'] : []),
    `-T${threads}`,
    ...(level <= 5 ? [`-B${ZSTD_JOB}`] : []),
  ];
}

/**
 * zstd is told the input's size (known before the first byte): it records it in the frame,
 * sizes its tables to the input (a small control.tar at -19 needs a few MB, not 85), and fails
 * if the input is not that long.
 */
function sizeArgs(compressor: ExternalCompressor, size: number): string[] {
  return compressor.compression === 'zstd' ? [`--stream-size=${size}`] : [];
}

/** The environment of a compressor: ours, less what would change the tool's output. */
function compressorEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['XZ_OPT', 'XZ_DEFAULTS', 'ZSTD_CLEVEL', 'ZSTD_NBTHREADS']) delete env[name];
  return env;
}

/** The absolute path of `command` on PATH (absolute entries only), or undefined. */
async function onPath(command: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const file = join(dir, command);
    try {
      await access(file, constants.X_OK);
      if ((await stat(file)).isFile()) return file;
    } catch {
      // not here: the next entry
    }
  }
  return undefined;
}

/** An external compressor as found on PATH: its absolute path and argv (to stdout). */
export interface ExternalCompressor {
  compression: 'xz' | 'zstd';
  file: string;
  args: string[];
}

/**
 * Finds the binary a compression needs (xz, zstd); undefined for gzip and none. Throws a PACKAGE
 * error naming the Debian package to install when it is not on PATH.
 */
export async function findCompressor(
  compression: Compression,
  level: number,
): Promise<ExternalCompressor | undefined> {
  if (compression === 'gzip' || compression === 'none') return undefined;
  const { command, debianPackage } = EXTERNAL[compression];
  const file = await onPath(command);
  if (!file) {
    throw new RingmasterError(
      'PACKAGE',
      `compression '${compression}' needs the ${command} command, which is not on PATH: install the Debian package ${debianPackage} (apt-get install ${debianPackage})`,
      { scope: 'pkg-deb', details: { command, debianPackage } },
    );
  }
  return { compression, file, args: compressorArgs(compression, level) };
}

const STDERR_TAIL = 2000;

/** Collects the last bytes of a child's stderr, and resolves when it exits (rejects if it cannot start). */
function watch(child: ChildProcess, what: string): { exited: Promise<void>; kill(): void } {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL);
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (error) => reject(new Error(`cannot run ${what}: ${error.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else {
        const how = code === null ? `was killed by ${signal}` : `exited with code ${code}`;
        const tail = stderr.trim();
        reject(new Error(`${what} ${how}${tail ? `: ${tail}` : ''}`));
      }
    });
  });
  return { exited, kill: () => child.kill('SIGKILL') };
}

/** A compressor writing the file it was given while its input is still being produced. */
export interface Compressing {
  /** Settles when the child has exited: rejects with its exit status and stderr's tail. */
  exited: Promise<void>;
  /** Kills the child (a failed build) and waits for it to exit. */
  kill(): Promise<void>;
}

/**
 * Runs the compressor with its stdout on the open file descriptor `outFd` (the child writes the
 * file itself) while `produce` writes the `size` bytes of input to the sink it is given (the
 * child's stdin). Resolves once the input is written and closed, while the child may still be
 * compressing its last blocks: the caller does what it can meanwhile and awaits `exited`. A
 * failing producer kills the child and its error is thrown; a failing child (exit code, signal)
 * is thrown with the tail of its stderr.
 */
export async function compressStream(
  compressor: ExternalCompressor,
  size: number,
  produce: (sink: ChunkSink) => Promise<void>,
  outFd: number,
): Promise<Compressing> {
  const what = `${compressor.compression} (${compressor.file})`;
  const child = spawn(compressor.file, [...compressor.args, ...sizeArgs(compressor, size)], {
    stdio: ['pipe', outFd, 'pipe'],
    env: compressorEnv(),
  });
  const { exited, kill } = watch(child, what);
  exited.catch(() => {}); // awaited by the caller, or below
  const stdin = child.stdin!;
  stdin.on('error', () => {}); // each write's callback gets the error
  // Errors of the child's stdin (EPIPE: it stopped reading) are the child's: its exit status says why.
  const pipeErrors = new WeakSet<object>();
  const sink: ChunkSink = {
    write: (bytes, done) => {
      stdin.write(bytes, (error) => {
        if (error) pipeErrors.add(error);
        done(error);
      });
    },
  };
  try {
    await produce(sink);
  } catch (error) {
    if (typeof error === 'object' && error !== null && pipeErrors.has(error)) {
      await exited;
      throw error;
    }
    // Our failure (a file that changed, say): stop the child, leave its output to the caller.
    kill();
    await exited.catch(() => {});
    throw error;
  }
  stdin.end();
  return {
    exited,
    kill: async () => {
      kill();
      await exited.catch(() => {});
    },
  };
}

/** A compressor started before its (small) input exists, so that its start costs nothing later. */
export interface ReadyCompressor {
  /** Compresses `input`, which must be the size the compressor was started for. */
  compress(input: Buffer): Promise<Buffer>;
  /** Kills the child if it is still running (the build failed before it was needed). */
  kill(): Promise<void>;
}

/**
 * Starts the compressor for an input of `size` bytes (control.tar, whose size is known before
 * its content): spawned at the start of a build, it waits on its stdin until the content is
 * known at the end, and only compresses then.
 */
export function startCompressor(compressor: ExternalCompressor, size: number): ReadyCompressor {
  const what = `${compressor.compression} (${compressor.file})`;
  const child = spawn(compressor.file, [...compressor.args, ...sizeArgs(compressor, size)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: compressorEnv(),
  });
  const { exited, kill } = watch(child, what);
  exited.catch(() => {}); // awaited by compress() or kill()
  const out: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  child.stdin!.on('error', () => {}); // a child that dies early says why in its exit status
  return {
    compress: async (input) => {
      if (input.length !== size)
        throw new Error(`${what} was started for ${size} bytes, not ${input.length}`);
      child.stdin!.end(input);
      await exited;
      return Buffer.concat(out);
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) kill();
      await exited.catch(() => {});
    },
  };
}
