/**
 * Fields of /proc/PID/stat, and telling a listed process from a later one that got its pid. The cluster lists each process with when
 * it started; a process whose start time (field 22 of /proc/PID/stat, clock ticks after boot) is later
 * than that, give or take a little, is another process, and its rows are not the listed one's.
 */
import { type ProcOptions, readProcFileSync, type ScratchBuffer } from "./proc-file.js";

/** Per pid: the latest start, in clock ticks after boot, of the process the cluster listed. */
export type StartLimits = ReadonlyMap<number, number>;

/** The parent pid from the text of /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold spaces). */
export function parentPidFromStat(stat: string): number | null {
  const close = stat.lastIndexOf(")");
  if (close === -1) return null;
  const ppid = Number(stat.slice(close + 2).split(" ")[1]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
}

/** Field 22 of /proc/PID/stat: start time in clock ticks after boot. */
export function startTicksFromStat(stat: string): number | null {
  const close = stat.lastIndexOf(")");
  if (close === -1) return null;
  const ticks = Number(stat.slice(close + 2).split(" ")[19]);
  return Number.isFinite(ticks) ? ticks : null;
}

/** True when the process now at pid started after the one listed (false when it has exited). */
export function isReused(
  pid: number,
  limits: StartLimits | undefined,
  scratch: ScratchBuffer,
  options: ProcOptions = {},
): boolean {
  const limit = limits?.get(pid);
  if (limit === undefined) return false;
  let stat: Buffer | null;
  try {
    stat = readProcFileSync(pid, "stat", scratch, options);
  } catch {
    return false;
  }
  if (stat === null) return false;
  const ticks = startTicksFromStat(stat.toString("latin1"));
  return ticks !== null && ticks > limit;
}

/**
 * The parent pid of each process, in order: 0 for one without a parent (pid 1), null for one that
 * has exited or whose stat cannot be read.
 */
export function readParents(
  pids: readonly number[],
  scratch: ScratchBuffer,
  options: ProcOptions = {},
): (number | null)[] {
  return pids.map((pid) => {
    let stat: Buffer | null;
    try {
      stat = readProcFileSync(pid, "stat", scratch, options);
    } catch {
      return null;
    }
    if (stat === null) return null;
    // pid 1 and kernel threads have parent 0: alive, and nobody's child.
    return parentPidFromStat(stat.toString("latin1")) ?? 0;
  });
}
