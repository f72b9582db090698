/**
 * The one tokenizer of /proc/PID/smaps and /proc/PID/smaps_rollup. It walks a Buffer line by line and
 * says what each line is: a mapping's header ("start-end perms offset major:minor inode   path") with
 * the offsets of its tokens, or a field line ("Key:   value") with the offsets and hash of its key. It
 * keeps offsets only: no strings, no numbers, no per-line objects, so its consumers (the COPY writer of
 * get_all_smaps and smap_summary, the summer of memory by kind) copy or sum straight from the bytes.
 *
 * A last line without its newline may have been cut short by the kernel or a short read: it is never
 * reported, so its values are absent rather than wrong.
 */

const NL = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
const COLON = 0x3a;
const DASH = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_K = 0x6b;
const UPPER_B = 0x42;

/** What next() found. */
export const END = 0;
export const HEADER = 1;
export const FIELD = 2;

/** What size() and text() found. */
export const VALUE = 1;
const NOT_VALUE = 0;
export const CUT = -1;

/** Token slots of a header line; header(slot) gives [start, end) offsets, start -1 when empty. */
export const T_START = 0;
export const T_END = 1;
export const T_PERMS = 2;
export const T_OFFSET = 3;
export const T_MAJOR = 4;
export const T_MINOR = 5;
export const T_INODE = 6;
export const T_PATH = 7;
export const HEADER_TOKENS = 8;

/** The space-separated tokens after the address range, in order (major:minor is split below). */
const SPACED = [T_PERMS, T_OFFSET, T_MAJOR, T_INODE] as const;

function isHex(c: number): boolean {
  return (c >= ZERO && c <= NINE) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/** The hash of a field key as the tokenizer computes it on the way to the colon. */
function hashKey(bytes: Uint8Array): number {
  let h = 0;
  for (const c of bytes) h = (Math.imul(h, 31) + c) | 0;
  return h;
}

/**
 * A set of field keys a consumer wants, found by the hash the tokenizer already computed:
 * open addressing, (hash & mask) → 1 + index of the key, 0 when empty.
 */
export class KeyTable {
  readonly keys: readonly Buffer[];
  readonly #table: Int32Array;
  readonly #mask: number;

  constructor(keys: readonly string[]) {
    this.keys = keys.map((k) => Buffer.from(k, "latin1"));
    let size = 16;
    while (size < keys.length * 4) size *= 2;
    this.#table = new Int32Array(size);
    this.#mask = size - 1;
    this.keys.forEach((key, i) => {
      let at = home(hashKey(key), this.#mask);
      while (this.#table[at] !== 0) at = (at + 1) & this.#mask;
      this.#table[at] = i + 1;
    });
  }

  /** Index of the key of the tokenizer's current field line, or -1 when it is not one of these keys. */
  find(t: SmapsTokenizer): number {
    const table = this.#table;
    const buf = t.buf;
    const s = t.keyStart;
    const n = t.keyEnd - s;
    for (let at = home(t.keyHash, this.#mask); table[at] !== 0; at = (at + 1) & this.#mask) {
      const index = (table[at] as number) - 1;
      const key = this.keys[index] as Buffer;
      if (key.length !== n) continue;
      let i = 0;
      while (i < n && buf[s + i] === key[i]) i++;
      if (i === n) return index;
    }
    return -1;
  }
}

/** Where a hash starts probing in a table of mask + 1 entries. */
function home(h: number, mask: number): number {
  return (h ^ (h >>> 11)) & mask;
}

export class SmapsTokenizer {
  buf: Buffer = Buffer.alloc(0);
  /** Offsets of the current header's tokens: [start, end) per slot, start -1 when the token is empty. */
  readonly tokens = new Int32Array(HEADER_TOKENS * 2);
  /** The current field line's key: buf[keyStart..keyEnd), keyEnd is the colon; keyHash its hash. */
  keyStart = 0;
  keyEnd = 0;
  keyHash = 0;
  /** A value read by size() or text(): buf[valueStart..valueEnd). */
  valueStart = 0;
  valueEnd = 0;
  /** Where the unread part of the current line starts; the line ends at the next newline. */
  #cursor = 0;
  /** Whether the current line still has to be skipped to its newline before the next one. */
  #inLine = false;

  /** Starts on a new buffer. */
  reset(buf: Buffer): this {
    this.buf = buf;
    this.#cursor = 0;
    this.#inLine = false;
    return this;
  }

  /** Moves to the next complete line and says what it is: HEADER, FIELD, or END. */
  next(): number {
    const buf = this.buf;
    const length = buf.length;
    for (;;) {
      let ls = this.#cursor;
      if (this.#inLine) {
        const nl = buf.indexOf(NL, ls);
        if (nl === -1) return this.#finish();
        ls = nl + 1;
        this.#inLine = false;
      }
      if (ls >= length) return this.#finish();
      // A header starts with "hex-hex" then a space or the newline; field keys never contain a dash.
      let p = ls;
      while (p < length && isHex(buf[p] as number)) p++;
      if (p > ls && p < length && buf[p] === DASH) {
        const dash = p++;
        const s2 = p;
        while (p < length && isHex(buf[p] as number)) p++;
        if (p > s2 && p < length && (buf[p] === NL || buf[p] === SPACE)) {
          const le = buf.indexOf(NL, p);
          if (le === -1) return this.#finish();
          this.#header(ls, dash, p, le);
          this.#cursor = le + 1;
          return HEADER;
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
      if (i === length) return this.#finish();
      this.#inLine = true;
      if (c !== COLON || i === ls) {
        // Not a field line: skipped to its newline on the next turn.
        this.#cursor = i;
        continue;
      }
      this.keyStart = ls;
      this.keyEnd = i;
      this.keyHash = h;
      this.#cursor = i + 1;
      return FIELD;
    }
  }

  /**
   * Reads the current field's value as a size: blanks, decimal digits, optionally " kB", blanks, the
   * newline. VALUE with the digits in buf[valueStart..valueEnd) when it is one; NOT_VALUE when the
   * complete line holds something else; CUT when the line has no newline (the input ends in it).
   */
  size(): number {
    const buf = this.buf;
    const length = buf.length;
    let p = this.#cursor;
    while (p < length && (buf[p] === SPACE || buf[p] === TAB)) p++;
    const ds = p;
    while (p < length && (buf[p] as number) >= ZERO && (buf[p] as number) <= NINE) p++;
    const de = p;
    while (p < length && buf[p] === SPACE) p++;
    if (p + 1 < length && buf[p] === LOWER_K && buf[p + 1] === UPPER_B) p += 2;
    while (p < length && (buf[p] === SPACE || buf[p] === TAB)) p++;
    this.#cursor = p;
    if (p < length && buf[p] === NL && de > ds) {
      this.valueStart = ds;
      this.valueEnd = de;
      this.#cursor = p + 1;
      this.#inLine = false;
      return VALUE;
    }
    return buf.indexOf(NL, p) === -1 ? CUT : NOT_VALUE;
  }

  /** The current field's value as the rest of its line, after the blanks: VALUE, or CUT without a newline. */
  text(): number {
    const buf = this.buf;
    let p = this.#cursor;
    while (p < buf.length && (buf[p] === SPACE || buf[p] === TAB)) p++;
    const le = buf.indexOf(NL, p);
    if (le === -1) return CUT;
    this.valueStart = p;
    this.valueEnd = le;
    this.#cursor = le + 1;
    this.#inLine = false;
    return VALUE;
  }

  /** The value of buf[valueStart..valueEnd) as a number (sizes in kB fit a double exactly). */
  sizeValue(): number {
    const buf = this.buf;
    let value = 0;
    for (let i = this.valueStart; i < this.valueEnd; i++) value = value * 10 + ((buf[i] as number) - ZERO);
    return value;
  }

  #finish(): number {
    this.#cursor = this.buf.length;
    this.#inLine = false;
    return END;
  }

  /** Records the tokens of a header line whose dash is at `dash` and whose address range ends at `p`. */
  #header(ls: number, dash: number, p: number, le: number): void {
    const buf = this.buf;
    const tokens = this.tokens;
    tokens.fill(-1);
    set(tokens, T_START, ls, dash);
    set(tokens, T_END, dash + 1, p);
    for (const slot of SPACED) {
      while (p < le && buf[p] === SPACE) p++;
      const s = p;
      while (p < le && buf[p] !== SPACE) p++;
      if (slot !== T_MAJOR) {
        set(tokens, slot, s, p);
        continue;
      }
      let colon = s;
      while (colon < p && buf[colon] !== COLON) colon++;
      if (colon === p) {
        set(tokens, T_MAJOR, s, p);
        continue;
      }
      set(tokens, T_MAJOR, s, colon);
      set(tokens, T_MINOR, colon + 1, p);
    }
    // The path is everything after the inode and its padding, verbatim (spaces, " (deleted)").
    while (p < le && buf[p] === SPACE) p++;
    set(tokens, T_PATH, p, le);
  }
}

function set(tokens: Int32Array, slot: number, s: number, e: number): void {
  tokens[slot * 2] = s < e ? s : -1;
  tokens[slot * 2 + 1] = e;
}
