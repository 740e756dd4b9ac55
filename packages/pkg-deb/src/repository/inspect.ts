/**
 * Reading a package for the repository, as strictly as `readDeb()` and faster on small ones. A
 * .deb of at most 1 MiB whose members are gzip or plain tar (what `deb()` and `dpkg-deb -Zgzip`
 * write) is checked in memory with the very same checks — the container, the control file by
 * dpkg's rules, both members decompressed to the end and walked header by header — but with
 * one-shot inflates instead of stream pipelines, whose setup costs some ten times the check of a
 * small package. Anything else (xz, zstd, a larger file, a member inflating past 8 MiB) goes to
 * `readDeb()`, which streams with bounded memory. Then the fields the repository relies on are
 * validated and the package's catalogue record is made.
 */
import { createHash } from 'node:crypto';
import { type BigIntStats, closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { RingmasterError } from '@ringmaster/core/adapter';
import { listArMembers } from '../archive/ar.js';
import { fieldOf, parseControlFile } from '../archive/control-file.js';
import { type DebInfo, readDeb } from '../archive/read-deb.js';
import { BLOCK, checksumOk, padding, readNumber, readTar } from '../archive/tar.js';
import { DEBIAN_PACKAGE_NAME } from '../control.js';
import { versionProblem } from '../version.js';
import { type PackageRecord, poolPath, renderStanza } from './records.js';

const SCOPE = 'pkg-deb';

/** Files up to this size are read at once and checked in memory. */
const IN_MEMORY = 1 << 20;
/** A member inflating past this is checked by `readDeb()`'s streaming reader instead. */
const INFLATE_LIMIT = 8 << 20;

/** What a package says about itself, with its bytes when they were read whole. */
export type PackageInfo = DebInfo & { bytes?: Buffer };

/** A file's size and stat (taken before it was read), and its bytes when it is at most 1 MiB. */
export interface SmallFile {
  size: number;
  info: BigIntStats;
  bytes?: Buffer;
}

/**
 * Stats `file` and reads it when it is small, synchronously: for a file of a few kilobytes the
 * promise API costs several times the read itself, and a read of at most 1 MiB blocks briefly.
 */
export function readSmallFile(file: string): SmallFile {
  const fd = openSync(file, 'r');
  try {
    const info = fstatSync(fd, { bigint: true });
    const size = Number(info.size);
    if (!info.isFile() || size > IN_MEMORY) return { size, info };
    const bytes = Buffer.allocUnsafe(size);
    let at = 0;
    // Each read moves forward; a file shrinking meanwhile ends the loop early (bytesRead 0).
    while (at < size) {
      const n = readSync(fd, bytes, at, size - at, at);
      if (n === 0) break;
      at += n;
    }
    return { size: at, info, bytes: at === size ? bytes : bytes.subarray(0, at) };
  } finally {
    closeSync(fd);
  }
}

/** The error `readDeb()` callers see for a member that does not decompress. */
class TooLarge extends Error {}

/** Inflates a gzip member, or says it is too large to check in memory. */
function inflate(name: string, data: Buffer): Buffer {
  try {
    return gunzipSync(data, { maxOutputLength: INFLATE_LIMIT });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new TooLarge();
    throw new Error(`${name} does not decompress: ${(error as Error).message}`);
  }
}

const ZERO_BLOCK = Buffer.alloc(BLOCK);

/**
 * Walks a whole tar archive as `verifyTarMember()` does: every header's checksum and size, the
 * end-of-archive marker, nothing but zeros after it, no entry cut short.
 */
function walkTar(name: string, tar: Buffer): void {
  let at = 0;
  let ended = false;
  let entries = 0;
  // Each turn consumes a header block and the data it announces.
  while (at + BLOCK <= tar.length) {
    const header = tar.subarray(at, at + BLOCK);
    at += BLOCK;
    if (header.equals(ZERO_BLOCK)) {
      ended = true;
      continue;
    }
    if (ended) throw new Error(`${name}: data after the end-of-archive marker`);
    if (!checksumOk(header)) throw new Error(`${name}: bad tar header checksum in entry ${entries + 1}`);
    const size = readNumber(header, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`${name}: bad size in entry ${entries + 1}`);
    entries++;
    at += size + padding(size);
  }
  if (at !== tar.length) throw new Error(`${name} is truncated inside an entry`);
  if (!ended) throw new Error(`${name} is truncated (no end-of-archive marker)`);
}

const plainOrGzip = (name: string) => name.endsWith('.tar') || name.endsWith('.tar.gz');

/** The in-memory check; undefined when the package is one for `readDeb()`. */
async function checkInMemory(bytes: Buffer): Promise<DebInfo | undefined> {
  const members = await listArMembers(async (at, n) => bytes.subarray(at, at + n), bytes.length);
  const [binary, control, data] = members;
  if (binary?.name !== 'debian-binary') throw new Error('first member is not debian-binary');
  const version = bytes.subarray(binary.offset, binary.offset + Math.min(binary.size, 16));
  if (!/^2\.[0-9]+\n/.test(version.toString('latin1'))) throw new Error('debian-binary is not 2.x');
  if (!control?.name.startsWith('control.tar')) throw new Error('second member is not control.tar');
  if (!data?.name.startsWith('data.tar')) throw new Error('third member is not data.tar');
  if (data.size === 0) throw new Error(`${data.name} is empty`);
  if (!plainOrGzip(control.name) || !plainOrGzip(data.name)) return undefined;
  const member = (m: typeof control) => bytes.subarray(m.offset, m.offset + m.size);
  try {
    const controlTar = control.name.endsWith('.gz')
      ? inflate(control.name, member(control))
      : member(control);
    const entries = readTar(controlTar);
    const controlEntry = entries.find((e) => e.name === './control' || e.name === 'control');
    if (!controlEntry) throw new Error('control.tar has no control file');
    const fields = parseControlFile(controlEntry.data);
    for (const required of ['Package', 'Version', 'Architecture']) {
      if (!fieldOf(fields, required)) throw new Error(`control file has no ${required} field`);
    }
    const dataTar = data.name.endsWith('.gz') ? inflate(data.name, member(data)) : member(data);
    try {
      walkTar(data.name, dataTar);
    } catch (error) {
      const message = (error as Error).message;
      throw new Error(message.includes(data.name) ? message : `${data.name} does not decompress: ${message}`);
    }
    return {
      fields,
      control: controlEntry.data.toString('utf8'),
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
    };
  } catch (error) {
    if (error instanceof TooLarge) return undefined;
    throw error;
  }
}

/**
 * Reads and checks the .deb at `file` (its bytes, when the caller read them already), or throws
 * `REPOSITORY` saying what is wrong and that the repository is unchanged.
 */
export async function readPackage(file: string, bytes?: Buffer): Promise<PackageInfo> {
  try {
    const info = bytes ? await checkInMemory(bytes) : undefined;
    if (info) return { ...info, bytes: bytes! };
    return await readDeb(file);
  } catch (error) {
    throw new RingmasterError(
      'REPOSITORY',
      `refusing ${file}: not a valid .deb (${(error as Error).message}); the repository is unchanged`,
      { scope: SCOPE, cause: error, details: { path: file } },
    );
  }
}

function splitRelations(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
}

/** What a repository indexes: its component and architectures. */
export interface RecordContext {
  component: string;
  architectures: readonly string[];
}

/**
 * The catalogue record of a checked package (without a stat key: see reindex.ts): its name and
 * version must be valid, its architecture one the repository indexes.
 */
export function packageRecord(file: string, info: PackageInfo, context: RecordContext): PackageRecord {
  const field = (k: string) => fieldOf(info.fields, k);
  const name = field('Package')!;
  const version = field('Version')!;
  const architecture = field('Architecture')!;
  const problem =
    versionProblem(version) ?? (DEBIAN_PACKAGE_NAME.test(name) ? undefined : 'invalid package name');
  if (problem) {
    throw new RingmasterError('REPOSITORY', `${file}: ${problem}; the repository is unchanged`, {
      scope: SCOPE,
      details: { path: file },
    });
  }
  if (architecture !== 'all' && !context.architectures.includes(architecture)) {
    throw new RingmasterError(
      'REPOSITORY',
      `${name} ${version} is for ${architecture}, which this repository does not index (${context.architectures.join(', ')}); add it to "architectures"`,
      { scope: SCOPE, details: { path: file } },
    );
  }
  const filename = poolPath(context.component, name, version, architecture);
  return {
    name,
    version,
    architecture,
    dependencies: [...splitRelations(field('Pre-Depends')), ...splitRelations(field('Depends'))],
    filename,
    sha256: info.sha256,
    size: info.size,
    stanza: renderStanza(info.fields, filename, info.size, info.sha256),
  };
}
