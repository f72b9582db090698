/**
 * Fields of /proc/PID/stat, and telling a process of the cluster from anything else at its pid. The
 * cluster lists each process with when it started. The process now at that pid is the listed one
 * only when it is the postmaster or a child of it, belongs to the cluster's OS user, started no later
 * than the listing says (field 22, clock ticks after boot, give or take a little), and still has the
 * same start time after its files are read.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { type ProcOptions, readProcFileSync, type ScratchBuffer } from "./proc-file.js";

/** What a process must be to be read as the one the cluster listed at its pid. */
export interface Membership {
  /** The postmaster: the parent of every other process of the cluster. */
  postmaster: number;
  /** The cluster's OS user, who owns all its processes. */
  uid: number;
  /** Per listed pid: the latest start, in clock ticks after boot, of the process the cluster listed. */
  latestStart: ReadonlyMap<number, number>;
  /** Where the processes' stat files are: the real /proc unless a test says otherwise. */
  procRoot?: string | undefined;
}

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
 * The start time of the process now at pid when it is the cluster's process listed there; null when
 * it is not (another user's, not a child of the postmaster, started after the listing) or has gone.
 */
export function memberStart(pid: number, membership: Membership, scratch: ScratchBuffer): number | null {
  const options = { procRoot: membership.procRoot };
  const limit = membership.latestStart.get(pid);
  const stat = limit === undefined ? null : readStat(pid, scratch, options);
  if (stat === null) return null;
  const ticks = startTicksFromStat(stat);
  if (ticks === null || ticks > (limit as number)) return null;
  if (pid !== membership.postmaster && statNumber(stat, 4, 0) !== membership.postmaster) return null;
  const owner = statSync(join(options.procRoot ?? "/proc", String(pid)), { throwIfNoEntry: false })?.uid;
  return owner === membership.uid ? ticks : null;
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
