/**
 * The one streaming path: the COPY text of a set of processes, in the order of the pids, each
 * process's rows contiguous, read by the read pool (read-pool.ts) in batches. A window of batches is
 * in flight, so every thread is busy while the socket drains, and memory holds a few processes' rows
 * whatever the cluster size.
 */
import type { Column, Source } from "../proc/columns.js";
import { pageSize } from "../proc/page-size.js";
import type { Membership } from "../proc/process-stat.js";
import { rowsPacer } from "./gc-pacer.js";
import type { ReadPool } from "./read-pool.js";
import { batchMembership } from "./read-task.js";

export interface CopyOptions {
  pool: ReadPool;
  /** Root of the proc tree; "/proc" unless tests point it at fixtures. */
  procRoot?: string | undefined;
}

/**
 * Processes per batch: a smaps file is ~200 kB of work, so one; a rollup is ~1 kB and by_kind
 * sends a few rows per smaps file, so several go at once and their rows travel together.
 */
const BATCH: Record<Source, number> = { smaps: 1, summary: 16, by_kind: 2 };

/** Batches of one request in flight at once: two per thread keep every thread busy. */
export function readAhead(pool: ReadPool): number {
  return Math.max(pool.size, 1) * 2;
}

/**
 * Yields the rows of the processes as soon as they are read, in the order of `pids`. Processes that
 * have exited are skipped; any other read error is thrown (PROC_UNREADABLE) after the rows before it.
 * The first batch is admitted by the pool (BUSY when too many requests wait); aborting `signal`
 * drops the batches not yet started.
 */
export async function* copyRows(
  source: Source,
  pids: readonly number[],
  columns: readonly Column[],
  options: CopyOptions,
  membership?: Membership,
  signal?: AbortSignal,
): AsyncGenerator<Buffer, void, undefined> {
  const { pool } = options;
  const size = BATCH[source];
  const window = readAhead(pool);
  const task = {
    type: "rows" as const,
    source,
    columns,
    procRoot: options.procRoot,
    pageSize: await pageSize(),
  };
  const inFlight: Promise<Buffer>[] = [];
  let next = 0;
  const submit = () => {
    const batch = pids.slice(next, next + size);
    const rows = pool.run(
      { ...task, pids: batch, membership: membership && batchMembership(membership, batch) },
      { admit: next === 0, signal },
    );
    // Awaited in order below; until then a failure must not count as unhandled.
    rows.catch(() => {});
    inFlight.push(rows);
    next += size;
  };
  // The first batch alone: a request refused with BUSY has read nothing.
  if (pids.length > 0) {
    submit();
    await inFlight[0];
  }
  while (next < pids.length && inFlight.length < window) submit();
  while (inFlight.length > 0) {
    const rows = await (inFlight.shift() as Promise<Buffer>);
    if (next < pids.length) submit();
    if (rows.length === 0) continue;
    rowsPacer.handed(rows.length);
    yield rows;
  }
}
