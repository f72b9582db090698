/**
 * The COPY text of a set of processes, read in this thread without ever blocking it: the /proc reads
 * run on libuv's thread pool, a few files at once, and each file is parsed as soon as it is in. Rows
 * come out in the order of the pids, each process's rows contiguous.
 */

import type { Column } from "../proc/columns.js";
import { appendRollup, appendSmaps, Output } from "../proc/copy-writer.js";
import { pageSize } from "../proc/page-size.js";
import { type ProcOptions, readMemSizeKb, readProcFileInto, ScratchBuffer } from "../proc/proc-file.js";
import { isReused, type StartLimits } from "../proc/process-start.js";
import { type BatchKind, procFileOf, wantsMemSize } from "../rows/batch-reader.js";

/**
 * Files of one request read at once. A smaps file takes some fifty reads, each a trip to libuv's four
 * threads, so four keep them busy; a summary reads three small files per process, so more go at once.
 */
export const READ_AHEAD: Record<BatchKind, number> = { smaps: 4, summary: 16 };

/** Rows of files already read are sent together, up to about this many bytes. */
const CHUNK_BYTES = 16 * 1024;

interface InFlight {
  rows: Promise<Buffer | null>;
  /** Whether rows has resolved. */
  read: boolean;
}

/** The buffers one file in flight reads into, reused from file to file and request to request. */
interface Slot {
  file: ScratchBuffer;
  small: ScratchBuffer;
}

/** Slots kept between requests, one scan's worth per kind; concurrent scans allocate more meanwhile. */
const idleSlots: Record<BatchKind, Slot[]> = { smaps: [], summary: [] };

/** First size of a slot's file buffer: a smaps file is ~200 kB, a rollup ~1 kB; both grow as needed. */
const FILE_BUFFER: Record<BatchKind, number> = { smaps: 64 * 1024, summary: 4096 };

function takeSlot(kind: BatchKind): Slot {
  return (
    idleSlots[kind].pop() ?? { file: new ScratchBuffer(FILE_BUFFER[kind]), small: new ScratchBuffer(1024) }
  );
}

function giveBack(kind: BatchKind, slot: Slot): void {
  if (idleSlots[kind].length < READ_AHEAD[kind]) idleSlots[kind].push(slot);
}

/** Parsing is synchronous, so one output buffer serves every file in flight of every request. */
const out = new Output(64 * 1024);

/**
 * Yields the rows of the processes as soon as they are read, in the order of `pids`. Memory holds
 * READ_AHEAD files and one chunk, whatever the cluster size. Processes that have exited, or whose pid
 * now belongs to a later process, are skipped; any other read error is thrown (PROC_UNREADABLE).
 */
export async function* localRows(
  kind: BatchKind,
  pids: readonly number[],
  columns: readonly Column[],
  options: ProcOptions,
  startLimits: StartLimits | undefined,
): AsyncGenerator<Buffer, void, undefined> {
  const withMemSize = wantsMemSize(kind, columns);
  const statmOptions = withMemSize
    ? { ...options, pageSize: options.pageSize ?? (await pageSize()) }
    : options;

  const rowsOf = async (pid: number): Promise<Buffer | null> => {
    const slot = takeSlot(kind);
    try {
      const buf = await readProcFileInto(pid, procFileOf(kind), slot.file, options);
      if (buf === null) return null;
      let memSize: string | null = null;
      if (withMemSize) {
        memSize = await readMemSizeKb(pid, statmOptions, slot.small);
        if (memSize === null) return null;
      }
      // Checked after the read: if the pid still belongs to the listed process, what was read is its.
      if (await isReused(pid, startLimits, options, slot.small)) return null;
      out.reset();
      if (kind === "smaps") appendSmaps(out, buf, pid, columns);
      else appendRollup(out, buf, pid, columns, memSize);
      return out.pos === 0 ? null : Buffer.from(out.result());
    } finally {
      giveBack(kind, slot);
    }
  };

  const inFlight: InFlight[] = [];
  let next = 0;
  const submit = () => {
    const entry: InFlight = { rows: rowsOf(pids[next++] as number), read: false };
    // Awaited in order below; until then a failure must not count as unhandled.
    entry.rows.then(
      () => {
        entry.read = true;
      },
      () => {},
    );
    inFlight.push(entry);
  };
  const fill = () => {
    while (next < pids.length && inFlight.length < READ_AHEAD[kind]) submit();
  };
  fill();
  while (inFlight.length > 0) {
    // Rows go out as soon as they are in; those of files read meanwhile join them. A failed read
    // is awaited on its own, so the rows before it go out first.
    const chunk: Buffer[] = [];
    let bytes = 0;
    do {
      const rows = await (inFlight.shift() as InFlight).rows;
      if (rows === null) continue;
      chunk.push(rows);
      bytes += rows.length;
    } while (inFlight.length > 0 && (inFlight[0] as InFlight).read && bytes < CHUNK_BYTES);
    if (bytes > 0) yield chunk.length === 1 ? (chunk[0] as Buffer) : Buffer.concat(chunk, bytes);
    // Only once the rows are taken: a consumer that has gone stops the reading here.
    fill();
  }
}
