/**
 * Reads the /proc files of one process, synchronously, into a reused buffer: a process that has
 * exited reads as null. The readers run on the read pool's threads (rows/read-pool.ts), where a
 * blocking read costs one system call per page of /proc output and nothing else.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { ProcUnreadableError } from "../errors.js";

export interface ProcOptions {
  /** Root of the proc tree; "/proc" unless tests point it at fixtures. */
  procRoot?: string;
  /** Bytes per page for statm; the machine's page size unless given. */
  pageSize?: number;
}

/**
 * /proc files made by one show() of the kernel's single_open (stat, statm, smaps_rollup) or by one
 * short read handler (oom_score, oom_score_adj). A read that
 * leaves room in the buffer has had it all, so the read that would return 0 is a system call saved.
 */
const ONE_RECORD = new Set(["stat", "statm", "smaps_rollup", "oom_score", "oom_score_adj"]);

/** Error codes that mean the process is gone (or became a zombie) while we read it. */
const EXITED = new Set(["ENOENT", "ESRCH"]);

function unreadable(path: string, err: unknown): ProcUnreadableError {
  return new ProcUnreadableError(`could not read ${path}`, {
    detail: `${(err as Error).message}.`,
    hint: "The sidecar must run as the operating system user that owns the cluster.",
    cause: err,
  });
}

function exited(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code !== undefined && EXITED.has(code);
}

/**
 * A reusable read buffer for readProcFileSync. /proc files report size 0 and the kernel hands out
 * about a page per read(2), so the file is read in a loop into one buffer that grows to the largest
 * file seen and is then reused: no allocation per file.
 */
export class ScratchBuffer {
  buf: Buffer;

  constructor(size = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  grow(): void {
    const next = Buffer.allocUnsafe(this.buf.length * 2);
    this.buf.copy(next);
    this.buf = next;
  }
}

/**
 * Contents of /proc/PID/<file> read into `scratch`, or null when the process has exited (or the file
 * is empty). The result is a view of the scratch buffer: valid until its next use.
 */
export function readProcFileSync(
  pid: number,
  file: string,
  scratch: ScratchBuffer,
  options: ProcOptions = {},
): Buffer | null {
  const path = join(options.procRoot ?? "/proc", String(pid), file);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if (exited(err)) return null;
    throw unreadable(path, err);
  }
  const oneRecord = ONE_RECORD.has(file);
  let length = 0;
  try {
    for (;;) {
      if (length === scratch.buf.length) scratch.grow();
      const room = scratch.buf.length - length;
      const n = readSync(fd, scratch.buf, length, room, null);
      length += n;
      if (n === 0 || (oneRecord && n < room)) break;
    }
  } catch (err) {
    if (exited(err)) return null;
    throw unreadable(path, err);
  } finally {
    closeSync(fd);
  }
  return length === 0 ? null : scratch.buf.subarray(0, length);
}

/** VmSize in kB from the text of /proc/PID/statm (first field, in pages), as decimal text. */
export function memSizeKbFromStatm(
  statm: Buffer,
  pid: number,
  size: number,
  options: ProcOptions = {},
): string {
  const first = statm.toString("latin1").split(" ", 1)[0] ?? "";
  if (!/^[0-9]+$/.test(first)) {
    throw new ProcUnreadableError(
      `could not read ${join(options.procRoot ?? "/proc", String(pid), "statm")}`,
      {
        detail: `The first field is "${first}", not a number of pages.`,
      },
    );
  }
  return ((BigInt(first) * BigInt(size)) / 1024n).toString();
}
