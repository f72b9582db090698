/**
 * COPY text of /proc/PID/smaps (get_all_smaps) and /proc/PID/smaps_rollup (smap_summary), written from
 * the tokenizer's offsets (smaps-tokenizer.ts): the bytes of the values are copied straight from the
 * input to the output, with no per-mapping objects and no numbers. Sizes stay the kernel's decimal
 * text, so 64-bit values lose nothing.
 */
import type { Column } from "./columns.js";
import { escapeCopyText } from "./copy-text.js";
import { isProcessValueSource, type ProcessValueSource, type ProcessValues } from "./process-values.js";
import {
  CUT,
  END,
  HEADER,
  HEADER_TOKENS,
  KeyTable,
  SmapsTokenizer,
  T_END,
  T_INODE,
  T_MAJOR,
  T_MINOR,
  T_OFFSET,
  T_PATH,
  T_PERMS,
  T_START,
  VALUE,
} from "./smaps-tokenizer.js";

const NL = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const SPACE = 0x20;
const BACKSLASH = 0x5c;
const ZERO = 0x30;
const NINE = 0x39;

/** How a column is written. */
const EMIT_PID = 0;
const EMIT_TEXT = 1;
const EMIT_DIGITS = 2;
const EMIT_FLAGS = 3;
const EMIT_CONSTANT = 4;

/** Span slots: the header's tokens (smaps-tokenizer.ts) first, then the requested fields. */
const HEADER_SLOTS = HEADER_TOKENS;

/** Span start of a value that is absent (-1) or present but invalid (-2); both are written as NULL. */
const ABSENT = -1;
const INVALID = -2;

const MAX_BIGINT = Buffer.from("9223372036854775807");
const MAX_INTEGER = Buffer.from("2147483647");
const NULL_BYTES = Buffer.from("\\N");

const HEADER_SLOT: Record<string, number> = {
  start_address: T_START,
  end_address: T_END,
  permissions: T_PERMS,
  byte_offset: T_OFFSET,
  dev_major: T_MAJOR,
  dev_minor: T_MINOR,
  inode: T_INODE,
  sys_path: T_PATH,
};

interface FieldKey {
  slot: number;
  /** Largest value the column's type holds, or null for text (VmFlags). */
  max: Buffer | null;
}

interface Plan {
  emit: Uint8Array;
  slot: Int32Array;
  /** The per-process value of each EMIT_CONSTANT column (undefined for the others). */
  value: (ProcessValueSource | undefined)[];
  slots: number;
  /** The requested keys, in the order of `keys`. */
  table: KeyTable;
  keys: FieldKey[];
}

const plans = new WeakMap<readonly Column[], Plan>();

function compile(columns: readonly Column[]): Plan {
  const cached = plans.get(columns);
  if (cached !== undefined) return cached;
  const emit = new Uint8Array(columns.length);
  const slot = new Int32Array(columns.length).fill(-1);
  const value: (ProcessValueSource | undefined)[] = new Array(columns.length).fill(undefined);
  const keys: FieldKey[] = [];
  const names: string[] = [];
  const slotOfKey = new Map<string, number>();
  let slots = HEADER_SLOTS;
  columns.forEach((column, i) => {
    const max = column.type === "integer" ? MAX_INTEGER : column.type === "bigint" ? MAX_BIGINT : null;
    if (isProcessValueSource(column.source)) {
      emit[i] = EMIT_CONSTANT;
      value[i] = column.source;
      return;
    }
    switch (column.source) {
      case "pid":
        emit[i] = EMIT_PID;
        return;
      case "field": {
        const key = column.key ?? column.name;
        let s = slotOfKey.get(key);
        if (s === undefined) {
          s = slots++;
          slotOfKey.set(key, s);
          keys.push({ slot: s, max });
          names.push(key);
        }
        slot[i] = s;
        emit[i] = max === null ? EMIT_FLAGS : EMIT_DIGITS;
        return;
      }
      default: {
        const s = HEADER_SLOT[column.source];
        if (s === undefined) throw new Error(`column ${column.name} has no source in smaps`);
        slot[i] = s;
        emit[i] = s === T_INODE ? EMIT_DIGITS : EMIT_TEXT;
      }
    }
  });
  const plan: Plan = { emit, slot, value, slots, keys, table: new KeyTable(names) };
  plans.set(columns, plan);
  return plan;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** Whether the decimal digits buf[s..e) are at most max (also decimal digits). */
function fits(buf: Buffer, s: number, e: number, max: Buffer): boolean {
  while (s < e - 1 && buf[s] === ZERO) s++;
  const len = e - s;
  if (len !== max.length) return len < max.length;
  for (let i = 0; i < len; i++) {
    const a = buf[s + i] as number;
    const b = max[i] as number;
    if (a !== b) return a < b;
  }
  return true;
}

/** Growable output buffer; reusable, so that a reader thread does not allocate per file. */
export class Output {
  buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(size, 256));
  }

  /** Empties the buffer, keeping its memory. */
  reset(): void {
    this.pos = 0;
  }

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(c: number): void {
    this.reserve(1);
    this.buf[this.pos++] = c;
  }

  bytes(src: Buffer, s: number, e: number): void {
    this.reserve(e - s);
    // Buffer#copy costs a native call; most values are a few bytes, cheaper to move in JS.
    if (e - s > 32) {
      this.pos += src.copy(this.buf, this.pos, s, e);
      return;
    }
    const out = this.buf;
    let pos = this.pos;
    for (let i = s; i < e; i++) out[pos++] = src[i] as number;
    this.pos = pos;
  }

  string(s: string): void {
    const n = Buffer.byteLength(s);
    this.reserve(n);
    this.pos += this.buf.write(s, this.pos, n, "utf8");
  }

  /** Text from the input, escaped for COPY; bytes that are not valid UTF-8 become U+FFFD. */
  text(src: Buffer, s: number, e: number): void {
    for (let i = s; i < e; i++) {
      const c = src[i] as number;
      if (c >= 0x80 || c === BACKSLASH || c === TAB || c === CR) {
        this.string(escapeCopyText(src.toString("utf8", s, e)));
        return;
      }
    }
    this.bytes(src, s, e);
  }

  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Writes VmFlags with its flags separated by single spaces. */
function writeFlags(out: Output, buf: Buffer, s: number, e: number) {
  let first = true;
  let p = s;
  while (p < e) {
    while (p < e && (buf[p] === SPACE || buf[p] === TAB)) p++;
    const ts = p;
    while (p < e && buf[p] !== SPACE && buf[p] !== TAB) p++;
    if (ts === p) break;
    if (!first) out.byte(SPACE);
    out.text(buf, ts, p);
    first = false;
  }
}

function writeRow(
  out: Output,
  plan: Plan,
  buf: Buffer,
  spans: Int32Array,
  pid: Buffer,
  constants: (Buffer | null)[],
) {
  const { emit, slot } = plan;
  for (let i = 0; i < emit.length; i++) {
    if (i > 0) out.byte(TAB);
    const kind = emit[i];
    if (kind === EMIT_PID) {
      out.bytes(pid, 0, pid.length);
      continue;
    }
    if (kind === EMIT_CONSTANT) {
      const constant = constants[i] ?? null;
      if (constant === null) out.bytes(NULL_BYTES, 0, 2);
      else out.bytes(constant, 0, constant.length);
      continue;
    }
    const at = (slot[i] as number) * 2;
    const s = spans[at] as number;
    if (s < 0) {
      out.bytes(NULL_BYTES, 0, 2);
      continue;
    }
    const e = spans[at + 1] as number;
    if (kind === EMIT_DIGITS) out.bytes(buf, s, e);
    else if (kind === EMIT_FLAGS) writeFlags(out, buf, s, e);
    else out.text(buf, s, e);
  }
  out.byte(NL);
}

/**
 * Records the value of a requested field of the tokenizer's current line. A size is "<digits> kB";
 * anything else is NULL; a line cut short by the end of the input is ignored. When a field appears
 * twice in a mapping, the first one counts.
 */
function readField(t: SmapsTokenizer, key: FieldKey, spans: Int32Array): void {
  const at = key.slot * 2;
  if (spans[at] !== ABSENT) return;
  if (key.max === null) {
    if (t.text() === VALUE) {
      spans[at] = t.valueStart;
      spans[at + 1] = t.valueEnd;
    }
    return;
  }
  const found = t.size();
  if (found === VALUE && fits(t.buf, t.valueStart, t.valueEnd, key.max)) {
    spans[at] = t.valueStart;
    spans[at + 1] = t.valueEnd;
  } else if (found !== CUT) {
    spans[at] = INVALID;
  }
}

/** Takes the header's tokens as the first span slots; an inode that is not a bigint is NULL. */
function readHeader(t: SmapsTokenizer, spans: Int32Array): void {
  spans.fill(ABSENT);
  spans.set(t.tokens);
  const buf = t.buf;
  const is = spans[T_INODE * 2] as number;
  if (is < 0) return;
  const ie = spans[T_INODE * 2 + 1] as number;
  for (let i = is; i < ie; i++) {
    if (!isDigit(buf[i] as number)) {
      spans[T_INODE * 2] = INVALID;
      return;
    }
  }
  if (!fits(buf, is, ie, MAX_BIGINT)) spans[T_INODE * 2] = INVALID;
}

const tokenizer = new SmapsTokenizer();

/**
 * The shared scan: a header starts a record, the field lines after it fill it, and a record is
 * written when the next header or the end of the input comes. `single`: only the first record (the
 * rollup has one).
 */
function scan(
  out: Output,
  buf: Buffer,
  pid: number,
  columns: readonly Column[],
  values: ProcessValues,
  single: boolean,
) {
  const plan = compile(columns);
  const spans = new Int32Array(plan.slots * 2);
  const pidBytes = Buffer.from(String(pid));
  const constantBytes = plan.value.map((source) => {
    const text = source === undefined ? null : (values[source] ?? null);
    return text === null ? null : Buffer.from(text);
  });
  const t = tokenizer.reset(buf);
  let inRecord = false;
  for (let line = t.next(); line !== END; line = t.next()) {
    if (line === HEADER) {
      if (inRecord) {
        if (single) continue;
        writeRow(out, plan, buf, spans, pidBytes, constantBytes);
      }
      readHeader(t, spans);
      inRecord = true;
      continue;
    }
    if (!inRecord) continue;
    const index = plan.table.find(t);
    if (index !== -1) readField(t, plan.keys[index] as FieldKey, spans);
  }
  if (inRecord) writeRow(out, plan, buf, spans, pidBytes, constantBytes);
  t.reset(EMPTY);
}

const EMPTY = Buffer.alloc(0);
const NO_VALUES: ProcessValues = {};

/**
 * COPY text of one /proc/PID/smaps file: one line per mapping with the given smaps columns, in order.
 * Never throws on malformed input: what cannot be read is NULL.
 */
export function parseSmaps(buf: Buffer, pid: number, columns: readonly Column[]): Buffer {
  const out = new Output(buf.length);
  scan(out, buf, pid, columns, NO_VALUES, false);
  return out.result();
}

/** parseSmaps, appending to `out` instead of returning a new buffer. */
export function appendSmaps(out: Output, buf: Buffer, pid: number, columns: readonly Column[]): void {
  scan(out, buf, pid, columns, NO_VALUES, false);
}

/**
 * COPY text of one /proc/PID/smaps_rollup file: one line with the given summary columns, or an empty
 * buffer when the file has no header line. mem_size, oom_score and oom_score_adj are the process's
 * values (process-values.ts), NULL when absent.
 */
export function parseRollup(
  buf: Buffer,
  pid: number,
  columns: readonly Column[],
  values: ProcessValues = NO_VALUES,
): Buffer {
  const out = new Output(1024);
  scan(out, buf, pid, columns, values, true);
  return out.result();
}

/** parseRollup, appending to `out` instead of returning a new buffer. */
export function appendRollup(
  out: Output,
  buf: Buffer,
  pid: number,
  columns: readonly Column[],
  values: ProcessValues = NO_VALUES,
): void {
  scan(out, buf, pid, columns, values, true);
}
