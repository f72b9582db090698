/**
 * The one reader: the rows of a batch of processes as COPY text, read synchronously into reused
 * buffers. It is what a thread of the read pool runs for each task (read-worker.ts), and what the pool
 * runs in the main thread when it has no threads (--read-threads 0). Every source goes this way:
 * get_all_smaps (smaps), smap_summary (summary) and backend_memory_by_kind (by_kind).
 */
import type { Column, Source } from "../proc/columns.js";
import { appendRollup, appendSmaps, Output } from "../proc/copy-writer.js";
import { readKindContext } from "../proc/kind-context.js";
import { byKindCopyText } from "../proc/kind-rows.js";
import { type KindContext, KindTotals, sumByKind } from "../proc/memory-kinds.js";
import { type ProcOptions, readProcFileSync, ScratchBuffer } from "../proc/proc-file.js";
import { type Membership, memberStart, readStartTicks } from "../proc/process-stat.js";
import {
  type ProcessValueSource,
  type ProcessValues,
  readProcessValues,
  valueSourcesOf,
} from "../proc/process-values.js";

/** The /proc file a source's rows come from. */
function procFileOf(source: Source): "smaps" | "smaps_rollup" {
  return source === "summary" ? "smaps_rollup" : "smaps";
}

/**
 * How long what classification needs to know about the cluster (the postgres executable, the main
 * segment's shmid) is kept: they change only when the cluster restarts.
 */
const CONTEXT_MS = 1000;

export interface BatchOptions extends ProcOptions {
  pageSize: number;
  /** Which processes are the cluster's (process-stat.ts); without it, every pid given is read. */
  membership?: Membership | undefined;
}

export class BatchReader {
  readonly #scratch = new ScratchBuffer();
  readonly #small = new ScratchBuffer(256);
  readonly #stat = new ScratchBuffer(1024);
  readonly #out = new Output(64 * 1024);
  readonly #totals = new KindTotals();
  #context: KindContext | null = null;
  #contextAt = 0;

  /**
   * Rows of each process in the order given, in one buffer with its own ArrayBuffer (so it can be
   * transferred to another thread). Processes that have exited, or that are not the cluster's listed
   * process (membership), are skipped; any other read error is thrown (ProcUnreadableError).
   */
  read(source: Source, pids: readonly number[], columns: readonly Column[], options: BatchOptions): Buffer {
    const valueSources = valueSourcesOf(columns);
    const { membership } = options;
    const out = this.#out;
    out.reset();
    for (const pid of pids) {
      // Checked before the read, so nothing of another process is opened, and after it: if the pid
      // still holds the process that started then, what was read is its.
      const start = membership === undefined ? null : memberStart(pid, membership, this.#stat);
      if (membership !== undefined && start === null) continue;
      const before = out.pos;
      try {
        this.#append(source, pid, columns, options, valueSources);
      } catch (err) {
        if (membership === undefined || this.#startOf(pid, membership) === start) throw err;
      }
      if (membership !== undefined && this.#startOf(pid, membership) !== start) out.pos = before;
    }
    // allocUnsafeSlow: never a slice of Node's shared pool, which must not be transferred.
    const rows = Buffer.allocUnsafeSlow(out.pos);
    out.buf.copy(rows, 0, 0, out.pos);
    return rows;
  }

  /**
   * Appends the rows of one process; nothing when it has exited. Its small files (statm, oom_score,
   * oom_score_adj) are read only when a column needs them, after the memory file.
   */
  #append(
    source: Source,
    pid: number,
    columns: readonly Column[],
    options: BatchOptions,
    valueSources: readonly ProcessValueSource[],
  ): void {
    const buf = readProcFileSync(pid, procFileOf(source), this.#scratch, options);
    if (buf === null) return;
    if (source === "smaps") {
      appendSmaps(this.#out, buf, pid, columns);
      return;
    }
    const values: ProcessValues = {};
    if (source === "by_kind") {
      // Summed before the small files are read: the totals live in reused state, not in `buf`.
      const totals = sumByKind(buf, this.#kindContext(pid, options), this.#totals);
      if (!readProcessValues(pid, valueSources, this.#small, options.pageSize, values, options)) return;
      this.#out.string(byKindCopyText(totals, pid, columns, values));
      return;
    }
    // `buf` is a view of #scratch; the small files go to their own buffer, so it stays valid.
    if (!readProcessValues(pid, valueSources, this.#small, options.pageSize, values, options)) return;
    appendRollup(this.#out, buf, pid, columns, values);
  }

  #startOf(pid: number, membership: Membership): number | null {
    return readStartTicks(pid, this.#stat, { procRoot: membership.procRoot });
  }

  /** The cluster's executable and main segment, read again once a second or while something is missing. */
  #kindContext(pid: number, options: ProcOptions): KindContext {
    const now = Date.now();
    const known = this.#context;
    if (
      known === null ||
      known.executable === null ||
      known.mainShmid === null ||
      now - this.#contextAt > CONTEXT_MS
    ) {
      this.#context = readKindContext(pid, options);
      this.#contextAt = now;
    }
    return this.#context as KindContext;
  }
}
