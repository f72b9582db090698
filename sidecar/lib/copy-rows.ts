/** The COPY text of a set of processes, one chunk per process, read one process at a time. */
import type { Column, Kind } from "./columns.js";
import { type ProcOptions, readMemSizeKb, readRollup, readSmaps } from "./proc-reader.js";
import { parseRollup, parseSmaps } from "./smaps-parser.js";

/**
 * Yields each process's rows as soon as they are read, so memory holds one process at a time and the
 * first rows flow before the last process is read. Processes that have exited are skipped; any other
 * read error is thrown (PROC_UNREADABLE).
 */
export async function* copyRows(
  kind: Kind,
  pids: Iterable<number>,
  columns: readonly Column[],
  options: ProcOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const wantsMemSize = kind === "summary" && columns.some((c) => c.source === "statm");
  for (const pid of pids) {
    if (kind === "smaps") {
      const buf = await readSmaps(pid, options);
      if (buf === null) continue;
      const rows = parseSmaps(buf, pid, columns);
      if (rows.length > 0) yield rows;
      continue;
    }
    const buf = await readRollup(pid, options);
    if (buf === null) continue;
    let memSize: string | null = null;
    if (wantsMemSize) {
      memSize = await readMemSizeKb(pid, options);
      if (memSize === null) continue;
    }
    const row = parseRollup(buf, pid, columns, memSize);
    if (row.length > 0) yield row;
  }
}
