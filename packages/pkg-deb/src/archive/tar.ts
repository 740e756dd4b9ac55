/**
 * A small tar writer and reader in the GNU format dpkg-deb itself produces: 512-byte headers,
 * `././@LongLink` records (`L` for names, `K` for link targets) beyond 100 bytes, base-256 sizes
 * beyond 8 GiB. The reader also understands pax `x` records, so it reads what other tools write.
 */

export const BLOCK = 512;

/** What a header describes. */
export interface TarHeader {
  /** Path as written in the archive, e.g. `./usr/bin/app` or `./usr/` for a directory. */
  name: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (0o7777). */
  mode: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname?: string;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
}

const TYPE_FLAG = { file: '0', dir: '5', symlink: '2' } as const;

/** Writes `value` (UTF-8) at `offset`, truncated to `length` bytes; returns the bytes written. */
function writeString(buf: Buffer, offset: number, length: number, value: string): number {
  // ASCII (numbers, magic, most names) is written in place, without a Buffer of its own.
  if (Buffer.byteLength(value, 'utf8') === value.length)
    return buf.write(value, offset, Math.min(value.length, length), 'latin1');
  return Buffer.from(value, 'utf8').copy(buf, offset, 0, length);
}

/** Octal, zero-padded, NUL-terminated; base-256 when the value does not fit (GNU extension). */
function writeNumber(buf: Buffer, offset: number, length: number, value: number): void {
  const octal = Math.floor(value).toString(8);
  if (octal.length <= length - 1) {
    buf.write(octal.padStart(length - 1, '0'), offset, length - 1, 'latin1');
    buf[offset + length - 1] = 0;
    return;
  }
  let rest = BigInt(Math.floor(value));
  for (let i = offset + length - 1; i > offset; i--) {
    buf[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  buf[offset] = 0x80;
}

/** The fields every header of ours shares unless told otherwise: uid, gid, magic, root:root. */
const TEMPLATE = (() => {
  const buf = Buffer.alloc(BLOCK);
  writeNumber(buf, 108, 8, 0);
  writeNumber(buf, 116, 8, 0);
  buf.fill(0x20, 148, 156);
  writeString(buf, 257, 8, 'ustar  \0');
  writeString(buf, 265, 32, 'root');
  writeString(buf, 297, 32, 'root');
  return buf;
})();

/**
 * One 512-byte header block at `at` in `buf`. `name` and `linkname` are cut at 100 bytes (a long
 * record before it holds the whole value).
 */
function rawHeader(
  buf: Buffer,
  at: number,
  name: string,
  typeflag: string,
  size: number,
  h: Omit<TarHeader, 'name' | 'type' | 'size' | 'linkname'>,
  linkname?: string,
): void {
  TEMPLATE.copy(buf, at);
  writeString(buf, at, 100, name);
  writeNumber(buf, at + 100, 8, h.mode);
  if (h.uid !== undefined) writeNumber(buf, at + 108, 8, h.uid);
  if (h.gid !== undefined) writeNumber(buf, at + 116, 8, h.gid);
  writeNumber(buf, at + 124, 12, size);
  writeNumber(buf, at + 136, 12, h.mtime);
  buf[at + 156] = typeflag.charCodeAt(0);
  if (linkname !== undefined) writeString(buf, at + 157, 100, linkname);
  if (h.uname !== undefined) writeString(buf, at + 265, 32, h.uname.padEnd(32, '\0'));
  if (h.gname !== undefined) writeString(buf, at + 297, 32, h.gname.padEnd(32, '\0'));
  let sum = 0;
  for (let i = at; i < at + BLOCK; i++) sum += buf[i]!;
  buf.write(sum.toString(8).padStart(6, '0'), at + 148, 6, 'latin1');
  buf[at + 154] = 0;
  buf[at + 155] = 0x20;
}

/** The bytes of a name or link target in a GNU long record (`L`, `K`): the value and its NUL, padded. */
function recordSize(value: string): number {
  const length = Buffer.byteLength(value, 'utf8');
  return length > 100 ? BLOCK + length + 1 + padding(length + 1) : 0;
}

/** A GNU long-name record (`L` or `K`) at `at`, followed by its padded data; returns its size. */
function longRecord(buf: Buffer, at: number, kind: 'L' | 'K', value: string): number {
  const size = recordSize(value);
  const length = size - BLOCK;
  buf.fill(0, at + BLOCK, at + size);
  writeString(buf, at + BLOCK, length, value);
  const dataLength = Buffer.byteLength(value, 'utf8') + 1;
  rawHeader(buf, at, '././@LongLink', kind, dataLength, { mode: 0o644, mtime: 0 });
  return size;
}

/** Zero bytes needed after `size` bytes of data to reach a block boundary. */
export function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** The bytes `tarHeader` writes for an entry named `name` (and linking to `linkname`). */
export function tarHeaderSize(name: string, linkname?: string): number {
  return BLOCK + recordSize(name) + (linkname === undefined ? 0 : recordSize(linkname));
}

/**
 * Writes the header block(s) of one entry, long-name records included, at `at` in `buf`, which
 * must have `tarHeaderSize(name, linkname)` bytes there; returns that size. The caller writes the
 * entry's data and then `padding(size)` zero bytes.
 */
export function writeTarHeader(buf: Buffer, at: number, header: TarHeader): number {
  let pos = at;
  if (header.linkname !== undefined && recordSize(header.linkname) > 0)
    pos += longRecord(buf, pos, 'K', header.linkname);
  if (recordSize(header.name) > 0) pos += longRecord(buf, pos, 'L', header.name);
  const size = header.type === 'file' ? header.size : 0;
  rawHeader(buf, pos, header.name, TYPE_FLAG[header.type], size, header, header.linkname);
  return pos + BLOCK - at;
}

/** The header block(s) of one entry in a Buffer of their own (see `writeTarHeader`). */
export function tarHeader(header: TarHeader): Buffer {
  const buf = Buffer.allocUnsafe(tarHeaderSize(header.name, header.linkname));
  writeTarHeader(buf, 0, header);
  return buf;
}

/** The end-of-archive marker: two zero blocks. */
export function tarEnd(): Buffer {
  return Buffer.alloc(BLOCK * 2);
}

/** One entry read back from an archive held in memory. */
export interface TarEntry {
  name: string;
  typeflag: string;
  mode: number;
  size: number;
  linkname: string;
  data: Buffer;
}

function readString(buf: Buffer, offset: number, length: number): string {
  const slice = buf.subarray(offset, offset + length);
  const end = slice.indexOf(0);
  return slice.subarray(0, end < 0 ? length : end).toString('utf8');
}

export function readNumber(buf: Buffer, offset: number, length: number): number {
  if ((buf[offset]! & 0x80) !== 0) {
    let value = 0n;
    for (let i = offset + 1; i < offset + length; i++) value = (value << 8n) | BigInt(buf[i]!);
    return Number(value);
  }
  const text = readString(buf, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`bad octal number ${JSON.stringify(text)} in tar header`);
  return Number.parseInt(text, 8);
}

/** Parses pax `x` record data (`<len> key=value\n` …). */
function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const length = Number.parseInt(data.subarray(pos, space).toString('ascii'), 10);
    if (!Number.isFinite(length) || length <= 0) throw new Error('malformed pax header');
    const record = data.subarray(space + 1, pos + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += length;
  }
  return out;
}

/** True when a header block's stored checksum matches its bytes (the checksum field read as spaces). */
export function checksumOk(header: Buffer): boolean {
  const stored = readNumber(header, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum === stored;
}

/**
 * Reads every entry of a tar archive held in memory (a control.tar is a few kilobytes). Throws
 * on a bad checksum or a truncated archive.
 */
export function readTar(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let pos = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  // Each iteration consumes at least one block, so the loop ends with the buffer.
  while (pos + BLOCK <= archive.length) {
    const header = archive.subarray(pos, pos + BLOCK);
    if (header.every((b) => b === 0)) return entries;
    if (!checksumOk(header)) throw new Error(`bad tar header checksum at offset ${pos}`);
    const typeflag = String.fromCharCode(header[156]!) || '0';
    const size = readNumber(header, 124, 12);
    const dataStart = pos + BLOCK;
    if (dataStart + size > archive.length) throw new Error('tar archive is truncated');
    const data = archive.subarray(dataStart, dataStart + size);
    pos = dataStart + size + padding(size);
    if (typeflag === 'L') {
      longName = readString(data, 0, data.length);
      continue;
    }
    if (typeflag === 'K') {
      longLink = readString(data, 0, data.length);
      continue;
    }
    if (typeflag === 'x') {
      pax = parsePax(data);
      continue;
    }
    if (typeflag === 'g') continue;
    const prefix =
      header.subarray(257, 263).toString('latin1') === 'ustar\0' ? readString(header, 345, 155) : '';
    const shortName = readString(header, 0, 100);
    entries.push({
      name: pax.path ?? longName ?? (prefix ? `${prefix}/${shortName}` : shortName),
      typeflag: typeflag === '\0' ? '0' : typeflag,
      mode: readNumber(header, 100, 8),
      size,
      linkname: pax.linkpath ?? longLink ?? readString(header, 157, 100),
      data,
    });
    longName = undefined;
    longLink = undefined;
    pax = {};
  }
  throw new Error('tar archive is truncated (no end-of-archive marker)');
}
