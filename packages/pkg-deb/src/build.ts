/**
 * Builds a .deb from a file tree, streaming: data.tar is compressed straight to a temporary file
 * while each file's MD5 is taken, then the ar container (debian-binary, control.tar, data.tar) is
 * written and renamed into place. Only the small control.tar is held in memory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { RingmasterError } from '@ringmaster/core/adapter';
import { AR_MAGIC, arHeader } from './archive/ar.js';
import { ParallelGzip } from './archive/parallel-gzip.js';
import { padding, tarEnd, tarHeader } from './archive/tar.js';
import { type ControlFields, renderControl } from './control.js';
import type { TreeEntry } from './tree.js';

/** What the builder needs besides the tree. */
export interface BuildSpec {
  control: Omit<ControlFields, 'installedSize'>;
  entries: TreeEntry[];
  conffiles: string[];
  scripts: Partial<Record<'preinst' | 'postinst' | 'prerm' | 'postrm', string>>;
  mtime: number;
  compression: 'gzip' | 'none';
  level: number;
  outFile: string;
}

export interface BuildResult {
  file: string;
  sha256: string;
  size: number;
}

const CHUNK = 1 << 20;
/** Files up to this size are read whole, up to READ_AHEAD entries ahead (bounded memory). */
const SMALL_FILE = 1 << 20;
const READ_AHEAD = 16;

/** Yields the data.tar bytes in ~1 MiB chunks, recording each file's MD5 into `md5s`. */
async function* dataTar(
  entries: TreeEntry[],
  mtime: number,
  md5s: Map<string, string>,
): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingSize = 0;
  const push = (b: Buffer) => {
    pending.push(b);
    pendingSize += b.length;
  };
  const flush = () => {
    const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingSize);
    pending = [];
    pendingSize = 0;
    return out;
  };
  push(tarHeader({ name: './', type: 'dir', mode: 0o755, size: 0, mtime }));
  // Small files are read a few entries ahead, so the thread pool reads while we hash and compress.
  const ahead = new Map<number, Promise<Buffer>>();
  const schedule = (from: number) => {
    for (let j = from; j < entries.length && j < from + READ_AHEAD; j++) {
      const e = entries[j]!;
      if (e.type !== 'file' || e.size > SMALL_FILE || ahead.has(j)) continue;
      const read = readFile(e.source!);
      read.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"
      ahead.set(j, read);
    }
  };
  for (const [index, entry] of entries.entries()) {
    schedule(index);
    const name = entry.type === 'dir' ? `./${entry.path}/` : `./${entry.path}`;
    push(
      tarHeader({
        name,
        type: entry.type,
        mode: entry.mode,
        size: entry.size,
        mtime,
        linkname: entry.linkname,
      }),
    );
    if (entry.type === 'file') {
      const hash = createHash('md5');
      let read = 0;
      const prefetched = ahead.get(index);
      if (prefetched) {
        ahead.delete(index);
        const data = await prefetched;
        read = data.length;
        if (read === entry.size) {
          hash.update(data);
          push(data);
        }
      } else {
        const handle = await open(entry.source!, 'r');
        try {
          // Bounded by the size lstat reported: a file that grows while we read is refused below.
          while (read < entry.size) {
            const want = Math.min(CHUNK, entry.size - read);
            const buf = Buffer.allocUnsafe(want);
            const { bytesRead } = await handle.read(buf, 0, want, read);
            if (bytesRead === 0) break;
            const chunk = bytesRead === want ? buf : buf.subarray(0, bytesRead);
            hash.update(chunk);
            push(chunk);
            read += bytesRead;
            if (pendingSize >= CHUNK) yield flush();
          }
        } finally {
          await handle.close();
        }
      }
      if (read !== entry.size) {
        throw new RingmasterError(
          'PACKAGE',
          `${entry.source} changed size while it was packaged; build again`,
          {
            scope: 'pkg-deb',
            details: { path: entry.path },
          },
        );
      }
      md5s.set(entry.path, hash.digest('hex'));
      const pad = padding(entry.size);
      if (pad) push(Buffer.alloc(pad));
    }
    if (pendingSize >= CHUNK) yield flush();
  }
  push(tarEnd());
  yield flush();
}

/** control.tar in memory: control, md5sums, conffiles and the maintainer scripts. */
function controlTar(files: { name: string; content: string; mode: number }[], mtime: number): Buffer {
  const parts: Buffer[] = [tarHeader({ name: './', type: 'dir', mode: 0o755, size: 0, mtime })];
  for (const file of [...files].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const data = Buffer.from(file.content, 'utf8');
    parts.push(
      tarHeader({ name: `./${file.name}`, type: 'file', mode: file.mode, size: data.length, mtime }),
    );
    parts.push(data, Buffer.alloc(padding(data.length)));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

/** Installed-Size as dpkg-gencontrol counts it: KiB per file rounded up, 1 per other entry. */
function installedSize(entries: TreeEntry[]): number {
  let total = 0;
  for (const e of entries) total += e.type === 'file' ? Math.ceil(e.size / 1024) : 1;
  return Math.max(total, 1);
}

function compressor(spec: BuildSpec): Transform {
  if (spec.compression === 'none') return new Transform({ transform: (chunk, _enc, cb) => cb(null, chunk) });
  return new ParallelGzip(spec.level);
}

/** Builds the package file; returns its path, SHA-256 and size. */
export async function buildDeb(spec: BuildSpec): Promise<BuildResult> {
  const suffix = `${process.pid}.${randomBytes(4).toString('hex')}`;
  const dataFile = `${spec.outFile}.data.${suffix}.tmp`;
  const partFile = `${spec.outFile}.${suffix}.tmp`;
  await mkdir(join(spec.outFile, '..'), { recursive: true });
  try {
    const md5s = new Map<string, string>();
    await pipeline(
      Readable.from(dataTar(spec.entries, spec.mtime, md5s), { highWaterMark: 2 }),
      compressor(spec),
      createWriteStream(dataFile),
    );

    const conffileSet = new Set(spec.conffiles);
    const md5sums = spec.entries
      .filter((e) => e.type === 'file' && !conffileSet.has(`/${e.path}`))
      .map((e) => `${md5s.get(e.path)}  ${e.path}\n`)
      .join('');
    const files = [
      {
        name: 'control',
        content: renderControl({ ...spec.control, installedSize: installedSize(spec.entries) }),
        mode: 0o644,
      },
      { name: 'md5sums', content: md5sums, mode: 0o644 },
    ];
    if (spec.conffiles.length > 0)
      files.push({ name: 'conffiles', content: `${spec.conffiles.join('\n')}\n`, mode: 0o644 });
    for (const [name, content] of Object.entries(spec.scripts)) {
      if (content !== undefined)
        files.push({ name, content: content.endsWith('\n') ? content : `${content}\n`, mode: 0o755 });
    }
    const controlRaw = controlTar(files, spec.mtime);
    const ext = spec.compression === 'gzip' ? '.gz' : '';
    const control = spec.compression === 'gzip' ? gzipSync(controlRaw, { level: spec.level }) : controlRaw;
    const dataSize = (await stat(dataFile)).size;

    const sha = createHash('sha256');
    let size = 0;
    async function* container(): AsyncGenerator<Buffer> {
      const head = Buffer.concat([
        AR_MAGIC,
        arHeader('debian-binary', 4, spec.mtime),
        Buffer.from('2.0\n'),
        arHeader(`control.tar${ext}`, control.length, spec.mtime),
        control,
        Buffer.alloc(control.length % 2, 0x0a),
        arHeader(`data.tar${ext}`, dataSize, spec.mtime),
      ]);
      yield head;
      for await (const chunk of createReadStream(dataFile, { highWaterMark: CHUNK })) yield chunk as Buffer;
      if (dataSize % 2) yield Buffer.from('\n');
    }
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sha.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(Readable.from(container(), { highWaterMark: 2 }), hashing, createWriteStream(partFile));
    await rename(partFile, spec.outFile);
    return { file: spec.outFile, sha256: sha.digest('hex'), size };
  } finally {
    await rm(dataFile, { force: true });
    await rm(partFile, { force: true });
  }
}
