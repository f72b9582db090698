/**
 * Byte-level parser of /proc/PID/smaps and /proc/PID/smaps_rollup into COPY text.
 *
 * It scans the Buffer once, keeps only (start, end) offsets of the current mapping's values in typed
 * arrays and copies bytes straight from the input to the output: no per-mapping objects, no numbers,
 * no regular expressions. Sizes stay the kernel's decimal text, so 64-bit values lose nothing.
 */
import type { Column } from "./columns.js";
import { escapeCopyText } from "./copy-text.js";

const NL = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const SPACE = 0x20;
const COLON = 0x3a;
const DASH = 0x2d;
const BACKSLASH = 0x5c;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_K = 0x6b;
const UPPER_B = 0x42;

/** How a column is written. */
const EMIT_PID = 0;
const EMIT_TEXT = 1;
const EMIT_DIGITS = 2;
const EMIT_FLAGS = 3;
const EMIT_CONSTANT = 4;

/** Span slots of the header line; the requested fields take the slots after these. */
const SLOT_START = 0;
const SLOT_END = 1;
const SLOT_PERMS = 2;
const SLOT_OFFSET = 3;
const SLOT_MAJOR = 4;
const SLOT_MINOR = 5;
const SLOT_INODE = 6;
const SLOT_PATH = 7;
const HEADER_SLOTS = 8;
/** The space-separated header tokens after the address range, in order. */
const TOKEN_SLOTS = [SLOT_PERMS, SLOT_OFFSET, SLOT_MAJOR, SLOT_INODE] as const;

/** Span start of a value that is absent (-1) or present but invalid (-2); both are written as NULL. */
const ABSENT = -1;
const INVALID = -2;

const MAX_BIGINT = Buffer.from("9223372036854775807");
const MAX_INTEGER = Buffer.from("2147483647");
const NULL_BYTES = Buffer.from("\\N");

const HEADER_SLOT: Record<string, number> = {
  start_address: SLOT_START,
  end_address: SLOT_END,
  permissions: SLOT_PERMS,
  byte_offset: SLOT_OFFSET,
  dev_major: SLOT_MAJOR,
  dev_minor: SLOT_MINOR,
  inode: SLOT_INODE,
  sys_path: SLOT_PATH,
};

interface FieldKey {
  bytes: Buffer;
  slot: number;
  /** Largest value the column's type holds, or null for text (VmFlags). */
  max: Buffer | null;
}

interface Plan {
  emit: Uint8Array;
  slot: Int32Array;
  slots: number;
  /** The requested keys. */
  keys: FieldKey[];
  /** Open-addressing table: (hash of a key's bytes & mask) → 1 + index in keys, 0 when empty. */
  table: Int32Array;
  mask: number;
}

const plans = new WeakMap<readonly Column[], Plan>();

function hashKey(bytes: Buffer): number {
  let h = 0;
  for (const c of bytes) h = (Math.imul(h, 31) + c) | 0;
  return h;
}

/** Where a hash starts probing in a table of mask + 1 entries. */
function home(h: number, mask: number): number {
  return (h ^ (h >>> 11)) & mask;
}

function buildTable(keys: FieldKey[]): { table: Int32Array; mask: number } {
  let size = 16;
  while (size < keys.length * 4) size *= 2;
  const table = new Int32Array(size);
  const mask = size - 1;
  keys.forEach((key, i) => {
    let at = home(hashKey(key.bytes), mask);
    while (table[at] !== 0) at = (at + 1) & mask;
    table[at] = i + 1;
  });
  return { table, mask };
}

function compile(columns: readonly Column[]): Plan {
  const cached = plans.get(columns);
  if (cached !== undefined) return cached;
  const emit = new Uint8Array(columns.length);
  const slot = new Int32Array(columns.length).fill(-1);
  const keys: FieldKey[] = [];
  const slotOfKey = new Map<string, number>();
  let slots = HEADER_SLOTS;
  columns.forEach((column, i) => {
    const max = column.type === "integer" ? MAX_INTEGER : column.type === "bigint" ? MAX_BIGINT : null;
    switch (column.source) {
      case "pid":
        emit[i] = EMIT_PID;
        return;
      case "statm":
        emit[i] = EMIT_CONSTANT;
        return;
      case "field": {
        const key = column.key ?? column.name;
        let s = slotOfKey.get(key);
        if (s === undefined) {
          s = slots++;
          slotOfKey.set(key, s);
          keys.push({ bytes: Buffer.from(key, "latin1"), slot: s, max });
        }
        slot[i] = s;
        emit[i] = max === null ? EMIT_FLAGS : EMIT_DIGITS;
        return;
      }
      default: {
        const s = HEADER_SLOT[column.source];
        if (s === undefined) throw new Error(`column ${column.name} has no source in smaps`);
        slot[i] = s;
        emit[i] = s === SLOT_INODE ? EMIT_DIGITS : EMIT_TEXT;
      }
    }
  });
  const plan: Plan = { emit, slot, slots, keys, ...buildTable(keys) };
  plans.set(columns, plan);
  return plan;
}

function isHex(c: number): boolean {
  return (c >= ZERO && c <= NINE) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
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

/** Whether buf[s..e) holds exactly the bytes of key. */
function sameBytes(buf: Buffer, s: number, e: number, key: Buffer): boolean {
  if (e - s !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (buf[s + i] !== key[i]) return false;
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

/** Finds the requested key whose bytes are buf[s..e) and whose hash is h, or undefined. */
function lookup(plan: Plan, buf: Buffer, s: number, e: number, h: number): FieldKey | undefined {
  const { table, mask, keys } = plan;
  for (let at = home(h, mask); table[at] !== 0; at = (at + 1) & mask) {
    const key = keys[(table[at] as number) - 1] as FieldKey;
    if (sameBytes(buf, s, e, key.bytes)) return key;
  }
  return undefined;
}

/** The offset of the first newline at or after p, or the end of buf. */
function lineEnd(buf: Buffer, p: number): number {
  const length = buf.length;
  while (p < length && buf[p] !== NL) p++;
  return p;
}

/**
 * Records the value of a requested field whose colon is at `colon` and returns the end of its line.
 * A size is "<digits> kB" with any blanks around; anything else makes it NULL. Duplicate fields:
 * the first wins.
 */
function readField(key: FieldKey, buf: Buffer, colon: number, spans: Int32Array): number {
  const length = buf.length;
  const at = key.slot * 2;
  let p = colon + 1;
  while (p < length && (buf[p] === SPACE || buf[p] === TAB)) p++;
  if (spans[at] !== ABSENT || key.max === null) {
    const le = lineEnd(buf, p);
    if (spans[at] === ABSENT && le < length) {
      spans[at] = p;
      spans[at + 1] = le;
    }
    return le;
  }
  const ds = p;
  while (p < length && isDigit(buf[p] as number)) p++;
  const de = p;
  while (p < length && buf[p] === SPACE) p++;
  if (p + 1 < length && buf[p] === LOWER_K && buf[p + 1] === UPPER_B) p += 2;
  while (p < length && (buf[p] === SPACE || buf[p] === TAB)) p++;
  if (p < length && buf[p] === NL && de > ds && fits(buf, ds, de, key.max)) {
    spans[at] = ds;
    spans[at + 1] = de;
    return p;
  }
  const le = lineEnd(buf, p);
  // A line cut short by the end of the input is ignored, like the whole last line.
  if (le < length) spans[at] = INVALID;
  return le;
}

/** Sets the span of one header token (NULL when empty). */
function setSpan(spans: Int32Array, slot: number, s: number, e: number) {
  spans[slot * 2] = s < e ? s : ABSENT;
  spans[slot * 2 + 1] = e;
}

/**
 * Reads a header line "start-end perms offset major:minor inode   path" whose dash is at `dash` and
 * whose address range ends at `p`. The path is everything after the inode and its padding, verbatim.
 */
function readHeader(buf: Buffer, ls: number, dash: number, p: number, le: number, spans: Int32Array) {
  setSpan(spans, SLOT_START, ls, dash);
  setSpan(spans, SLOT_END, dash + 1, p);
  for (const slot of TOKEN_SLOTS) {
    while (p < le && buf[p] === SPACE) p++;
    const s = p;
    while (p < le && buf[p] !== SPACE) p++;
    if (slot !== SLOT_MAJOR) {
      setSpan(spans, slot, s, p);
      continue;
    }
    const colon = buf.indexOf(COLON, s);
    if (colon === -1 || colon >= p) {
      setSpan(spans, SLOT_MAJOR, s, p);
      continue;
    }
    setSpan(spans, SLOT_MAJOR, s, colon);
    setSpan(spans, SLOT_MINOR, colon + 1, p);
  }
  const is = spans[SLOT_INODE * 2] as number;
  if (is >= 0) {
    const ie = spans[SLOT_INODE * 2 + 1] as number;
    for (let i = is; i < ie; i++) {
      if (!isDigit(buf[i] as number)) {
        spans[SLOT_INODE * 2] = INVALID;
        break;
      }
    }
    if (spans[SLOT_INODE * 2] === is && !fits(buf, is, ie, MAX_BIGINT)) spans[SLOT_INODE * 2] = INVALID;
  }
  while (p < le && buf[p] === SPACE) p++;
  setSpan(spans, SLOT_PATH, p, le);
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
  constant: Buffer | null,
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
 * The shared scan. A header line starts a record; the field lines after it fill the record; a record
 * is written when the next header or the end of the input comes. A last line without its newline may
 * be cut short, so it is ignored (its values are NULL rather than wrong).
 */
function scan(
  out: Output,
  buf: Buffer,
  pid: number,
  columns: readonly Column[],
  constant: string | null,
  single: boolean,
) {
  const plan = compile(columns);
  const spans = new Int32Array(plan.slots * 2);
  const pidBytes = Buffer.from(String(pid));
  const constantBytes = constant === null ? null : Buffer.from(constant);
  let inRecord = false;
  let pos = 0;
  const length = buf.length;
  while (pos < length) {
    const ls = pos;
    // A header starts with "hex-hex "; field keys never contain a dash.
    let p = ls;
    while (p < length && isHex(buf[p] as number)) p++;
    if (p > ls && p < length && buf[p] === DASH) {
      const dash = p;
      p++;
      const s2 = p;
      while (p < length && isHex(buf[p] as number)) p++;
      if (p > s2 && p < length && (buf[p] === NL || buf[p] === SPACE)) {
        const le = lineEnd(buf, p);
        if (le === length) break;
        pos = le + 1;
        if (inRecord) {
          if (single) continue;
          writeRow(out, plan, buf, spans, pidBytes, constantBytes);
        }
        spans.fill(ABSENT);
        readHeader(buf, ls, dash, p, le, spans);
        inRecord = true;
        continue;
      }
    }
    // A field line "Key: value": the key is hashed on the way to its colon, in the one pass.
    let h = 0;
    let i = ls;
    let c = 0;
    while (i < length) {
      c = buf[i] as number;
      if (c === COLON || c === SPACE || c === NL) break;
      h = (Math.imul(h, 31) + c) | 0;
      i++;
    }
    const key = inRecord && c === COLON && i > ls && i < length ? lookup(plan, buf, ls, i, h) : undefined;
    const le = key === undefined ? lineEnd(buf, i) : readField(key, buf, i, spans);
    if (le === length) break;
    pos = le + 1;
  }
  if (inRecord) writeRow(out, plan, buf, spans, pidBytes, constantBytes);
}

/**
 * COPY text of one /proc/PID/smaps file: one line per mapping with the given smaps columns, in order.
 * Never throws on malformed input: what cannot be read is NULL.
 */
export function parseSmaps(buf: Buffer, pid: number, columns: readonly Column[]): Buffer {
  const out = new Output(buf.length);
  scan(out, buf, pid, columns, null, false);
  return out.result();
}

/** parseSmaps, appending to `out` instead of returning a new buffer. */
export function appendSmaps(out: Output, buf: Buffer, pid: number, columns: readonly Column[]): void {
  scan(out, buf, pid, columns, null, false);
}

/**
 * COPY text of one /proc/PID/smaps_rollup file: one line with the given summary columns, or an empty
 * buffer when the file has no header line. mem_size is memSizeKb (decimal text), NULL when absent.
 */
export function parseRollup(
  buf: Buffer,
  pid: number,
  columns: readonly Column[],
  memSizeKb: string | null = null,
): Buffer {
  const out = new Output(1024);
  scan(out, buf, pid, columns, memSizeKb, true);
  return out.result();
}

/** parseRollup, appending to `out` instead of returning a new buffer. */
export function appendRollup(
  out: Output,
  buf: Buffer,
  pid: number,
  columns: readonly Column[],
  memSizeKb: string | null = null,
): void {
  scan(out, buf, pid, columns, memSizeKb, true);
}
