/** COPY text of the by_kind rows: one row per process and kind of memory (memory-kinds.ts), sizes in bytes. */
import type { Column } from "./columns.js";
import { type KindTotal, type KindTotals, MEMORY_KINDS } from "./memory-kinds.js";
import { isProcessValueSource, type ProcessValues } from "./process-values.js";

/** The total behind each by_kind column; pid and kind are written apart. */
const TOTAL: Record<string, KindTotal> = {
  mappings: "mappings",
  rss_bytes: "rss",
  pss_bytes: "pss",
  private_bytes: "private",
  uss_bytes: "uss",
  anon_bytes: "anon",
  swap_bytes: "swap",
};

/**
 * The rows of one process: the kinds it has at least one mapping of, in MEMORY_KINDS order. The
 * process's own values (oom_score, oom_score_adj) are repeated on each of its rows; NULL when absent.
 */
export function byKindCopyText(
  totals: KindTotals,
  pid: number,
  columns: readonly Column[],
  own: ProcessValues = {},
): string {
  let text = "";
  for (const kind of MEMORY_KINDS) {
    const mappings = totals.get(kind, "mappings");
    if (mappings === 0) continue;
    const values = columns.map((column) => {
      if (column.source === "pid") return String(pid);
      // The kinds are plain identifiers: nothing to escape.
      if (column.source === "memory_kind") return kind;
      if (isProcessValueSource(column.source)) return own[column.source] ?? "\\N";
      const total = TOTAL[column.name];
      if (total === undefined) throw new Error(`column ${column.name} is not a by_kind total`);
      const value = BigInt(totals.get(kind, total));
      return String(total === "mappings" ? value : value * 1024n);
    });
    text += `${values.join("\t")}\n`;
  }
  return text;
}
