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
  return records.map((r, i) => encodeLine(r, i < records.length - 1)).join('');
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
  const records: LedgerRecord[] = [];
  /** Records of an append whose closing line has not been read yet, and where it began. */
  let open: { records: LedgerRecord[]; offset: number } | undefined;
  let offset = 0;
  let line = firstLine;
  let expectedSeq = firstSeq;
  while (offset < bytes.length) {
    const newline = bytes.indexOf(10, offset);
    // No newline: the last write was cut short. Its bytes were never acknowledged.
    if (newline === -1) return torn(records, open?.offset ?? offset);
    const parsed = parseLine(bytes, offset, newline, expectedSeq);
    if (typeof parsed === 'string') {
      throw new RingmasterError('LEDGER', `${file}:${line}: ${parsed}; the journal is corrupt`, {
        scope: 'ledger',
        details: { file, line },
      });
    }
    open ??= { records: [], offset };
    open.records.push(parsed.record);
    if (!parsed.more) {
      records.push(...open.records);
      open = undefined;
    }
    expectedSeq++;
    offset = newline + 1;
    line++;
  }
  // An append whose closing line never made it to disk was never acknowledged either.
  return open ? torn(records, open.offset) : { records, validBytes: offset, tornTail: false };
}

function torn(records: LedgerRecord[], validBytes: number): DecodedJournal {
  return { records, validBytes, tornTail: true };
}

function parseLine(
  bytes: Buffer,
  start: number,
  end: number,
  expectedSeq: number,
): { record: LedgerRecord; more: boolean } | string {
  if (end - start < 10 || bytes[start + 8] !== 0x20) return 'malformed line (no checksum)';
  const sum = Number.parseInt(bytes.toString('latin1', start, start + 8), 16);
  // The checksum is over the JSON's bytes, so it is checked before any decoding.
  if (crc32(bytes.subarray(start + 9, end)) !== sum) return 'checksum mismatch';
  let value: LedgerRecord & { more?: boolean };
  try {
    value = JSON.parse(bytes.toString('utf8', start + 9, end)) as LedgerRecord & { more?: boolean };
  } catch {
    return 'invalid JSON';
  }
  if (value.seq !== expectedSeq) return `expected record ${expectedSeq}, found ${value.seq}`;
  const { more, ...record } = value;
  return { record, more: more === true };
}
