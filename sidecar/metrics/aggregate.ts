/**
 * A round's processes summed by their (capped) labels, and the processes with the most memory of
 * their own: what pg_meminfo_memory_bytes, pg_meminfo_processes and the per-pid series show.
 */
import type { ProcessSample } from "../history/sample.js";
import { type LabelSet, labelsOf } from "./labels.js";

/** The memtype label: which figure of a process. */
export const MEMTYPES = ["uss", "pss", "rss", "anon", "swap", "shared_buffers"] as const;
export type Memtype = (typeof MEMTYPES)[number];

/** A process's figure of each memtype, in bytes. shared_buffers is its proportional share of shared memory. */
export function memoryOf(p: ProcessSample): Record<Memtype, number> {
  return {
    uss: p.uss,
    pss: p.pss,
    rss: p.rss,
    anon: p.anonymous,
    swap: p.swap,
    shared_buffers: p.pssShmem,
  };
}

export interface LabelGroup {
  labels: LabelSet;
  processes: number;
  /**
   * The sums, over the processes whose figure is known: a figure the kernel does not print (NaN in the
   * sample) adds nothing. A memtype no process of the group has a figure for is absent.
   */
  bytes: Partial<Record<Memtype, number>>;
}

/** The processes summed by label set; `sets` are their capped labels, in their order (labels.ts). */
export function groupByLabels(processes: readonly ProcessSample[], sets: readonly LabelSet[]): LabelGroup[] {
  const groups = new Map<string, LabelGroup>();
  for (const [i, p] of processes.entries()) {
    const labels = sets[i] as LabelSet;
    // JSON keeps values apart whatever characters they hold.
    const key = JSON.stringify([
      labels.backend_type,
      labels.datname,
      labels.usename,
      labels.application_name,
    ]);
    let group = groups.get(key);
    if (group === undefined) {
      group = {
        labels,
        processes: 0,
        bytes: {},
      };
      groups.set(key, group);
    }
    group.processes += 1;
    const bytes = memoryOf(p);
    for (const memtype of MEMTYPES) {
      const value = bytes[memtype];
      if (Number.isFinite(value)) group.bytes[memtype] = (group.bytes[memtype] ?? 0) + value;
    }
  }
  return [...groups.values()];
}

export interface TopProcess {
  pid: number;
  /** backend_start as ISO 8601 in UTC, "" when unknown. */
  backendStart: string;
  labels: LabelSet;
  /** Its figures; NaN where the kernel printed none. */
  bytes: Record<Memtype, number>;
}

/** The `n` processes with the most memory of their own (USS), most first; pid breaks ties. */
export function topProcesses(processes: readonly ProcessSample[], n: number): TopProcess[] {
  if (n <= 0) return [];
  return [...processes]
    .sort((a, b) => finite(b.uss) - finite(a.uss) || a.pid - b.pid)
    .slice(0, n)
    .map((p) => ({
      pid: p.pid,
      backendStart: isoTime(p.labels.backendStart),
      labels: labelsOf(p.labels),
      bytes: memoryOf(p),
    }));
}

function isoTime(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "";
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

function finite(value: number): number {
  return Number.isFinite(value) ? value : -1;
}
