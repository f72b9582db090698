/**
 * Telling a listed process from a later one that got its pid. The cluster lists each process with when
 * it started; a process whose start time (field 22 of /proc/PID/stat, clock ticks after boot) is later
 * than that, give or take a little, is another process, and its rows are not the listed one's.
 */
import { type ProcOptions, readProcFileInto, readProcFileSync, type ScratchBuffer } from "./proc-file.js";

/** Per pid: the latest start, in clock ticks after boot, of the process the cluster listed. */
export type StartLimits = ReadonlyMap<number, number>;

/** Field 22 of /proc/PID/stat: start time in clock ticks after boot. */
export function startTicksFromStat(stat: string): number | null {
  const close = stat.lastIndexOf(")");
  if (close === -1) return null;
  const ticks = Number(stat.slice(close + 2).split(" ")[19]);
  return Number.isFinite(ticks) ? ticks : null;
}

/** True when the process now at pid started after the one listed (null when it has exited). */
export async function isReused(
  pid: number,
  limits: StartLimits | undefined,
  options: ProcOptions,
  scratch: ScratchBuffer,
) {
  const limit = limits?.get(pid);
  if (limit === undefined) return false;
  let stat: Buffer | null;
  try {
    stat = await readProcFileInto(pid, "stat", scratch, options);
  } catch {
    return false; // unreadable: what was read is kept, as when it has gone
  }
  if (stat === null) return false; // gone: what was read before it went is its own
  const ticks = startTicksFromStat(stat.toString("latin1"));
  return ticks !== null && ticks > limit;
}

/** isReused for the synchronous readers of the read pool. */
export function isReusedSync(
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
