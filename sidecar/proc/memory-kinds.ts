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
 * The sums come from the one smaps tokenizer (smaps-tokenizer.ts): no strings, no per-mapping objects.
 */
import { END, HEADER, KeyTable, SmapsTokenizer, T_INODE, T_PATH, T_PERMS, VALUE } from "./smaps-tokenizer.js";

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

const LOWER_S = 0x73;
const BRACKET = 0x5b;
const SLASH = 0x2f;
const DOT = 0x2e;
const SPACE = 0x20;

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

/** The fields summed, in the order of the F_ slots below. */
const FIELDS = new KeyTable([
  "Rss",
  "Pss",
  "Private_Clean",
  "Private_Dirty",
  "Shared_Hugetlb",
  "Private_Hugetlb",
  "Anonymous",
  "Swap",
]);

/** Field slots, also the bits of the per-mapping "already seen" mask (the first occurrence counts). */
const F_RSS = 0;
const F_PSS = 1;
const F_PRIVATE_CLEAN = 2;
const F_PRIVATE_DIRTY = 3;
const F_SHARED_HUGETLB = 4;
const F_PRIVATE_HUGETLB = 5;
const F_ANONYMOUS = 6;
const F_SWAP = 7;

/** Per-kind totals, in kB except MAPPINGS. */
const T_MAPPINGS = 0;
const T_RSS = 1;
const T_PSS = 2;
const T_PRIVATE = 3;
const T_USS = 4;
const T_ANON = 5;
const T_SWAP = 6;
const TOTALS = 7;

/** The totals a kind has, by name. */
export type KindTotal = "mappings" | "rss" | "pss" | "private" | "uss" | "anon" | "swap";
const TOTAL_INDEX: Record<KindTotal, number> = {
  mappings: T_MAPPINGS,
  rss: T_RSS,
  pss: T_PSS,
  private: T_PRIVATE,
  uss: T_USS,
  anon: T_ANON,
  swap: T_SWAP,
};

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

/**
 * Whether other occurs in buf[s..e). A loop over the path, never Buffer#indexOf: that searches to the
 * end of the whole buffer, which for a path that has no match is the rest of the smaps file.
 */
function contains(buf: Buffer, s: number, e: number, other: Buffer): boolean {
  for (let at = s; at + other.length <= e; at++) if (startsWith(buf, at, e, other)) return true;
  return false;
}

/** A shared library: the file name has ".so" followed by its end, a dot (libc.so.6) or " (deleted)". */
function isSharedLibrary(buf: Buffer, s: number, e: number): boolean {
  let name = s;
  for (let i = s; i < e; i++) if (buf[i] === SLASH) name = i + 1;
  for (let at = name; at + SO.length <= e; at++) {
    if (!startsWith(buf, at, e, SO)) continue;
    const next = at + SO.length;
    if (next === e || buf[next] === DOT || buf[next] === SPACE) return true;
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

/** Totals of one smaps buffer per kind: kinds × TOTALS, kB (mappings counted). */
export class KindTotals {
  readonly values = new Float64Array(MEMORY_KINDS.length * TOTALS);

  get(kind: MemoryKind, total: KindTotal): number {
    return this.values[MEMORY_KINDS.indexOf(kind) * TOTALS + TOTAL_INDEX[total]] as number;
  }

  /** Starts again at zero, keeping the memory. */
  clear(): this {
    this.values.fill(0);
    return this;
  }
}

const tokenizer = new SmapsTokenizer();
const EMPTY = Buffer.alloc(0);

/**
 * Sums a /proc/PID/smaps buffer per kind into `totals` (cleared first). Rss counts hugetlb pages too
 * (the kernel leaves them out of Rss and reports them as Shared_Hugetlb and Private_Hugetlb); private
 * counts Private_Clean, Private_Dirty and Private_Hugetlb. A last line without its newline is ignored,
 * as a field that is not a number is; when a field appears twice in a mapping, the first one counts.
 */
export function sumByKind(
  buf: Buffer,
  context: KindContext = NO_CONTEXT,
  totals: KindTotals = new KindTotals(),
): KindTotals {
  const v = totals.clear().values;
  const t = tokenizer.reset(buf);
  const tokens = t.tokens;
  let base = -1; // totals offset of the current mapping's kind; -1 before the first header
  let kind = -1;
  let shared = false;
  let seen = 0;
  for (let line = t.next(); line !== END; line = t.next()) {
    if (line === HEADER) {
      const ps = tokens[T_PERMS * 2] as number;
      shared = ps >= 0 && (tokens[T_PERMS * 2 + 1] as number) - ps >= 4 && buf[ps + 3] === LOWER_S;
      const path = tokens[T_PATH * 2] as number;
      kind = classify(
        buf,
        shared,
        tokens[T_INODE * 2] as number,
        tokens[T_INODE * 2 + 1] as number,
        path < 0 ? 0 : path,
        path < 0 ? 0 : (tokens[T_PATH * 2 + 1] as number),
        context,
      );
      base = kind * TOTALS;
      v[base + T_MAPPINGS] = (v[base + T_MAPPINGS] as number) + 1;
      seen = 0;
      continue;
    }
    if (base < 0) continue;
    const slot = FIELDS.find(t);
    if (slot < 0 || seen & (1 << slot)) continue;
    seen |= 1 << slot;
    if (t.size() !== VALUE) continue;
    const kb = t.sizeValue();
    switch (slot) {
      case F_RSS:
      case F_SHARED_HUGETLB:
        v[base + T_RSS] = (v[base + T_RSS] as number) + kb;
        break;
      case F_PSS:
        v[base + T_PSS] = (v[base + T_PSS] as number) + kb;
        break;
      case F_ANONYMOUS:
        v[base + T_ANON] = (v[base + T_ANON] as number) + kb;
        break;
      case F_SWAP:
        v[base + T_SWAP] = (v[base + T_SWAP] as number) + kb;
        break;
      case F_PRIVATE_HUGETLB:
        v[base + T_RSS] = (v[base + T_RSS] as number) + kb;
        v[base + T_PRIVATE] = (v[base + T_PRIVATE] as number) + kb;
        if (countsInUss(kind, shared, false)) v[base + T_USS] = (v[base + T_USS] as number) + kb;
        break;
      case F_PRIVATE_CLEAN:
      case F_PRIVATE_DIRTY: {
        v[base + T_PRIVATE] = (v[base + T_PRIVATE] as number) + kb;
        if (countsInUss(kind, shared, slot === F_PRIVATE_CLEAN)) {
          v[base + T_USS] = (v[base + T_USS] as number) + kb;
        }
      }
    }
  }
  t.reset(EMPTY);
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
