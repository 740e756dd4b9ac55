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
 * same, only the header's dictionary size differs). zstd, whose output is the same for any
 * number of worker threads too, runs one worker up to -5 (it keeps pace with the tar's reader,
 * the other busy thread) and 2 to 4 above.
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
function threads(): number {
  return Math.min(Math.max(availableParallelism(), 2), 4);
}

/** The argv (after the command) of an external compressor writing to stdout. */
export function compressorArgs(compression: 'xz' | 'zstd', level: number): string[] {
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
      `--threads=${threads()}`,
      // Never fall back to single-threaded mode (other bytes) to meet a memory limit: fail instead.
      '--no-adjust',
    ];
  }
  // zstd's output is the same for any number of worker threads. Up to -5 it compresses about as
  // fast as the tar is read: one worker, the reader being the other busy thread; more above.
  return [
    '--compress',
    '--stdout',
    '--quiet',
    '--no-progress',
    `-${level}`,
    ...(level >= 20 ? ['--ultra'] : []),
    `-T${level <= 5 ? 1 : threads()}`,
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

/**
 * Runs the compressor with its stdout on the open file descriptor `outFd` (the child writes the
 * file itself) while `produce` writes the `size` bytes of input to the sink it is given (the
 * child's stdin). A failing producer kills the child and its error is thrown; a failing child
 * (exit code, signal) is thrown with the tail of its stderr.
 */
export async function compressStream(
  compressor: ExternalCompressor,
  size: number,
  produce: (sink: ChunkSink) => Promise<void>,
  outFd: number,
): Promise<void> {
  const what = `${compressor.compression} (${compressor.file})`;
  const child = spawn(compressor.file, [...compressor.args, ...sizeArgs(compressor, size)], {
    stdio: ['pipe', outFd, 'pipe'],
    env: compressorEnv(),
  });
  const { exited, kill } = watch(child, what);
  exited.catch(() => {}); // awaited below
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
  await exited;
}

/** Compresses a small buffer (control.tar) through the compressor. */
export async function compressBuffer(compressor: ExternalCompressor, input: Buffer): Promise<Buffer> {
  const what = `${compressor.compression} (${compressor.file})`;
  const child = spawn(compressor.file, [...compressor.args, ...sizeArgs(compressor, input.length)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: compressorEnv(),
  });
  const { exited } = watch(child, what);
  const out: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  child.stdin!.on('error', () => {}); // a child that dies early says why in its exit status
  child.stdin!.end(input);
  await exited;
  return Buffer.concat(out);
}
