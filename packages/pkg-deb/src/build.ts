/**
 * Builds a .deb from a file tree, streaming: data.tar is compressed straight to a temporary file
 * while each file's MD5 is taken (gzip on the thread pool; xz and zstd in a child process that
 * writes the file itself, compressing while the tar is read), then the ar container
 * (debian-binary, control.tar, data.tar) is written and renamed into place. Only the small
 * control.tar is held in memory. control.tar uses data.tar's compressor, as dpkg-deb's uniform
 * compression does; an external one is started with the build (control.tar's size is known
 * before its MD5s are), so that it compresses while data.tar's compressor finishes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { AR_MAGIC, arHeader } from './archive/ar.js';
import {
  type Compressing,
  type Compression,
  compressStream,
  type ExternalCompressor,
  findCompressor,
  MEMBER_SUFFIX,
  type ReadyCompressor,
  startCompressor,
} from './archive/compress.js';
import { type ChunkOptions, type ChunkSink, dataTarSize, writeDataTar } from './archive/data-tar.js';
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
  compression: Compression;
  /** The compressor's level (ignored for none). */
  level: number;
  /** The xz or zstd binary, when the caller has found it already (else it is looked up on PATH). */
  compressor?: ExternalCompressor;
  outFile: string;
}

export interface BuildResult {
  file: string;
  sha256: string;
  size: number;
}

/** The data.tar chunks: 256 KiB into a compressor's pipe, 1 MiB blocks into the in-process gzip. */
const PIPE_CHUNKS = { size: 256 << 10, count: 8, reuse: true };
const GZIP_CHUNKS = { size: 1 << 20, count: 4, reuse: false };
const FILE_CHUNKS = { size: 1 << 20, count: 2, reuse: true };
/** The container is copied through one buffer of this size. */
const COPY = 1 << 20;

/** One file of control.tar. */
interface ControlTarFile {
  name: string;
  content: string;
  mode: number;
}

/** What stands for each MD5 when control.tar's size is taken before the data is read. */
const PLACEHOLDER_MD5 = '0'.repeat(32);

/** control.tar in memory: control, md5sums, conffiles and the maintainer scripts. */
function controlTar(files: ControlTarFile[], mtime: number): Buffer {
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

/** A Writable as a chunk sink: a chunk is done once the stream has taken it. */
const writableSink = (stream: Writable): ChunkSink => ({
  write: (bytes, done) => {
    stream.write(bytes, done);
  },
});

/**
 * Writes data.tar, compressed, to `dataFile`, recording each file's MD5 into `md5s`. Resolves
 * once the tar is written; an external compressor may still be compressing its last blocks then,
 * and is returned to be awaited.
 */
async function writeData(
  spec: BuildSpec,
  external: ExternalCompressor | undefined,
  md5s: Map<string, string>,
  dataFile: string,
): Promise<Compressing | undefined> {
  const tar = (sink: ChunkSink, chunks: ChunkOptions) =>
    writeDataTar(spec.entries, spec.mtime, md5s, sink, chunks);
  if (external) {
    // The child writes the file through its own copy of the descriptor.
    const handle = await open(dataFile, 'w');
    try {
      const size = dataTarSize(spec.entries);
      return await compressStream(external, size, (sink) => tar(sink, PIPE_CHUNKS), handle.fd);
    } finally {
      await handle.close();
    }
  }
  const file = createWriteStream(dataFile);
  const gzip = spec.compression === 'gzip' ? new ParallelGzip(spec.level) : undefined;
  const head: Writable = gzip ?? file;
  const written = gzip ? pipeline(gzip, file) : finished(file);
  written.catch(() => {}); // awaited below, after the tar (whose failure comes first)
  try {
    await tar(writableSink(head), spec.compression === 'gzip' ? GZIP_CHUNKS : FILE_CHUNKS);
  } catch (error) {
    head.destroy();
    await written.catch(() => {});
    throw error;
  }
  head.end();
  await written;
  return undefined;
}

/** The files of control.tar; `md5` gives each packaged file's MD5 (32 hex digits). */
function controlFiles(spec: BuildSpec, md5: (path: string) => string): ControlTarFile[] {
  const conffileSet = new Set(spec.conffiles);
  const md5sums = spec.entries
    .filter((e) => e.type === 'file' && !conffileSet.has(`/${e.path}`))
    .map((e) => `${md5(e.path)}  ${e.path}\n`)
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
  return files;
}

/** control.tar compressed as data.tar is: by the compressor started for it, or in-process. */
async function compressControl(
  spec: BuildSpec,
  ready: ReadyCompressor | undefined,
  raw: Buffer,
): Promise<Buffer> {
  if (ready) return ready.compress(raw);
  return spec.compression === 'gzip' ? gzipSync(raw, { level: spec.level }) : raw;
}

/** Builds the package file; returns its path, SHA-256 and size. */
export async function buildDeb(spec: BuildSpec): Promise<BuildResult> {
  // A missing xz or zstd is reported before anything is written.
  const external = spec.compressor ?? (await findCompressor(spec.compression, spec.level));
  const suffix = `${process.pid}.${randomBytes(4).toString('hex')}`;
  const dataFile = `${spec.outFile}.data.${suffix}.tmp`;
  const partFile = `${spec.outFile}.${suffix}.tmp`;
  await mkdir(join(spec.outFile, '..'), { recursive: true });
  let ready: ReadyCompressor | undefined;
  let compressing: Compressing | undefined;
  try {
    // control.tar's size is known before the data is read (an MD5 is 32 hex digits), so its
    // compressor is started now and is ready when the md5sums are.
    const controlSize = controlTar(
      controlFiles(spec, () => PLACEHOLDER_MD5),
      spec.mtime,
    ).length;
    ready = external ? startCompressor(external, controlSize) : undefined;
    const md5s = new Map<string, string>();
    compressing = await writeData(spec, external, md5s, dataFile);

    // control.tar is compressed while the data's compressor finishes its last blocks.
    const controlRaw = controlTar(
      controlFiles(spec, (path) => md5s.get(path)!),
      spec.mtime,
    );
    const ext = MEMBER_SUFFIX[spec.compression];
    const control = await compressControl(spec, ready, controlRaw);
    await compressing?.exited;
    compressing = undefined;
    const dataSize = (await stat(dataFile)).size;

    const head = Buffer.concat([
      AR_MAGIC,
      arHeader('debian-binary', 4, spec.mtime),
      Buffer.from('2.0\n'),
      arHeader(`control.tar${ext}`, control.length, spec.mtime),
      control,
      Buffer.alloc(control.length % 2, 0x0a),
      arHeader(`data.tar${ext}`, dataSize, spec.mtime),
    ]);
    const sha = createHash('sha256').update(head);
    let size = head.length;
    const [data, part] = await Promise.all([open(dataFile, 'r'), open(partFile, 'w')]);
    // Every byte or an error: a write may take less than asked (a filling disk), and a short last
    // write must not leave a .deb whose sha256 and size describe bytes it does not hold.
    const writeAll = async (bytes: Buffer): Promise<void> => {
      for (let done = 0; done < bytes.length; ) {
        const { bytesWritten } = await part.write(bytes, done, bytes.length - done);
        if (bytesWritten <= 0) {
          throw Object.assign(new Error(`ENOSPC: ${partFile} took ${done} of ${bytes.length} bytes`), {
            code: 'ENOSPC',
          });
        }
        done += bytesWritten;
      }
    };
    // A read or write in flight may fail while the other is awaited: handled, then awaited in turn.
    const inFlight = <T>(promise: Promise<T>): Promise<T> => {
      promise.catch(() => {});
      return promise;
    };
    try {
      let writing = inFlight(writeAll(head));
      // Three buffers in turn: one is read into while the one before is hashed and written.
      const buffers = [0, 1, 2].map(() => Buffer.allocUnsafeSlow(COPY));
      const readAt = (i: number, at: number) =>
        inFlight(
          data.read(buffers[i % 3]!, 0, Math.min(COPY, dataSize - at), at).then(({ bytesRead }) => {
            if (bytesRead === 0) throw new Error(`${dataFile} is shorter than ${dataSize} bytes`);
            return buffers[i % 3]!.subarray(0, bytesRead);
          }),
        );
      let reading = dataSize > 0 ? readAt(0, 0) : undefined;
      for (let i = 0, at = 0; reading; i++) {
        const piece = await reading;
        at += piece.length;
        reading = at < dataSize ? readAt(i + 1, at) : undefined;
        sha.update(piece);
        await writing;
        writing = inFlight(writeAll(piece));
        size += piece.length;
      }
      if (dataSize % 2) {
        const pad = Buffer.from('\n');
        sha.update(pad);
        await writing;
        writing = inFlight(writeAll(pad));
        size += 1;
      }
      await writing;
    } finally {
      await Promise.all([data.close(), part.close()]);
    }
    await rename(partFile, spec.outFile);
    return { file: spec.outFile, sha256: sha.digest('hex'), size };
  } finally {
    await compressing?.kill();
    await ready?.kill();
    await rm(dataFile, { force: true });
    await rm(partFile, { force: true });
  }
}
