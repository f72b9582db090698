/**
 * Where a process's memory goes: every mapping of /proc/PID/smaps falls in exactly one kind, and the
 * sizes of one smaps buffer are summed per kind. This file is the only place that classifies mappings.
 *
 * USS (uss_bytes) is the memory the kernel frees when the process exits:
 *  - private (p) anonymous memory (heap, anonymous, stack): Private_Clean + Private_Dirty;
 *  - private (p) file mappings (the binary, libraries, other files): Private_Dirty, the copy-on-write
 *    pages; their Private_Clean pages are page cache and stay after exit;
 *  - nothing from shared (s) mappings, the main shared memory segment and dynamic shared memory above
 *    all: a shared_buffers page only this process has touched is reported as Private_*, but it belongs
 *    to the segment and is not freed when the process exits;
 *  - nothing from kernel mappings ([vdso] and the like).
 *
 * The scan works on the bytes of the buffer: no strings, no per-mapping objects.
 */

/** The kinds, in the order rows are written. */
export const MEMORY_KINDS = [
  "shared_buffers",
  "dynamic_shared_memory",
  "heap",
  "anonymous",
  "stack",
  "postgres_binary",
  "shared_libraries",
  "other_files",
  "kernel",
] as const;

export type MemoryKind = (typeof MEMORY_KINDS)[number];

const SHARED_BUFFERS = 0;
const DYNAMIC_SHARED_MEMORY = 1;
const HEAP = 2;
const ANONYMOUS = 3;
const STACK = 4;
const POSTGRES_BINARY = 5;
const SHARED_LIBRARIES = 6;
const OTHER_FILES = 7;
const KERNEL = 8;

/** What classification needs to know about the cluster, beyond the mapping itself. */
export interface KindContext {
  /** The postgres executable as /proc/PID/exe names it; null when unknown (then: any path ending in /postgres). */
  executable: Buffer | null;
  /**
   * SysV shmid of the cluster's main segment (postmaster.pid, line 7): with shared_memory_type = sysv
   * the main segment, with mmap the small interlock segment. Null when unknown: then every SysV
   * segment counts as the main segment.
   */
  mainShmid: Buffer | null;
}

export const NO_CONTEXT: KindContext = { executable: null, mainShmid: null };

const NL = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
const COLON = 0x3a;
const DASH = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_S = 0x73;
const BRACKET = 0x5b;
const SLASH = 0x2f;
const DOT = 0x2e;

const ascii = (s: string) => Buffer.from(s, "latin1");
const DELETED = ascii(" (deleted)");
const DEV_ZERO = ascii("/dev/zero (deleted)");
const ANON_HUGEPAGE = ascii("/anon_hugepage (deleted)");
const SYSV = ascii("/SYSV");
const DEV_SHM_POSTGRES = ascii("/dev/shm/PostgreSQL.");
const PG_DYNSHMEM = ascii("/pg_dynshmem/PostgreSQL.");
const POSTGRES = ascii("/postgres");
const SO = ascii(".so");
const HEAP_NAME = ascii("[heap]");
const STACK_NAME = ascii("[stack");
const ANON_NAME = ascii("[anon");

const KEY_RSS = ascii("Rss");
const KEY_PSS = ascii("Pss");
const KEY_PRIVATE_CLEAN = ascii("Private_Clean");
const KEY_PRIVATE_DIRTY = ascii("Private_Dirty");
const KEY_SHARED_HUGETLB = ascii("Shared_Hugetlb");
const KEY_PRIVATE_HUGETLB = ascii("Private_Hugetlb");

/** Field slots, also the bits of the per-mapping "already seen" mask (the first occurrence counts). */
const F_RSS = 0;
const F_PSS = 1;
const F_PRIVATE_CLEAN = 2;
const F_PRIVATE_DIRTY = 3;
const F_SHARED_HUGETLB = 4;
const F_PRIVATE_HUGETLB = 5;

/** Per-kind totals, in kB except MAPPINGS. */
const T_MAPPINGS = 0;
const T_RSS = 1;
const T_PSS = 2;
const T_PRIVATE = 3;
const T_USS = 4;
const TOTALS = 5;

function isHex(c: number): boolean {
  return (c >= ZERO && c <= NINE) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function startsWith(buf: Buffer, s: number, e: number, prefix: Buffer): boolean {
  if (e - s < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[s + i] !== prefix[i]) return false;
  return true;
}

function endsWith(buf: Buffer, s: number, e: number, suffix: Buffer): boolean {
  return e - s >= suffix.length && startsWith(buf, e - suffix.length, e, suffix);
}

function equals(buf: Buffer, s: number, e: number, other: Buffer): boolean {
  return e - s === other.length && startsWith(buf, s, e, other);
}

/** Whether other occurs in buf[s..e). */
function contains(buf: Buffer, s: number, e: number, other: Buffer): boolean {
  const at = buf.indexOf(other, s);
  return at !== -1 && at + other.length <= e;
}

/** A shared library: the file name has ".so" followed by its end, a dot (libc.so.6) or " (deleted)". */
function isSharedLibrary(buf: Buffer, s: number, e: number): boolean {
  let name = s;
  for (let i = s; i < e; i++) if (buf[i] === SLASH) name = i + 1;
  let at = buf.indexOf(SO, name);
  while (at !== -1 && at + SO.length <= e) {
    const next = at + SO.length;
    if (next === e || buf[next] === DOT || buf[next] === SPACE) return true;
    at = buf.indexOf(SO, at + 1);
  }
  return false;
}

/**
 * The kind of a mapping from its header: shared ("s" in the permissions), its inode and its path
 * (buf[ps..pe), empty for plain anonymous memory). Returns an index into MEMORY_KINDS.
 */
function classify(
  buf: Buffer,
  shared: boolean,
  is: number,
  ie: number,
  ps: number,
  pe: number,
  context: KindContext,
): number {
  if (ps >= pe) return ANONYMOUS;
  if (buf[ps] === BRACKET) {
    if (equals(buf, ps, pe, HEAP_NAME)) return HEAP;
    // [stack] and the [stack:TID] of older kernels
    if (startsWith(buf, ps, pe, STACK_NAME)) return STACK;
    // [anon:name] (PR_SET_VMA_ANON_NAME), [anon_shmem:name]
    if (startsWith(buf, ps, pe, ANON_NAME)) return ANONYMOUS;
    // [vdso], [vvar], [vvar_vclock], [vsyscall], [uprobes], ...
    return KERNEL;
  }
  if (equals(buf, ps, pe, DEV_ZERO) || equals(buf, ps, pe, ANON_HUGEPAGE)) {
    // MAP_SHARED | MAP_ANONYMOUS: shared_memory_type = mmap, with or without huge pages.
    return shared ? SHARED_BUFFERS : ANONYMOUS;
  }
  if (startsWith(buf, ps, pe, SYSV) && endsWith(buf, ps, pe, DELETED)) {
    // shared_memory_type = sysv, or the interlock segment of mmap; other SysV segments are dynamic
    // shared memory (dynamic_shared_memory_type = sysv).
    const main = context.mainShmid;
    return main === null || equals(buf, is, ie, main) ? SHARED_BUFFERS : DYNAMIC_SHARED_MEMORY;
  }
  // dynamic_shared_memory_type = posix, then mmap (files in the data directory)
  if (startsWith(buf, ps, pe, DEV_SHM_POSTGRES) || contains(buf, ps, pe, PG_DYNSHMEM)) {
    return DYNAMIC_SHARED_MEMORY;
  }
  const exe = context.executable;
  if (exe === null ? endsWith(buf, ps, pe, POSTGRES) : equals(buf, ps, pe, exe)) return POSTGRES_BINARY;
  if (isSharedLibrary(buf, ps, pe)) return SHARED_LIBRARIES;
  // locale files, gconv-modules.cache, memfd:, files mapped by extensions
  return OTHER_FILES;
}

/** Decimal value of a field line's "   1234 kB" part, or -1 when it is not a number. */
function readKb(buf: Buffer, p: number, le: number): number {
  while (p < le && (buf[p] === SPACE || buf[p] === TAB)) p++;
  const s = p;
  let value = 0;
  while (p < le) {
    const c = buf[p] as number;
    if (c < ZERO || c > NINE) break;
    value = value * 10 + (c - ZERO);
    p++;
  }
  return p === s ? -1 : value;
}

/** The field slot of key buf[s..e), or -1 for a field that does not matter here. */
function fieldSlot(buf: Buffer, s: number, e: number): number {
  switch (e - s) {
    case 3:
      if (equals(buf, s, e, KEY_RSS)) return F_RSS;
      return equals(buf, s, e, KEY_PSS) ? F_PSS : -1;
    case 13:
      if (equals(buf, s, e, KEY_PRIVATE_CLEAN)) return F_PRIVATE_CLEAN;
      return equals(buf, s, e, KEY_PRIVATE_DIRTY) ? F_PRIVATE_DIRTY : -1;
    case 14:
      return equals(buf, s, e, KEY_SHARED_HUGETLB) ? F_SHARED_HUGETLB : -1;
    case 15:
      return equals(buf, s, e, KEY_PRIVATE_HUGETLB) ? F_PRIVATE_HUGETLB : -1;
    default:
      return -1;
  }
}

/** Totals of one smaps buffer per kind: kinds × TOTALS, kB (mappings counted). */
export class KindTotals {
  readonly values = new Float64Array(MEMORY_KINDS.length * TOTALS);

  get(kind: MemoryKind, total: "mappings" | "rss" | "pss" | "private" | "uss"): number {
    const t = { mappings: T_MAPPINGS, rss: T_RSS, pss: T_PSS, private: T_PRIVATE, uss: T_USS }[total];
    return this.values[MEMORY_KINDS.indexOf(kind) * TOTALS + t] as number;
  }
}

/**
 * Sums a /proc/PID/smaps buffer per kind. Rss counts hugetlb pages too (the kernel leaves them out
 * of Rss and reports them as Shared_Hugetlb and Private_Hugetlb); private counts Private_Clean,
 * Private_Dirty and Private_Hugetlb. A last line without its newline is ignored, as a field that is
 * not a number is; when a field appears twice in a mapping, the first one counts.
 */
export function sumByKind(buf: Buffer, context: KindContext = NO_CONTEXT): KindTotals {
  const totals = new KindTotals();
  const v = totals.values;
  const tokens = new Int32Array(8);
  let base = -1; // totals offset of the current mapping's kind; -1 before the first header
  let kind = -1;
  let shared = false;
  let seen = 0;
  let pos = 0;
  const length = buf.length;
  while (pos < length) {
    const le = buf.indexOf(NL, pos);
    if (le === -1) break;
    const ls = pos;
    pos = le + 1;
    // A header starts with "hex-hex "; field keys never contain a dash.
    let p = ls;
    while (p < le && isHex(buf[p] as number)) p++;
    if (p > ls && p < le && buf[p] === DASH) {
      p++;
      const s2 = p;
      while (p < le && isHex(buf[p] as number)) p++;
      if (p > s2 && (p === le || buf[p] === SPACE)) {
        // perms, offset, device, inode, then the path after its padding
        for (let t = 0; t < 4; t++) {
          while (p < le && buf[p] === SPACE) p++;
          tokens[t * 2] = p;
          while (p < le && buf[p] !== SPACE) p++;
          tokens[t * 2 + 1] = p;
        }
        while (p < le && buf[p] === SPACE) p++;
        const permsStart = tokens[0] as number;
        shared = (tokens[1] as number) - permsStart >= 4 && buf[permsStart + 3] === LOWER_S;
        kind = classify(buf, shared, tokens[6] as number, tokens[7] as number, p, le, context);
        base = kind * TOTALS;
        v[base + T_MAPPINGS] = (v[base + T_MAPPINGS] as number) + 1;
        seen = 0;
        continue;
      }
    }
    if (base < 0) continue;
    let colon = ls;
    while (colon < le && buf[colon] !== COLON && buf[colon] !== SPACE) colon++;
    if (colon === le || buf[colon] !== COLON) continue;
    const slot = fieldSlot(buf, ls, colon);
    if (slot < 0 || seen & (1 << slot)) continue;
    seen |= 1 << slot;
    const kb = readKb(buf, colon + 1, le);
    if (kb < 0) continue;
    switch (slot) {
      case F_RSS:
      case F_SHARED_HUGETLB:
        v[base + T_RSS] = (v[base + T_RSS] as number) + kb;
        break;
      case F_PSS:
        v[base + T_PSS] = (v[base + T_PSS] as number) + kb;
        break;
      case F_PRIVATE_HUGETLB:
        v[base + T_RSS] = (v[base + T_RSS] as number) + kb;
        v[base + T_PRIVATE] = (v[base + T_PRIVATE] as number) + kb;
        if (countsInUss(kind, shared, false)) v[base + T_USS] = (v[base + T_USS] as number) + kb;
        break;
      default: {
        // Private_Clean, Private_Dirty
        v[base + T_PRIVATE] = (v[base + T_PRIVATE] as number) + kb;
        if (countsInUss(kind, shared, slot === F_PRIVATE_CLEAN)) {
          v[base + T_USS] = (v[base + T_USS] as number) + kb;
        }
      }
    }
  }
  return totals;
}

/** Whether private pages of a mapping are freed at exit (see the top of this file). */
function countsInUss(kind: number, shared: boolean, clean: boolean): boolean {
  if (shared) return false;
  if (kind === HEAP || kind === ANONYMOUS || kind === STACK) return true;
  if (kind === POSTGRES_BINARY || kind === SHARED_LIBRARIES || kind === OTHER_FILES) return !clean;
  return false;
}

/** The kind of one mapping given by its smaps header line (for tests and documentation). */
export function classifyHeader(header: string, context: KindContext = NO_CONTEXT): MemoryKind {
  const totals = sumByKind(Buffer.from(`${header}\n`), context);
  const index = MEMORY_KINDS.findIndex((kind) => totals.get(kind, "mappings") === 1);
  const kind = MEMORY_KINDS[index];
  if (kind === undefined) throw new Error(`not a mapping header: ${header}`);
  return kind;
}
