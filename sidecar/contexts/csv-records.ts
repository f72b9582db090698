import { BoundedBytes } from "./bounded-bytes.js";
import type { LogRecord, RecordReader } from "./log-records.js";

/**
 * csvlog columns (elog.c write_csvlog(); the same first fourteen on PostgreSQL 13 to 18, later ones
 * appended: backend_type in 13, leader_pid and query_id in 14): 0 log_time, 1 user_name,
 * 2 database_name, 3 process_id, ..., 11 error_severity, 12 sql_state_code, 13 message, ...
 */
const PID_FIELD = 3;
const SEVERITY_FIELD = 11;
const MESSAGE_FIELD = 13;

/** The first `count` fields of one RFC 4180 record (quoted fields may hold commas, quotes, newlines). */
export function csvFields(record: string, count: number): string[] {
  const fields: string[] = [];
  let i = 0;
  while (fields.length < count && i <= record.length) {
    if (record[i] === '"') {
      let value = "";
      let from = i + 1;
      for (;;) {
        const quote = record.indexOf('"', from);
        if (quote < 0) {
          value += record.slice(from);
          i = record.length;
          break;
        }
        value += record.slice(from, quote);
        if (record[quote + 1] === '"') {
          value += '"';
          from = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      fields.push(value);
      // Skip to the comma after the closing quote.
      const comma = record.indexOf(",", i);
      i = comma < 0 ? record.length + 1 : comma + 1;
    } else {
      const comma = record.indexOf(",", i);
      const end = comma < 0 ? record.length : comma;
      fields.push(record.slice(i, end));
      i = end + 1;
    }
  }
  return fields;
}

/**
 * Incremental csvlog reader: a record ends at a newline outside quotes, so it may span lines and
 * chunks. Holds at most `maxRecordBytes` of an unfinished record; a longer record is skipped whole.
 */
export class CsvRecordReader implements RecordReader {
  private readonly held: BoundedBytes;
  private inQuotes = false;

  constructor(maxRecordBytes: number) {
    this.held = new BoundedBytes(maxRecordBytes);
  }

  /** Records skipped for being longer than maxRecordBytes. */
  get droppedRecords(): number {
    return this.held.dropped;
  }

  get buffered(): number {
    return this.held.length;
  }

  push(chunk: Buffer): LogRecord[] {
    const out: LogRecord[] = [];
    let start = 0;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.inQuotes) {
        const quote = chunk.indexOf(0x22, pos);
        if (quote < 0) break;
        this.inQuotes = false;
        pos = quote + 1;
        continue;
      }
      const quote = chunk.indexOf(0x22, pos);
      const nl = chunk.indexOf(0x0a, pos);
      if (nl < 0 && quote < 0) break;
      if (quote >= 0 && (nl < 0 || quote < nl)) {
        this.inQuotes = true;
        pos = quote + 1;
        continue;
      }
      this.finish(chunk.subarray(start, nl), out);
      start = nl + 1;
      pos = start;
    }
    if (start < chunk.length) this.held.add(chunk.subarray(start));
    return out;
  }

  /** Records end at their newline: nothing is held back between chunks except an unfinished record. */
  flush(): LogRecord[] {
    return [];
  }

  end(): LogRecord[] {
    const out: LogRecord[] = [];
    if (this.held.holding) this.finish(Buffer.alloc(0), out);
    this.inQuotes = false;
    return out;
  }

  private finish(tail: Buffer, out: LogRecord[]): void {
    const bytes = this.held.take(tail);
    if (!bytes) return;
    const fields = csvFields(bytes.toString("utf8"), MESSAGE_FIELD + 1);
    const pid = fields[PID_FIELD];
    const severity = fields[SEVERITY_FIELD];
    const message = fields[MESSAGE_FIELD];
    if (pid === undefined || !/^\d{1,10}$/.test(pid) || severity === undefined || message === undefined)
      return;
    out.push({ pid: Number(pid), severity, message });
  }
}
