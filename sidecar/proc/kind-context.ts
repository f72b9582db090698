/** What the classification of mappings needs to know about the cluster, read from /proc once per request. */
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { KindContext } from "./memory-kinds.js";
import type { ProcOptions } from "./proc-file.js";

/** Line 7 of postmaster.pid: the SysV key and shmid of the main segment (or of the interlock segment). */
const SHMEM_LINE = 6;

/**
 * The executable of process pid and the shmid of its cluster's main SysV segment. Every process of a
 * cluster runs the postmaster's executable in the data directory, so one process tells for all. What
 * cannot be read is null (the classification then falls back; see KindContext).
 */
export function readKindContext(pid: number, options: ProcOptions = {}): KindContext {
  const dir = join(options.procRoot ?? "/proc", String(pid));
  const executable = orNull(() => readlinkSync(join(dir, "exe"), { encoding: "buffer" }));
  const lockFile = orNull(() => readFileSync(join(dir, "cwd", "postmaster.pid"), "latin1"));
  return { executable, mainShmid: lockFile === null ? null : shmidFromLockFile(lockFile) };
}

function orNull<T>(read: () => T): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}

/** The shmid of postmaster.pid's shared memory line ("  5393049     65594"), as decimal text. */
export function shmidFromLockFile(text: string): Buffer | null {
  const line = text.split("\n")[SHMEM_LINE] ?? "";
  const shmid = line.trim().split(/\s+/)[1] ?? "";
  return /^[0-9]+$/.test(shmid) ? Buffer.from(String(Number(shmid)), "latin1") : null;
}
