/**
 * The `ar` container of a .deb: an 8-byte magic, then members each with a 60-byte header
 * (name, mtime, uid, gid, mode, decimal size) and data padded to an even length with `\n`.
 */

export const AR_MAGIC = Buffer.from('!<arch>\n', 'latin1');
const HEADER = 60;

/** The 60-byte header of one member, written exactly as dpkg-deb writes it. */
export function arHeader(name: string, size: number, mtime: number): Buffer {
  const field = (value: string, width: number) => value.padEnd(width, ' ').slice(0, width);
  const text =
    field(name, 16) +
    field(String(mtime), 12) +
    field('0', 6) +
    field('0', 6) +
    field('100644', 8) +
    field(String(size), 10) +
    '`\n';
  return Buffer.from(text, 'latin1');
}

/** Reads `length` bytes at `position` (fewer at the end of the file). */
export type ByteReader = (position: number, length: number) => Promise<Buffer>;

/** One member located in an ar file. */
export interface ArMember {
  name: string;
  /** Offset of the member's data in the file. */
  offset: number;
  size: number;
}

/**
 * Lists the members of an ar file, checking every header and that the members account for the
 * whole file (a truncated or padded-out file is refused). Throws a plain Error saying what is
 * wrong; callers wrap it.
 */
export async function listArMembers(read: ByteReader, fileSize: number): Promise<ArMember[]> {
  const magic = await read(0, AR_MAGIC.length);
  if (!magic.equals(AR_MAGIC)) throw new Error('not an ar archive (bad magic)');
  const members: ArMember[] = [];
  let pos = AR_MAGIC.length;
  // Each member moves pos forward by at least 60 bytes; a .deb has a handful of members.
  while (pos < fileSize) {
    if (members.length >= 64) throw new Error('too many ar members for a .deb');
    if (pos + HEADER > fileSize) throw new Error(`truncated ar header at offset ${pos}`);
    const header = await read(pos, HEADER);
    if (header.length !== HEADER) throw new Error(`truncated ar header at offset ${pos}`);
    if (header[58] !== 0x60 || header[59] !== 0x0a) throw new Error(`bad ar header at offset ${pos}`);
    const name = header.toString('latin1', 0, 16).trimEnd().replace(/\/$/, '');
    const sizeText = header.toString('latin1', 48, 58).trim();
    if (!/^[0-9]+$/.test(sizeText)) throw new Error(`bad ar member size at offset ${pos}`);
    const size = Number(sizeText);
    const offset = pos + HEADER;
    if (offset + size > fileSize) {
      throw new Error(`ar member ${name} is truncated (needs ${size} bytes, file ends at ${fileSize})`);
    }
    members.push({ name, offset, size });
    pos = offset + size + (size % 2);
  }
  if (pos !== fileSize) throw new Error('ar archive is truncated (missing padding)');
  return members;
}
