/**
 * gzip for an index rewritten often with small changes (a ring suite's Packages, on every
 * promotion). The text is cut between paragraphs at places its content chooses (before a
 * paragraph whose first line hashes to 0 mod 64), each segment is deflated with the previous
 * segment's last 32 KiB as dictionary and ended with a sync flush, and the raw streams are
 * joined into one gzip member — pigz's layout, read by any gzip reader. A segment whose text
 * and dictionary are those of the last call is not compressed again: admitting one package
 * recompresses the segment holding it and the one after. The output equals a fresh compression
 * of the same text, and is within a fraction of a percent of a one-piece gzip at the same level.
 */
import * as zlib from 'node:zlib';

const WINDOW = 32 * 1024;
/** A cut before about one paragraph in 64 (segments of some 20 KB of Packages text). */
const CUT_MASK = 63;
/** At most this many paragraphs per segment, whatever the hashes say. */
const MAX_PARAGRAPHS = 512;
/** The empty final block (fixed Huffman, end of block) that closes the joined stream. */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);

type Crc32 = (data: Buffer, value?: number) => number;
const crc32 = (zlib as { crc32?: Crc32 }).crc32;

/** FNV-1a of `data[start, end)`. */
function fnv1a(data: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return h >>> 0;
}

/** Cuts `data` between paragraphs (after a blank line) where the next paragraph's first line says so. */
export function segmentsOf(data: Buffer): Buffer[] {
  const segments: Buffer[] = [];
  let start = 0;
  let paragraphs = 0;
  for (let gap = data.indexOf('\n\n'); gap !== -1; gap = data.indexOf('\n\n', gap + 2)) {
    const next = gap + 2;
    paragraphs++;
    const eol = data.indexOf(10, next);
    const cut = (fnv1a(data, next, eol === -1 ? data.length : eol) & CUT_MASK) === 0;
    if (next < data.length && (cut || paragraphs >= MAX_PARAGRAPHS)) {
      segments.push(data.subarray(start, next));
      start = next;
      paragraphs = 0;
    }
  }
  segments.push(data.subarray(start));
  return segments;
}

/** At most this many changed segments are deflated synchronously (see {@link SegmentedGzip.gzip}). */
const SYNC_SEGMENTS = 4;

const deflateOptions = (dictionary: Buffer | undefined, level: number): zlib.ZlibOptions => ({
  level,
  ...(dictionary?.length ? { dictionary } : {}),
  finishFlush: zlib.constants.Z_SYNC_FLUSH,
});

function deflateSync(segment: Buffer, dictionary: Buffer | undefined, level: number): Buffer {
  return zlib.deflateRawSync(segment, deflateOptions(dictionary, level));
}

function deflate(segment: Buffer, dictionary: Buffer | undefined, level: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(segment, deflateOptions(dictionary, level), (error, out) =>
      error ? reject(error) : resolve(out),
    );
  });
}

/** A segment compressed by the last call: its bytes, its dictionary's and the deflated stream. */
interface Compressed {
  segment: Buffer;
  dictionary: Buffer | undefined;
  deflated: Buffer;
}

/**
 * Where a segment is looked up: its length and its first bytes (the first lines of its first
 * paragraph, all but unique). A hit is then compared byte for byte, so the key only has to be
 * cheap: a string of the whole segment costs more than the comparison.
 */
const keyOf = (segment: Buffer) => `${segment.length}:${segment.toString('latin1', 0, 96)}`;

const sameBytes = (a: Buffer | undefined, b: Buffer | undefined) =>
  a === undefined || b === undefined ? a === b : a.equals(b);

/** Compresses successive versions of one index, reusing the segments that did not change. */
export class SegmentedGzip {
  /** Last call's segments, by {@link keyOf}. */
  private cache = new Map<string, Compressed>();

  constructor(private readonly level = 9) {}

  /** `data` as one gzip member. */
  async gzip(data: Buffer): Promise<Buffer> {
    if (!crc32) return zlib.gzipSync(data, { level: this.level }); // Node < 20.15: no zlib.crc32
    const segments = segmentsOf(data);
    const next = new Map<string, Compressed>();
    const parts = segments.map((segment, i) => {
      const previous = segments[i - 1];
      const dictionary = previous ? previous.subarray(Math.max(0, previous.length - WINDOW)) : undefined;
      const key = keyOf(segment);
      const known = this.cache.get(key);
      const reused = known?.segment.equals(segment) && sameBytes(known.dictionary, dictionary);
      return { segment, dictionary, key, deflated: reused ? known!.deflated : undefined };
    });
    const changed = parts.filter((p) => p.deflated === undefined);
    // A few changed segments (a publish) are deflated here, a millisecond each, rather than queued
    // on the thread pool behind the publish's own fsyncs; many (a first call) on the pool.
    if (changed.length <= SYNC_SEGMENTS)
      for (const p of changed) p.deflated = deflateSync(p.segment, p.dictionary, this.level);
    else
      await Promise.all(
        changed.map(async (p) => {
          p.deflated = await deflate(p.segment, p.dictionary, this.level);
        }),
      );
    for (const p of parts)
      next.set(p.key, { segment: p.segment, dictionary: p.dictionary, deflated: p.deflated! });
    const deflated = parts.map((p) => p.deflated!);
    this.cache = next;
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL (2: best, 4: fastest) OS=3 (Unix), as gzip -n writes it.
    const xfl = this.level === 9 ? 2 : this.level === 1 ? 4 : 0;
    const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(data) >>> 0, 0);
    trailer.writeUInt32LE(data.length >>> 0, 4);
    return Buffer.concat([header, ...deflated, FINAL_BLOCK, trailer]);
  }
}
