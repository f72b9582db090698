/**
 * The COPY text of a set of processes, in the order of the pids, each process's rows contiguous: read
 * by the threads of the read pool when there is one, else in this thread (local-rows.ts).
 */

import { byKindRows } from "../lib/by-kind-rows.js";
import { localRows } from "../lib/local-rows.js";
import type { Column, Kind } from "../proc/columns.js";
import { pageSize } from "../proc/page-size.js";
import type { ProcOptions } from "../proc/proc-file.js";
import type { StartLimits } from "../proc/process-start.js";
import type { BatchKind } from "./batch-reader.js";
import { rowsPacer } from "./gc-pacer.js";
import type { ReadPool } from "./read-pool.js";

export interface CopyOptions extends ProcOptions {
  /** Threads that read and parse; without one this thread reads. */
  pool?: ReadPool | undefined;
}

/** Processes per batch sent to a thread: a smaps file is ~200 kB of work, a rollup ~1 kB. */
const BATCH: Record<BatchKind, number> = { smaps: 1, summary: 16 };

/**
 * Batches in flight on the pool, yielded in pid order as they complete. The window keeps every thread
 * busy while the socket drains and bounds memory to a few processes' rows, whatever the cluster size.
 */
async function* pooledRows(
  pool: ReadPool,
  kind: BatchKind,
  pids: readonly number[],
  columns: readonly Column[],
  options: ProcOptions,
  startLimits: StartLimits | undefined,
): AsyncGenerator<Buffer, void, undefined> {
  const size = BATCH[kind];
  const window = pool.size * 2;
  const task = {
    kind,
    columns,
    procRoot: options.procRoot,
    pageSize: options.pageSize ?? (await pageSize()),
  };
  const inFlight: Promise<Buffer>[] = [];
  let next = 0;
  const submit = () => {
    const batch = pids.slice(next, next + size);
    const limits =
      startLimits &&
      batch.flatMap((pid): [number, number][] => {
        const limit = startLimits.get(pid);
        return limit === undefined ? [] : [[pid, limit]];
      });
    const rows = pool.run({ ...task, pids: batch, startLimits: limits });
    // Awaited in order below; until then a failure must not count as unhandled.
    rows.catch(() => {});
    inFlight.push(rows);
    next += size;
  };
  while (next < pids.length && inFlight.length < window) submit();
  while (inFlight.length > 0) {
    const rows = await (inFlight.shift() as Promise<Buffer>);
    if (next < pids.length) submit();
    if (rows.length > 0) yield rows;
  }
}

/**
 * Yields the rows of the processes as soon as they are read, in the order of `pids`, so memory holds
 * a few processes at a time and the first rows flow before the last process is read. Processes that
 * have exited are skipped; any other read error is thrown (PROC_UNREADABLE).
 */
export async function* copyRows(
  kind: Kind,
  pids: Iterable<number>,
  columns: readonly Column[],
  options: CopyOptions = {},
  startLimits?: StartLimits,
): AsyncGenerator<Buffer, void, undefined> {
  for await (const rows of readRows(kind, pids, columns, options, startLimits)) {
    rowsPacer.handed(rows.length);
    yield rows;
  }
}

async function* readRows(
  kind: Kind,
  pids: Iterable<number>,
  columns: readonly Column[],
  options: CopyOptions,
  startLimits: StartLimits | undefined,
): AsyncGenerator<Buffer, void, undefined> {
  if (kind === "by_kind") {
    yield* byKindRows(pids, columns, options, startLimits);
    return;
  }
  const list = [...pids];
  if (options.pool?.threaded) {
    yield* pooledRows(options.pool, kind, list, columns, options, startLimits);
    return;
  }
  yield* localRows(kind, list, columns, options, startLimits);
}
