/**
 * Reads a .deb with our own ar and tar readers, as strictly as dpkg: the container (debian-binary
 * 2.x, then control.tar, then data.tar), a control file parsed by dpkg's rules (one paragraph, no
 * duplicate or computed fields), and both tar members decompressed to the end and walked entry
 * by entry — gzip, xz, zstd or uncompressed (xz and zstd through the system `xz`/`zstd`, since
 * Node 20 has neither). Nothing about a package is trusted before all of it was checked.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzip } from 'node:zlib';
import { type ArMember, listArMembers } from './ar.js';
import { fieldOf, parseControlFile } from './control-file.js';
import { readTar } from './tar.js';
import { verifyTarMember } from './verify-member.js';

/** What a .deb says about itself. */
export interface DebInfo {
  /** Control fields in file order, names as written (`Package`, `Version`, …). */
  fields: [string, string][];
  /** The raw control file. */
  control: string;
  sha256: string;
  size: number;
}

/** A control.tar inflating past this is refused (it holds a few small scripts and text files). */
const CONTROL_LIMIT = 64 << 20;

/** Decompresses a control.tar held in memory, bounded (argv only, no shell, for xz and zstd). */
async function decompressControl(name: string, data: Buffer): Promise<Buffer> {
  if (name.endsWith('.tar')) return data;
  if (name.endsWith('.tar.gz')) {
    return new Promise((resolve, reject) =>
      gunzip(data, { maxOutputLength: CONTROL_LIMIT }, (error, out) =>
        error ? reject(new Error(`${name} does not decompress: ${error.message}`)) : resolve(out),
      ),
    );
  }
  const command = name.endsWith('.tar.xz') ? 'xz' : name.endsWith('.tar.zst') ? 'zstd' : undefined;
  if (!command)
    throw new Error(`${name}: unsupported compression (expected .tar, .tar.gz, .tar.xz or .tar.zst)`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > CONTROL_LIMIT) child.kill('SIGKILL');
      else out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', (e) => reject(new Error(`cannot run ${command} to read the package: ${e.message}`)));
    child.on('close', (code) => {
      if (size > CONTROL_LIMIT) reject(new Error(`${name} inflates beyond ${CONTROL_LIMIT} bytes`));
      else if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${name} does not decompress: ${err.trim() || `${command} exited ${code}`}`));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(data);
  });
}

/** Hex SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/** Files up to this size are read once into memory (and handed to the caller to store). */
const SMALL = 16 << 20;

/**
 * Reads and checks a .deb. Throws a plain Error saying what is wrong. For a file of at most
 * 16 MiB, `bytes` holds its content (read once).
 */
export async function readDeb(file: string): Promise<DebInfo & { bytes?: Buffer }> {
  const handle = await open(file, 'r');
  let members: ArMember[];
  let controlData: Buffer;
  let size: number;
  let whole: Buffer | undefined;
  try {
    size = (await handle.stat()).size;
    if (size <= SMALL) whole = await handle.readFile();
    const read = async (position: number, length: number): Promise<Buffer> => {
      if (whole) return whole.subarray(position, position + length);
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buf, 0, length, position);
      return buf.subarray(0, bytesRead);
    };
    members = await listArMembers(read, whole?.length ?? size);
    const [binary, control, data] = members;
    if (binary?.name !== 'debian-binary') throw new Error('first member is not debian-binary');
    const version = await read(binary.offset, Math.min(binary.size, 16));
    if (!/^2\.[0-9]+\n/.test(version.toString('latin1'))) throw new Error('debian-binary is not 2.x');
    if (!control?.name.startsWith('control.tar')) throw new Error('second member is not control.tar');
    if (!data?.name.startsWith('data.tar')) throw new Error('third member is not data.tar');
    if (control.size > CONTROL_LIMIT) throw new Error('control.tar is implausibly large');
    if (data.size === 0) throw new Error(`${data.name} is empty`);
    controlData = await read(control.offset, control.size);
  } finally {
    await handle.close();
  }
  const [control, data] = [members[1]!, members[2]!];
  const entries = readTar(await decompressControl(control.name, controlData));
  const controlEntry = entries.find((e) => e.name === './control' || e.name === 'control');
  if (!controlEntry) throw new Error('control.tar has no control file');
  const fields = parseControlFile(controlEntry.data);
  for (const required of ['Package', 'Version', 'Architecture']) {
    if (!fieldOf(fields, required)) throw new Error(`control file has no ${required} field`);
  }
  await verifyTarMember(
    data.name,
    whole
      ? Readable.from([whole.subarray(data.offset, data.offset + data.size)])
      : createReadStream(file, {
          start: data.offset,
          end: data.offset + data.size - 1,
          highWaterMark: 1 << 20,
        }),
  );
  const sha256 = whole ? createHash('sha256').update(whole).digest('hex') : await sha256File(file);
  return {
    fields,
    control: controlEntry.data.toString('utf8'),
    sha256,
    size: whole?.length ?? size,
    ...(whole ? { bytes: whole } : {}),
  };
}
