/** Column catalogues of the sources, in the order of docs/protocol.md. */

/** Where a table's rows come from: one per mapping (smaps), per process (summary), per process and kind of memory (by_kind). */
export type Source = "smaps" | "summary" | "by_kind";

export const SOURCES: readonly Source[] = ["smaps", "summary", "by_kind"];

export type ColumnType = "integer" | "bigint" | "text";

/** Where a column's value comes from. */
export type ColumnSource =
  | "pid"
  | "start_address"
  | "end_address"
  | "permissions"
  | "byte_offset"
  | "dev_major"
  | "dev_minor"
  | "inode"
  | "sys_path"
  | "statm"
  | "oom_score"
  | "oom_score_adj"
  | "field"
  | "memory_kind"
  | "kind_total";

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly source: ColumnSource;
  /** The kernel's key (e.g. "Pss_Dirty") for source "field". */
  readonly key: string | null;
}

function header(name: ColumnSource, type: ColumnType): Column {
  return { name, type, source: name, key: null };
}

/** The OOM killer's view of the process: /proc/PID/oom_score and oom_score_adj, read only when asked for. */
const OOM_COLUMNS: readonly Column[] = [header("oom_score", "integer"), header("oom_score_adj", "integer")];

function field(name: string, key: string, type: ColumnType = "bigint"): Column {
  return { name, type, source: "field", key };
}

const ROLLUP_FIELDS: readonly Column[] = [
  field("shared_clean", "Shared_Clean"),
  field("shared_dirty", "Shared_Dirty"),
  field("private_clean", "Private_Clean"),
  field("private_dirty", "Private_Dirty"),
  field("referenced", "Referenced"),
  field("anonymous", "Anonymous"),
  field("ksm", "KSM"),
  field("lazy_free", "LazyFree"),
  field("anon_huge_pages", "AnonHugePages"),
  field("shmem_pmd_mapped", "ShmemPmdMapped"),
  field("file_pmd_mapped", "FilePmdMapped"),
  field("shared_huge_tlb", "Shared_Hugetlb"),
  field("private_huge_tlb", "Private_Hugetlb"),
  field("swap", "Swap"),
  field("swap_pss", "SwapPss"),
  field("locked", "Locked"),
];

export const SMAPS_COLUMNS: readonly Column[] = [
  header("pid", "integer"),
  header("start_address", "text"),
  header("end_address", "text"),
  header("permissions", "text"),
  header("byte_offset", "text"),
  header("dev_major", "text"),
  header("dev_minor", "text"),
  header("inode", "bigint"),
  header("sys_path", "text"),
  field("mem_size", "Size"),
  field("kernel_page_size", "KernelPageSize"),
  field("mmu_page_size", "MMUPageSize"),
  field("rss", "Rss"),
  field("pss", "Pss"),
  field("pss_dirty", "Pss_Dirty"),
  ...ROLLUP_FIELDS,
  field("thp_eligible", "THPeligible", "integer"),
  field("vm_flags", "VmFlags", "text"),
];

export const SUMMARY_COLUMNS: readonly Column[] = [
  header("pid", "integer"),
  { name: "mem_size", type: "bigint", source: "statm", key: null },
  field("rss", "Rss"),
  field("pss", "Pss"),
  field("pss_dirty", "Pss_Dirty"),
  field("pss_anon", "Pss_Anon"),
  field("pss_file", "Pss_File"),
  field("pss_shmem", "Pss_Shmem"),
  ...ROLLUP_FIELDS,
  ...OOM_COLUMNS,
];

/** One row per process and kind of memory (memory-kinds.ts); sizes in bytes. */
export const BY_KIND_COLUMNS: readonly Column[] = [
  header("pid", "integer"),
  { name: "kind", type: "text", source: "memory_kind", key: null },
  ...["mappings", "rss_bytes", "pss_bytes", "private_bytes", "uss_bytes", "anon_bytes", "swap_bytes"].map(
    (name): Column => ({ name, type: "bigint", source: "kind_total", key: null }),
  ),
  // Per process: the same on each of its rows.
  ...OOM_COLUMNS,
];

function catalogue(source: Source): readonly Column[] {
  if (source === "smaps") return SMAPS_COLUMNS;
  return source === "summary" ? SUMMARY_COLUMNS : BY_KIND_COLUMNS;
}

/** Looks a column up by name; undefined when the source has no such column. */
export function findColumn(source: Source, name: string): Column | undefined {
  return catalogue(source).find((c) => c.name === name);
}
