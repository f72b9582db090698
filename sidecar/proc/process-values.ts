/**
 * The values of a process that come from small /proc files beside smaps: VmSize (/proc/PID/statm) and
 * the OOM killer's view of it (/proc/PID/oom_score, /proc/PID/oom_score_adj). Each file is read only
 * when a requested column needs it, by the same reader and under the same bound as the smaps files.
 */
import type { Column } from "./columns.js";
import { memSizeKbFromStatm, type ProcOptions, readProcFileSync, type ScratchBuffer } from "./proc-file.js";

/** The columns sources a per-process value stands for; each one is a file of /proc/PID. */
export type ProcessValueSource = "statm" | "oom_score" | "oom_score_adj";

const VALUE_SOURCES: readonly ProcessValueSource[] = ["statm", "oom_score", "oom_score_adj"];

/** Decimal text of the values of one process, by source; a value that cannot be read is null (NULL). */
export type ProcessValues = Partial<Record<ProcessValueSource, string | null>>;

export function isProcessValueSource(source: string): source is ProcessValueSource {
  return (VALUE_SOURCES as readonly string[]).includes(source);
}

/** The per-process values the columns ask for, each once. */
export function valueSourcesOf(columns: readonly Column[]): ProcessValueSource[] {
  return VALUE_SOURCES.filter((source) => columns.some((c) => c.source === source));
}

/** Values of /proc/PID/oom_score (0 to 2000) and oom_score_adj (-1000 to 1000) fit well within this. */
const OOM_VALUE = /^-?[0-9]{1,5}$/;

/**
 * The integer of an oom_score or oom_score_adj file ("123\n") as decimal text, or null when the file
 * holds anything else: never a guess.
 */
export function oomValueFrom(buf: Buffer): string | null {
  let end = buf.length;
  if (end > 0 && buf[end - 1] === 0x0a) end--;
  const text = buf.toString("latin1", 0, end);
  if (!OOM_VALUE.test(text)) return null;
  return String(Number(text));
}

/**
 * Reads the given values of one process into `values`; false when the process has exited (a file
 * gone or empty), so that its rows are skipped like those of a process whose smaps is gone.
 */
export function readProcessValues(
  pid: number,
  sources: readonly ProcessValueSource[],
  scratch: ScratchBuffer,
  pageSize: number,
  values: ProcessValues,
  options: ProcOptions = {},
): boolean {
  for (const source of sources) {
    const buf = readProcFileSync(pid, source, scratch, options);
    if (buf === null) return false;
    values[source] = source === "statm" ? memSizeKbFromStatm(buf, pid, pageSize, options) : oomValueFrom(buf);
  }
  return true;
}
