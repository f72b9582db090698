/**
 * Fields of /proc/PID/stat, and telling a listed process from a later one that got its pid. The
 * cluster lists each process with when it started; a process whose start time (field 22, clock ticks
 * after boot) is later than that, give or take a little, is another process, and its rows are not the
 * listed one's.
 */
import { type ProcOptions, readProcFileSync, type ScratchBuffer } from "./proc-file.js";

/** Per pid: the latest start, in clock ticks after boot, of the process the cluster listed. */
export type StartLimits = ReadonlyMap<number, number>;

/**
 * Field `n` (1-based, as proc(5) numbers them) of the text of /proc/PID/stat, "pid (comm) state ppid
 * ..."; comm may hold spaces and parentheses, so the fields are counted after its last ")". Null when
 * the text has no such field.
 */
function statField(stat: string, n: number): string | null {
  const close = stat.lastIndexOf(")");
  if (close === -1) return null;
  return stat.slice(close + 2).split(" ")[n - 3] ?? null;
}

/** A field of /proc/PID/stat as a whole number of at least `min`, or null. */
function statNumber(stat: string, n: number, min: number): number | null {
  const value = Number(statField(stat, n) ?? Number.NaN);
  return Number.isInteger(value) && value >= min ? value : null;
}

/** The parent pid (field 4); null when there is none (pid 1) or the text is not a stat line. */
export function parentPidFromStat(stat: string): number | null {
  return statNumber(stat, 4, 1);
}

/** Field 22 of /proc/PID/stat: start time in clock ticks after boot. */
export function startTicksFromStat(stat: string): number | null {
  return statNumber(stat, 22, 0);
}

/** The text of /proc/PID/stat; null when the process has exited or its stat cannot be read. */
function readStat(pid: number, scratch: ScratchBuffer, options: ProcOptions): string | null {
  try {
    return readProcFileSync(pid, "stat", scratch, options)?.toString("latin1") ?? null;
  } catch {
    return null;
  }
}

/** The start time of the process at pid (field 22), or null when it has exited or cannot be read. */
export function readStartTicks(
  pid: number,
  scratch: ScratchBuffer,
  options: ProcOptions = {},
): number | null {
  const stat = readStat(pid, scratch, options);
  return stat === null ? null : startTicksFromStat(stat);
}

/**
 * True when the process now at pid started after the one listed. False when it has exited or cannot
 * be read: what was read before it went is its own.
 */
export function isReused(
  pid: number,
  limits: StartLimits | undefined,
  scratch: ScratchBuffer,
  options: ProcOptions = {},
): boolean {
  const limit = limits?.get(pid);
  if (limit === undefined) return false;
  const ticks = readStartTicks(pid, scratch, options);
  return ticks !== null && ticks > limit;
}

/**
 * The parent pid of each process, in order: 0 for one without a parent (pid 1, kernel threads), null
 * for one that has exited or whose stat cannot be read.
 */
export function readParents(
  pids: readonly number[],
  scratch: ScratchBuffer,
  options: ProcOptions = {},
): (number | null)[] {
  return pids.map((pid) => {
    const stat = readStat(pid, scratch, options);
    return stat === null ? null : statNumber(stat, 4, 0);
  });
}
