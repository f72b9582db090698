/** The COPY text of the by_kind rows: one row per process and kind of memory (memory-kinds.ts). */
import type { Column } from "../proc/columns.js";
import { escapeCopyText } from "../proc/copy-text.js";
import { readKindContext } from "../proc/kind-context.js";
import { type KindContext, type KindTotals, MEMORY_KINDS, sumByKind } from "../proc/memory-kinds.js";
import { type ProcOptions, readProcFileInto, ScratchBuffer } from "../proc/proc-file.js";
import { isReused, type StartLimits } from "../proc/process-start.js";

const TOTAL: Record<string, "mappings" | "rss" | "pss" | "private" | "uss"> = {
  mappings: "mappings",
  rss_bytes: "rss",
  pss_bytes: "pss",
  private_bytes: "private",
  uss_bytes: "uss",
};

/** The rows of one process: the kinds it has at least one mapping of, in MEMORY_KINDS order. */
export function byKindCopyText(totals: KindTotals, pid: number, columns: readonly Column[]): string {
  let text = "";
  for (const kind of MEMORY_KINDS) {
    const mappings = totals.get(kind, "mappings");
    if (mappings === 0) continue;
    const values = columns.map((column) => {
      if (column.source === "pid") return String(pid);
      if (column.source === "memory_kind") return escapeCopyText(kind);
      const total = TOTAL[column.name];
      if (total === undefined) throw new Error(`column ${column.name} is not a by_kind total`);
      const value = BigInt(totals.get(kind, total));
      return String(total === "mappings" ? value : value * 1024n);
    });
    text += `${values.join("\t")}\n`;
  }
  return text;
}

/** Yields each process's rows as soon as its smaps is read; processes that have exited are skipped. */
export async function* byKindRows(
  pids: Iterable<number>,
  columns: readonly Column[],
  options: ProcOptions = {},
  startLimits?: StartLimits,
): AsyncGenerator<Buffer, void, undefined> {
  let context: KindContext | null = null;
  // One buffer for every smaps file and one for the stat files: nothing allocated per process.
  const file = new ScratchBuffer(64 * 1024);
  const stat = new ScratchBuffer(1024);
  for (const pid of pids) {
    const buf = await readProcFileInto(pid, "smaps", file, options);
    if (buf === null) continue;
    // Read again while something is missing: the process it came from may have exited meanwhile.
    if (context === null || context.executable === null || context.mainShmid === null) {
      context = await readKindContext(pid, options);
    }
    const text = byKindCopyText(sumByKind(buf, context), pid, columns);
    if (text !== "" && !(await isReused(pid, startLimits, options, stat))) yield Buffer.from(text);
  }
}
