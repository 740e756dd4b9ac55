/**
 * Parallel gzip, the way pigz does it: the input is cut into fixed 1 MiB blocks, each deflated on
 * libuv's thread pool with the previous block's last 32 KiB as its dictionary and ended with a
 * sync flush, and the raw streams are concatenated into one gzip member (one header, one CRC-32
 * trailer). Any gzip reader (dpkg, apt, gzip -d) reads it as an ordinary stream. Block boundaries
 * depend only on the input, so the output is reproducible.
 */
import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';

const BLOCK = 1 << 20;
const WINDOW = 32 * 1024;
const IN_FLIGHT = 4;

type Crc32 = (data: Buffer, value?: number) => number;

let table: Int32Array | undefined;
/** Fallback for Node < 20.15, which has no zlib.crc32. */
function crc32js(data: Buffer, value = 0): number {
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let crc = ~value;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

const crc32: Crc32 = (zlib as { crc32?: Crc32 }).crc32 ?? crc32js;

function deflateBlock(
  block: Buffer,
  dictionary: Buffer | undefined,
  level: number,
  last: boolean,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(
      block,
      {
        level,
        ...(dictionary ? { dictionary } : {}),
        finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

/** A Transform that gzips its input using up to four threads. */
export class ParallelGzip extends Transform {
  private pending: Buffer[] = [];
  private pendingSize = 0;
  private previousTail: Buffer | undefined;
  private crc = 0;
  private length = 0;
  private headerSent = false;
  private readonly queue: Promise<Buffer>[] = [];

  constructor(private readonly level: number) {
    super();
  }

  private header(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL (2: best, 4: fastest) OS=3 (Unix), as gzip -n writes it.
    const xfl = this.level === 9 ? 2 : this.level === 1 ? 4 : 0;
    this.push(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]));
  }

  private dispatch(block: Buffer, last: boolean): void {
    this.crc = crc32(block, this.crc);
    this.length = (this.length + block.length) >>> 0;
    this.queue.push(deflateBlock(block, this.previousTail, this.level, last));
    this.previousTail = block.length >= WINDOW ? block.subarray(block.length - WINDOW) : block;
  }

  /** Pushes finished blocks in order while more than `keep` are in flight. */
  private async drain(keep: number): Promise<void> {
    while (this.queue.length > keep) this.push(await this.queue.shift()!);
  }

  private takeBlock(size: number): Buffer {
    const first = this.pending[0];
    if (first && first.length >= size) {
      // The block lies in one chunk (the builder's chunks are exactly one block): no copy.
      if (first.length === size) this.pending.shift();
      else this.pending[0] = first.subarray(size);
      this.pendingSize -= size;
      return first.subarray(0, size);
    }
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingSize);
    const block = all.subarray(0, size);
    const rest = all.subarray(size);
    this.pending = rest.length ? [rest] : [];
    this.pendingSize = rest.length;
    return block;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.header();
    this.pending.push(chunk);
    this.pendingSize += chunk.length;
    const work = async () => {
      // Keep one byte back so the final block (ended with Z_FINISH) is never empty.
      while (this.pendingSize > BLOCK) {
        this.dispatch(this.takeBlock(BLOCK), false);
        await this.drain(IN_FLIGHT - 1);
      }
    };
    work().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.header();
    const work = async () => {
      this.dispatch(this.takeBlock(this.pendingSize), true);
      await this.drain(0);
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.length, 4);
      this.push(trailer);
    };
    work().then(() => callback(), callback);
  }
}
