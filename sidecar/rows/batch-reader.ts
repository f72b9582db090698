/**
 * The COPY text of a batch of processes, read synchronously with reused buffers: the work one
 * thread of the read pool does for one task (read-worker.ts), also callable in-process.
 */
import type { Column } from "../proc/columns.js";
import { appendRollup, appendSmaps, Output } from "../proc/copy-writer.js";
import { memSizeKbFromStatm, type ProcOptions, readProcFileSync, ScratchBuffer } from "../proc/proc-file.js";
import { isReusedSync, type StartLimits } from "../proc/process-start.js";

export type BatchKind = "smaps" | "summary";

/** The /proc file a kind's rows come from. */
export function procFileOf(kind: BatchKind): "smaps" | "smaps_rollup" {
  return kind === "smaps" ? "smaps" : "smaps_rollup";
}

/** Whether the rows need /proc/PID/statm too (the summary's mem_size). */
export function wantsMemSize(kind: BatchKind, columns: readonly Column[]): boolean {
  return kind === "summary" && columns.some((c) => c.source === "statm");
}

export class BatchReader {
  readonly #scratch = new ScratchBuffer();
  readonly #statm = new ScratchBuffer(256);
  readonly #stat = new ScratchBuffer(1024);
  readonly #out = new Output(64 * 1024);

  /**
   * Rows of each process in the order given, in one buffer with its own ArrayBuffer (so it can be
   * transferred to another thread). Processes that have exited are skipped; any other read error
   * is thrown (ProcUnreadableError). pageSize is needed when the summary asks for mem_size.
   */
  read(
    kind: BatchKind,
    pids: readonly number[],
    columns: readonly Column[],
    options: ProcOptions & { pageSize: number; startLimits?: StartLimits | undefined },
  ): Buffer {
    const withMemSize = wantsMemSize(kind, columns);
    const out = this.#out;
    out.reset();
    for (const pid of pids) {
      const before = out.pos;
      this.#append(kind, pid, columns, options, withMemSize);
      // Checked after the read: if the pid still belongs to the listed process, what was read is its.
      if (isReusedSync(pid, options.startLimits, this.#stat, options)) out.pos = before;
    }
    // allocUnsafeSlow: never a slice of Node's shared pool, which must not be transferred.
    const rows = Buffer.allocUnsafeSlow(out.pos);
    out.buf.copy(rows, 0, 0, out.pos);
    return rows;
  }

  /** Appends the rows of one process; nothing when it has exited. */
  #append(
    kind: BatchKind,
    pid: number,
    columns: readonly Column[],
    options: ProcOptions & { pageSize: number },
    withMemSize: boolean,
  ): void {
    const buf = readProcFileSync(pid, procFileOf(kind), this.#scratch, options);
    if (buf === null) return;
    let memSize: string | null = null;
    if (withMemSize) {
      const statm = readProcFileSync(pid, "statm", this.#statm, options);
      if (statm === null) return;
      memSize = memSizeKbFromStatm(statm, pid, options.pageSize, options);
    }
    if (kind === "smaps") appendSmaps(this.#out, buf, pid, columns);
    else appendRollup(this.#out, buf, pid, columns, memSize);
  }
}
