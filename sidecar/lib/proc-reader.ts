/** Reads the /proc files of one process; a process that has exited reads as null. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ProcUnreadableError } from "./errors.js";
import { pageSize } from "./page-size.js";

export interface ProcOptions {
  /** Root of the proc tree; "/proc" unless tests point it at fixtures. */
  procRoot?: string;
  /** Bytes per page for statm; the machine's page size unless given. */
  pageSize?: number;
}

/** Error codes that mean the process is gone (or became a zombie) while we read it. */
const EXITED = new Set(["ENOENT", "ESRCH"]);

/** Contents of /proc/PID/<file>, or null when the process has exited. */
export async function readProcFile(
  pid: number,
  file: string,
  options: ProcOptions = {},
): Promise<Buffer | null> {
  const path = join(options.procRoot ?? "/proc", String(pid), file);
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== undefined && EXITED.has(code)) return null;
    throw new ProcUnreadableError(`could not read ${path}`, {
      detail: `${(err as Error).message}.`,
      hint: "The sidecar must run as the operating system user that owns the cluster.",
      cause: err,
    });
  }
  return buf.length === 0 ? null : buf;
}

export function readSmaps(pid: number, options?: ProcOptions): Promise<Buffer | null> {
  return readProcFile(pid, "smaps", options);
}

export function readRollup(pid: number, options?: ProcOptions): Promise<Buffer | null> {
  return readProcFile(pid, "smaps_rollup", options);
}

/** VmSize in kB from /proc/PID/statm (first field, in pages); null when the process has exited. */
export async function readMemSizeKb(pid: number, options: ProcOptions = {}): Promise<string | null> {
  const buf = await readProcFile(pid, "statm", options);
  if (buf === null) return null;
  const first = buf.toString("latin1").split(" ", 1)[0] ?? "";
  if (!/^[0-9]+$/.test(first)) {
    throw new ProcUnreadableError(
      `could not read ${join(options.procRoot ?? "/proc", String(pid), "statm")}`,
      {
        detail: `The first field is "${first}", not a number of pages.`,
      },
    );
  }
  const size = options.pageSize ?? (await pageSize());
  return ((BigInt(first) * BigInt(size)) / 1024n).toString();
}
