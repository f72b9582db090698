/**
 * The sidecar's own cost, measured as we tell users to measure theirs: its USS (the memory the host
 * gets back when it exits, from its smaps, classified by the sidecar's own rules) and its CPU time.
 */
import { readFileSync } from "node:fs";
import { MEMORY_KINDS, sumByKind } from "../sidecar/proc/memory-kinds.js";

/** USS of a process in kB, from /proc/PID/smaps; 0 when it is gone. */
export function ussKb(pid: number): number {
  let smaps: Buffer;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`);
  } catch {
    return 0;
  }
  const totals = sumByKind(smaps);
  return MEMORY_KINDS.reduce((sum, kind) => sum + totals.get(kind, "uss"), 0);
}

/** User and system CPU of a process (all its threads), in ms; 0 when it is gone. */
export function cpuSplitMs(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 per second).
    return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** User plus system CPU of a process (all its threads), in ms. */
export function cpuMs(pid: number): number {
  const { user, system } = cpuSplitMs(pid);
  return user + system;
}

/** Samples a process's USS every `everyMs` until stopped; resolves with the largest, in kB. */
export function sampleUss(pid: number, everyMs = 20): { stop: () => number } {
  let peak = ussKb(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, ussKb(pid));
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, ussKb(pid));
    },
  };
}
