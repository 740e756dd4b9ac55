/**
 * Checks a .deb's tar members as dpkg would unpack them: the member is decompressed to the end
 * (gzip in-process; xz and zstd through the system `xz`/`zstd`, since Node 20 has neither;
 * uncompressed as is), and the tar inside is walked header by header — every checksum, every
 * size, the end-of-archive marker. A corrupt or truncated member is refused before the
 * repository writes anything. Memory stays bounded whatever the member inflates to.
 */
import { spawn } from 'node:child_process';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { BLOCK, checksumOk, padding, readNumber } from './tar.js';

/** How a member's name says it is compressed (`data.tar.xz` → xz). Throws for one dpkg would not take. */
function compressionOf(name: string): 'none' | 'gzip' | 'xz' | 'zstd' {
  if (name.endsWith('.tar')) return 'none';
  if (name.endsWith('.tar.gz')) return 'gzip';
  if (name.endsWith('.tar.xz')) return 'xz';
  if (name.endsWith('.tar.zst')) return 'zstd';
  throw new Error(`${name}: unsupported compression (expected .tar, .tar.gz, .tar.xz or .tar.zst)`);
}

/** Feeds `source` through a system decompressor (argv only, no shell) into `sink`. */
async function throughCommand(
  command: string,
  name: string,
  source: Readable,
  sink: Writable,
): Promise<void> {
  const child = spawn(command, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`cannot run ${command} to check ${name}: ${e.message}`)));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  // The decompressor stops reading on corrupt input: its exit code says why, not the EPIPE.
  const feeding = pipeline(source, child.stdin).catch(() => {});
  const walking = pipeline(child.stdout, sink);
  const [exit, walked] = await Promise.all([
    exited,
    walking.then(
      () => undefined,
      (e: unknown) => e,
    ),
    feeding,
  ]);
  // Killed by SIGPIPE: the walker stopped reading, and its error is the reason.
  if (exit.code !== 0 && exit.signal !== 'SIGPIPE')
    throw new Error(
      `${name} does not decompress: ${stderr.trim() || `${command} exited ${exit.code ?? exit.signal}`}`,
    );
  if (walked) throw walked;
}

/** Walks tar headers as bytes arrive: checksums, sizes, the end marker; keeps one block at most. */
class TarWalker extends Writable {
  private header = Buffer.alloc(BLOCK);
  private filled = 0;
  private skip = 0;
  private ended = false;
  entries = 0;

  constructor(private readonly member: string) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error) => void): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        continue;
      }
      const n = Math.min(BLOCK - this.filled, chunk.length - at);
      chunk.copy(this.header, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled < BLOCK) break;
      this.filled = 0;
      const error = this.block();
      if (error) {
        done(error);
        return;
      }
    }
    done();
  }

  /** One whole 512-byte block: the end marker (zeros), or a header whose data follows. */
  private block(): Error | undefined {
    if (this.header.every((b) => b === 0)) {
      this.ended = true;
      return undefined;
    }
    if (this.ended) return new Error(`${this.member}: data after the end-of-archive marker`);
    if (!checksumOk(this.header))
      return new Error(`${this.member}: bad tar header checksum in entry ${this.entries + 1}`);
    const size = readNumber(this.header, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0)
      return new Error(`${this.member}: bad size in entry ${this.entries + 1}`);
    this.entries++;
    this.skip = size + padding(size);
    return undefined;
  }

  override _final(done: (error?: Error) => void): void {
    if (this.skip > 0 || this.filled > 0) done(new Error(`${this.member} is truncated inside an entry`));
    else if (!this.ended) done(new Error(`${this.member} is truncated (no end-of-archive marker)`));
    else done();
  }
}

/**
 * Decompresses and walks the tar member `name` read from `source`. Throws a plain Error saying
 * what is wrong; resolves with the number of entries.
 */
export async function verifyTarMember(name: string, source: Readable): Promise<number> {
  const compression = compressionOf(name);
  const walker = new TarWalker(name);
  try {
    if (compression === 'none') await pipeline(source, walker);
    else if (compression === 'gzip') await pipeline(source, createGunzip(), walker);
    else await throughCommand(compression, name, source, walker);
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(message.includes(name) ? message : `${name} does not decompress: ${message}`);
  }
  return walker.entries;
}
