import { CsvRecordReader } from "./csv-records.js";
import { LineSplitter } from "./line-splitter.js";
import { compileLinePrefix, type LinePrefixMatcher } from "./log-line-prefix.js";

/** The log destinations a dump can be read from (log_destination; syslog and eventlog are not files). */
export type LogDestination = "stderr" | "csvlog" | "jsonlog";

/** One server log record: who wrote it, its severity as logged, and its message text. */
export interface LogRecord {
  pid: number;
  severity: string;
  message: string;
}

/**
 * Turns the bytes appended to one log file into records, incrementally: a record split across chunks
 * comes out once it is complete. One reader per file: call end() when the file is finished (rotation).
 */
export interface RecordReader {
  push(chunk: Buffer): LogRecord[];
  /**
   * Records held back only because a continuation could still follow (stderr): called when the file
   * has no more bytes for now. PostgreSQL writes each record whole, so at the end of the data it is done.
   */
  flush(): LogRecord[];
  /** The file is finished: everything held, including an unfinished last line, comes out. */
  end(): LogRecord[];
  /** Bytes held for an unfinished record. */
  readonly buffered: number;
}

export interface RecordReaderOptions {
  /** log_line_prefix of the server; required for stderr. */
  linePrefix?: string;
  /** Longest record kept, in bytes (default 1 MiB); longer ones are skipped. */
  maxRecordBytes?: number;
}

const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

/**
 * stderr format: the prefix, `SEVERITY:  `, the message; further lines of the same record (a message
 * with newlines, DETAIL... are separate prefixed lines) start with a tab.
 */
export class StderrRecordReader implements RecordReader {
  private readonly lines: LineSplitter;
  private pending: LogRecord | undefined;

  constructor(
    private readonly matcher: LinePrefixMatcher,
    private readonly maxRecordBytes: number,
  ) {
    this.lines = new LineSplitter(maxRecordBytes);
  }

  get buffered(): number {
    return this.lines.buffered + (this.pending?.message.length ?? 0);
  }

  push(chunk: Buffer): LogRecord[] {
    const out: LogRecord[] = [];
    this.lines.push(chunk, (line) => this.line(line, out));
    return out;
  }

  flush(): LogRecord[] {
    const out: LogRecord[] = [];
    if (this.pending) out.push(this.pending);
    this.pending = undefined;
    return out;
  }

  end(): LogRecord[] {
    const out: LogRecord[] = [];
    this.lines.end((line) => this.line(line, out));
    out.push(...this.flush());
    return out;
  }

  private line(line: string, out: LogRecord[]): void {
    if (line.startsWith("\t")) {
      const pending = this.pending;
      if (pending && pending.message.length + line.length <= this.maxRecordBytes) {
        pending.message += `\n${line.slice(1)}`;
      }
      return;
    }
    if (this.pending) out.push(this.pending);
    this.pending = this.matcher.match(line);
  }
}

/** jsonlog (PostgreSQL 15+): one JSON object a line, with `pid`, `error_severity` and `message`. */
export class JsonRecordReader implements RecordReader {
  private readonly lines: LineSplitter;

  constructor(maxRecordBytes: number) {
    this.lines = new LineSplitter(maxRecordBytes);
  }

  get buffered(): number {
    return this.lines.buffered;
  }

  push(chunk: Buffer): LogRecord[] {
    const out: LogRecord[] = [];
    this.lines.push(chunk, (line) => JsonRecordReader.line(line, out));
    return out;
  }

  flush(): LogRecord[] {
    return [];
  }

  end(): LogRecord[] {
    const out: LogRecord[] = [];
    this.lines.end((line) => JsonRecordReader.line(line, out));
    return out;
  }

  private static line(line: string, out: LogRecord[]): void {
    if (!line.startsWith("{")) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof value !== "object" || value === null) return;
    const { pid, error_severity: severity, message } = value as Record<string, unknown>;
    if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0) return;
    if (typeof severity !== "string" || typeof message !== "string") return;
    out.push({ pid, severity, message });
  }
}

/** The reader of one destination's files. Throws LogFormatError for stderr with a prefix without %p. */
export function createRecordReader(
  destination: LogDestination,
  options: RecordReaderOptions = {},
): RecordReader {
  const max = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  switch (destination) {
    case "stderr":
      return new StderrRecordReader(compileLinePrefix(options.linePrefix ?? ""), max);
    case "csvlog":
      return new CsvRecordReader(max);
    case "jsonlog":
      return new JsonRecordReader(max);
  }
}
