/** Reads the /proc files of one process; a process that has exited reads as null. */
import { closeSync, open, openSync, read, readSync } from "node:fs";
import { join } from "node:path";
import { ProcUnreadableError } from "../errors.js";
import { pageSize } from "./page-size.js";

export interface ProcOptions {
  /** Root of the proc tree; "/proc" unless tests point it at fixtures. */
  procRoot?: string;
  /** Bytes per page for statm; the machine's page size unless given. */
  pageSize?: number;
}

/** /proc files made by one show() of the kernel's single_open: stat, statm, smaps_rollup. */
const ONE_RECORD = new Set(["stat", "statm", "smaps_rollup"]);

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
 * Contents of /proc/PID/<file>, or null when the process has exited (or the file is empty). Read
 * through libuv's thread pool, so a slow /proc file never blocks this thread.
 */
export function readProcFile(pid: number, file: string, options: ProcOptions = {}): Promise<Buffer | null> {
  return readProcFileInto(pid, file, new ScratchBuffer(4096), options);
}

/**
 * readProcFile into `scratch`, grown as needed: the result is a view of the scratch buffer, valid
 * until its next use. The open and every read(2) run on libuv's thread pool; each read is one trip
 * to the pool, and the whole file is one promise.
 */
export function readProcFileInto(
  pid: number,
  file: string,
  scratch: ScratchBuffer,
  options: ProcOptions = {},
): Promise<Buffer | null> {
  // These files are one record the kernel writes whole on the first read: a read that leaves room
  // in the buffer has had it all, and the read that would return 0 is a trip saved.
  const oneRecord = ONE_RECORD.has(file);
  const path = join(options.procRoot ?? "/proc", String(pid), file);
  return new Promise((resolve, reject) => {
    const fail = (err: unknown) => (exited(err) ? resolve(null) : reject(unreadable(path, err)));
    open(path, "r", (openError, fd) => {
      if (openError) {
        fail(openError);
        return;
      }
      let length = 0;
      // Closing a /proc file releases the kernel's buffer and never waits: done here, no trip.
      const finish = (err: unknown) => {
        closeSync(fd);
        if (err) fail(err);
        else resolve(length === 0 ? null : scratch.buf.subarray(0, length));
      };
      const next = () => {
        if (length === scratch.buf.length) scratch.grow();
        const room = scratch.buf.length - length;
        read(fd, scratch.buf, length, room, null, (readError, n) => {
          if (readError || n === 0) {
            finish(readError);
            return;
          }
          length += n;
          if (oneRecord && n < room) finish(null);
          else next();
        });
      };
      next();
    });
  });
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
 * Contents of /proc/PID/<file> read synchronously into `scratch`, or null when the process has
 * exited. The result is a view of the scratch buffer: valid until its next use. For worker threads,
 * where a blocking read costs one system call per page instead of a trip through libuv's pool.
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
  let length = 0;
  try {
    for (;;) {
      if (length === scratch.buf.length) scratch.grow();
      const n = readSync(fd, scratch.buf, length, scratch.buf.length - length, null);
      if (n === 0) break;
      length += n;
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

/** VmSize in kB from /proc/PID/statm (first field, in pages); null when the process has exited. */
export async function readMemSizeKb(
  pid: number,
  options: ProcOptions = {},
  scratch: ScratchBuffer = new ScratchBuffer(256),
): Promise<string | null> {
  const buf = await readProcFileInto(pid, "statm", scratch, options);
  if (buf === null) return null;
  return memSizeKbFromStatm(buf, pid, options.pageSize ?? (await pageSize()), options);
}
