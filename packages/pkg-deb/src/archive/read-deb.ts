/**
 * Reads a .deb with our own ar and tar readers: checks the container, extracts the control file
 * and verifies the data member decompresses (gzip's CRC catches corruption). Accepts what
 * dpkg-deb writes too: control.tar and data.tar compressed with gzip, xz, zstd or nothing (xz
 * and zstd through the system `xz`/`zstd` binaries, since Node 20 has neither).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gunzip, gunzipSync } from 'node:zlib';
import { type ArMember, listArMembers } from './ar.js';
import { readTar } from './tar.js';

/** What a .deb says about itself. */
export interface DebInfo {
  /** Control fields in file order, names as written (`Package`, `Version`, …). */
  fields: [string, string][];
  /** The raw control file. */
  control: string;
  sha256: string;
  size: number;
}

/** Runs a decompressor over a small buffer (argv only, no shell). */
function decompressWith(command: string, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', (e) => reject(new Error(`cannot run ${command} to read the package: ${e.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${command} -dc failed: ${err.trim()}`)),
    );
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

async function decompress(name: string, data: Buffer): Promise<Buffer> {
  if (name.endsWith('.gz')) return gunzipSync(data);
  if (name.endsWith('.xz')) return decompressWith('xz', data);
  if (name.endsWith('.zst')) return decompressWith('zstd', data);
  if (name.endsWith('.tar')) return data;
  throw new Error(`unsupported member ${name}`);
}

/** Parses one control stanza into ordered fields (continuation lines kept, with their newline). */
export function parseControl(text: string): [string, string][] {
  const fields: [string, string][] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = fields[fields.length - 1];
      if (!last) throw new Error('control file starts with a continuation line');
      last[1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed control line ${JSON.stringify(line.slice(0, 60))}`);
    fields.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return fields;
}

/** Hex SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/** Decompresses a gzip member to nowhere: throws if its CRC or length is wrong. */
async function verifyGzipMember(file: string, member: ArMember, whole: Buffer | undefined): Promise<void> {
  if (member.size === 0) throw new Error(`${member.name} is empty`);
  if (whole) {
    // One call on the thread pool; the output is bounded, and a member inflating beyond the
    // bound is checked again by streaming, so a small file that inflates hugely costs time, not memory.
    const slice = whole.subarray(member.offset, member.offset + member.size);
    const fits = await new Promise<boolean>((resolve, reject) =>
      gunzip(slice, { maxOutputLength: 64 << 20 }, (error) => {
        if (!error) resolve(true);
        else if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') resolve(false);
        else reject(error);
      }),
    );
    if (fits) return;
  }
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const source = whole
    ? Readable.from([whole.subarray(member.offset, member.offset + member.size)])
    : createReadStream(file, {
        start: member.offset,
        end: member.offset + member.size - 1,
        highWaterMark: 1 << 20,
      });
  await pipeline(source, createGunzip(), sink);
}

/** Files up to this size are read once into memory (and handed to the caller to store). */
const SMALL = 16 << 20;

/**
 * Reads and checks a .deb: the ar container, `debian-binary` 2.x, a control.tar with a control
 * file, a data.tar (fully decompressed when it is gzip). Throws a plain Error saying what is
 * wrong. For a file of at most 16 MiB, `bytes` holds its content (read once).
 */
export async function readDeb(file: string): Promise<DebInfo & { bytes?: Buffer }> {
  const handle = await open(file, 'r');
  let members: ArMember[];
  let controlMember: ArMember | undefined;
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
    if (control.size > 64 << 20) throw new Error('control.tar is implausibly large');
    controlMember = control;
    controlData = await read(control.offset, control.size);
  } finally {
    await handle.close();
  }
  const entries = readTar(await decompress(controlMember.name, controlData));
  const controlEntry = entries.find((e) => e.name === './control' || e.name === 'control');
  if (!controlEntry) throw new Error('control.tar has no control file');
  const control = controlEntry.data.toString('utf8');
  const fields = parseControl(control);
  for (const required of ['Package', 'Version', 'Architecture']) {
    if (!fields.some(([k]) => k === required)) throw new Error(`control file has no ${required} field`);
  }
  const data = members[2]!;
  if (data.name.endsWith('.gz')) await verifyGzipMember(file, data, whole);
  const sha256 = whole ? createHash('sha256').update(whole).digest('hex') : await sha256File(file);
  return { fields, control, sha256, size: whole?.length ?? size, ...(whole ? { bytes: whole } : {}) };
}
