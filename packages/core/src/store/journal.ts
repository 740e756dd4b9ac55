/**
 * The journal's line format: `<crc32 hex> <json>\n`, one record a line. An append of several
 * records marks every line but its last with `"more":true`, so an append is all or nothing even
 * when a crash cuts its write short between two of its lines.
 *
 * What counts as a torn tail (a crash mid-write: never acknowledged, dropped) is decided by
 * structure alone: a last line without its newline, or an append whose closing line is missing.
 * A complete line whose checksum or content is wrong is corruption wherever it is, the last
 * line included: start-up stops naming the file and line, never a silent loss.
 */
import { crc32 } from 'node:zlib';
import type { LedgerRecord } from '../contracts/store.js';
import { RingmasterError } from '../errors.js';

/** Encodes one append: its records as lines, all but the last marked as continued. */
export function encodeAppend(records: readonly LedgerRecord[]): string {
  return encodeLines(records).join('');
}

/** One append's lines, each with its newline: all but the last marked as continued. */
export function encodeLines(records: readonly LedgerRecord[]): string[] {
  return records.map((r, i) => encodeLine(r, i < records.length - 1));
}

function encodeLine(record: LedgerRecord, more: boolean): string {
  const json = recordJson(record, more);
  return `${checksumOf(json)} ${json}\n`;
}

function recordJson(record: LedgerRecord, more = false): string {
  return JSON.stringify({
    seq: record.seq,
    type: record.type,
    time: record.time,
    data: record.data,
    ...(more ? { more: true } : {}),
  });
}

const checksumOf = (json: string) => crc32(json).toString(16).padStart(8, '0');

/**
 * A record's canonical text and its checksum (crc32, 8 hex digits): what a journal line holds
 * for a record that ends its append, and what a database store keeps beside each row. Copying a
 * ledger between stores keeps both, so `ledger verify` can compare them.
 */
export function encodeRecord(record: LedgerRecord): { json: string; checksum: string } {
  const json = recordJson(record);
  return { json, checksum: checksumOf(json) };
}

/**
 * Reads a record back from its canonical text, checking its checksum and seq; returns what is
 * wrong with it as a string.
 */
export function decodeRecord(json: string, checksum: string, expectedSeq: number): LedgerRecord | string {
  if (checksumOf(json) !== checksum) return 'checksum mismatch';
  let value: LedgerRecord;
  try {
    value = JSON.parse(json) as LedgerRecord;
  } catch {
    return 'invalid JSON';
  }
  if (value.seq !== expectedSeq) return `expected record ${expectedSeq}, found ${value.seq}`;
  return value;
}

export interface DecodedJournal {
  records: LedgerRecord[];
  /** Byte length of the valid prefix; anything after it is a torn tail to cut off. */
  validBytes: number;
  /** True when a torn tail was found (and ignored). */
  tornTail: boolean;
}

/**
 * Decodes journal bytes. `firstSeq` is the seq the first line must carry (records are numbered
 * without gaps). Throws `LEDGER` naming `file` and the line for any complete line that is not a
 * valid record.
 */
export function decodeJournal(bytes: Buffer, file: string, firstSeq = 1, firstLine = 1): DecodedJournal {
  const { records, validBytes } = decodeAppends(bytes, file, firstSeq, firstLine, true);
  return { records, validBytes, tornTail: validBytes < bytes.length };
}

export interface DecodedAppends {
  records: LedgerRecord[];
  /** Where each record's line starts in the bytes given. */
  starts: number[];
  /** Byte length of the whole appends decoded: what follows is an unfinished append. */
  validBytes: number;
  /** How many of `records` the last whole append holds. */
  lastAppend: number;
  /** Not strict: the complete line decoding stopped at, not a valid record, and why. */
  problem?: { line: number; reason: string };
}

/**
 * Decodes the whole appends at the start of `bytes` (a journal from some line on, or a chunk of
 * it), stopping before the first unfinished one: the bytes end inside it (a torn tail at the end
 * of the file, or just the end of a chunk), or at the first append boundary past `maxBytes`. A
 * complete line that is not a valid record throws `LEDGER` naming `file` and the line; not
 * `strict`, decoding stops there and says why.
 */
export function decodeAppends(
  bytes: Buffer,
  file: string,
  firstSeq: number,
  firstLine: number,
  strict: boolean,
  maxBytes = Number.POSITIVE_INFINITY,
): DecodedAppends {
  const records: LedgerRecord[] = [];
  const starts: number[] = [];
  let validBytes = 0;
  let lastAppend = 0;
  /** Where the append whose closing line has not been read yet began: its first record, its first byte. */
  let open: { at: number; offset: number } | undefined;
  let offset = 0;
  let line = firstLine;
  let expectedSeq = firstSeq;
  while (offset < bytes.length) {
    const newline = bytes.indexOf(10, offset);
    // No newline: the last write was cut short (or the chunk ends here).
    if (newline === -1) break;
    const parsed = parseLine(bytes, offset, newline, expectedSeq);
    if (typeof parsed === 'string') {
      if (!strict) {
        records.length = starts.length = open?.at ?? records.length;
        return { records, starts, validBytes, lastAppend, problem: { line, reason: parsed } };
      }
      throw new RingmasterError('LEDGER', `${file}:${line}: ${parsed}; the journal is corrupt`, {
        scope: 'ledger',
        details: { file, line },
      });
    }
    open ??= { at: records.length, offset };
    records.push(parsed.record);
    starts.push(offset);
    offset = newline + 1;
    expectedSeq++;
    line++;
    if (!parsed.more) {
      lastAppend = records.length - open.at;
      validBytes = offset;
      open = undefined;
      if (offset >= maxBytes) break;
    }
  }
  // An append whose closing line is not (yet) there was never acknowledged.
  if (open) records.length = starts.length = open.at;
  return { records, starts, validBytes, lastAppend };
}

function parseLine(
  bytes: Buffer,
  start: number,
  end: number,
  expectedSeq: number,
): { record: LedgerRecord; more: boolean } | string {
  if (end - start < 10 || bytes[start + 8] !== 0x20) return 'malformed line (no checksum)';
  const json = bytes.toString('utf8', start + 9, end);
  // The checksum is over the JSON's bytes: checked on the text's UTF-8, which is those bytes
  // exactly (bytes that are not valid UTF-8, which the journal never holds, fail it), before
  // the text is parsed.
  if (crc32(json) !== hex8(bytes, start)) return 'checksum mismatch';
  let value: LedgerRecord & { more?: boolean };
  try {
    value = JSON.parse(json) as LedgerRecord & { more?: boolean };
  } catch {
    return 'invalid JSON';
  }
  if (value.seq !== expectedSeq) return `expected record ${expectedSeq}, found ${value.seq}`;
  if (value.more === undefined) return { record: value, more: false };
  const more = value.more === true;
  // The last key JSON.stringify wrote: deleting it leaves the object as it was built (fast).
  delete value.more;
  return { record: value, more };
}

/**
 * The 8 hex digits at `start` as a number (NaN if any is not one), read in place: this runs for
 * every line of the journal.
 */
function hex8(bytes: Buffer, start: number): number {
  let sum = 0;
  for (let i = start; i < start + 8; i++) {
    const c = bytes[i]!;
    const digit =
      c >= 0x30 && c <= 0x39
        ? c - 0x30
        : c >= 0x61 && c <= 0x66
          ? c - 0x57
          : c >= 0x41 && c <= 0x46
            ? c - 0x37
            : -1;
    if (digit < 0) return Number.NaN;
    sum = sum * 16 + digit;
  }
  return sum;
}
