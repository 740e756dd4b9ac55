/**
 * The journal's line format: `<crc32 hex> <json>\n`, one record a line. The checksum tells a
 * torn last line (a crash mid-write: dropped) from corruption in the middle (start-up stops
 * with the file and line named: never a silent loss).
 */
import { crc32 } from 'node:zlib';
import type { LedgerRecord } from '../contracts/store.js';
import { RingmasterError } from '../errors.js';

export function encodeRecord(record: LedgerRecord): string {
  const json = JSON.stringify({ seq: record.seq, type: record.type, time: record.time, data: record.data });
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

export interface DecodedJournal {
  records: LedgerRecord[];
  /** Byte length of the valid prefix; anything after it is a torn tail to cut off. */
  validBytes: number;
  /** True when a torn last line was found (and ignored). */
  tornTail: boolean;
}

/**
 * Decodes journal bytes. `firstSeq` is the seq the first line must carry (records are numbered
 * without gaps). Throws `LEDGER` naming `file` and the line for corruption before the last line.
 */
export function decodeJournal(bytes: Buffer, file: string, firstSeq = 1, firstLine = 1): DecodedJournal {
  const records: LedgerRecord[] = [];
  let offset = 0;
  let line = firstLine;
  let expectedSeq = firstSeq;
  while (offset < bytes.length) {
    const newline = bytes.indexOf(10, offset);
    if (newline === -1) {
      // No newline: the last write was cut short. Its bytes were never acknowledged.
      return { records, validBytes: offset, tornTail: true };
    }
    const record = parseLine(bytes, offset, newline, expectedSeq);
    if (typeof record === 'string') {
      const isLast = newline === bytes.length - 1;
      if (isLast) return { records, validBytes: offset, tornTail: true };
      throw new RingmasterError(
        'LEDGER',
        `${file}:${line}: ${record}; the journal is corrupt before its end`,
        {
          scope: 'ledger',
          details: { file, line },
        },
      );
    }
    records.push(record);
    expectedSeq++;
    offset = newline + 1;
    line++;
  }
  return { records, validBytes: offset, tornTail: false };
}

function parseLine(bytes: Buffer, start: number, end: number, expectedSeq: number): LedgerRecord | string {
  if (end - start < 10 || bytes[start + 8] !== 0x20) return 'malformed line (no checksum)';
  const sum = Number.parseInt(bytes.toString('latin1', start, start + 8), 16);
  // The checksum is over the JSON's bytes, so it is checked before any decoding.
  if (crc32(bytes.subarray(start + 9, end)) !== sum) return 'checksum mismatch';
  let value: LedgerRecord;
  try {
    value = JSON.parse(bytes.toString('utf8', start + 9, end)) as LedgerRecord;
  } catch {
    return 'invalid JSON';
  }
  if (value.seq !== expectedSeq) return `expected record ${expectedSeq}, found ${value.seq}`;
  return value;
}
