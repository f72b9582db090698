/**
 * How much memory the cluster may use and how much it uses, as the OOM killer counts it: the limit of
 * the postmaster's memory cgroup, or the machine's memory when the cgroup sets none (or there is no
 * cgroup); the OOM kills the cgroup counted; the kernel's overcommit policy. A figure that cannot be
 * read is null (NULL), never a guess. The roots are parameters so that fixture trees stand in for
 * /proc and /sys/fs/cgroup.
 */
import { join } from "node:path";
import { ScratchBuffer } from "../proc/proc-file.js";
import { type CgroupVersion, readCgroupMemory } from "./cgroup-memory.js";
import { readSmallFile } from "./small-files.js";

export interface LimitRoots {
  /** "/proc" by default. */
  procRoot?: string;
  /** Where the cgroup hierarchies are mounted: "/sys/fs/cgroup" by default. */
  cgroupRoot?: string;
}

export interface MemoryLimits {
  /** Where limit and used come from: the cgroup, or /proc/meminfo when no cgroup limits the cluster. */
  limitSource: CgroupVersion | "meminfo";
  /** The postmaster's memory cgroup, as /proc/PID/cgroup names it; null when it has none. */
  cgroup: string | null;
  limitBytes: bigint | null;
  usedBytes: bigint | null;
  oomKills: bigint | null;
  /** vm.overcommit_memory: 0 heuristic, 1 always, 2 never (strict accounting). */
  overcommitMemory: number | null;
}

/** The value in bytes of a `Key: N kB` line of /proc/meminfo, or null. */
export function meminfoBytes(text: string | null, key: string): bigint | null {
  if (text === null) return null;
  const match = new RegExp(`^${key}:[ \\t]+([0-9]{1,16}) kB$`, "m").exec(text);
  return match === null ? null : BigInt(match[1] as string) * 1024n;
}

function overcommitFrom(text: string | null): number | null {
  const value = text?.trim();
  return value === "0" || value === "1" || value === "2" ? Number(value) : null;
}

/** The memory limits of the cluster whose postmaster is `postmasterPid`. */
export function readMemoryLimits(
  postmasterPid: number,
  roots: LimitRoots = {},
  scratch = new ScratchBuffer(4096),
): MemoryLimits {
  const procRoot = roots.procRoot ?? "/proc";
  const cgroupRoot = roots.cgroupRoot ?? "/sys/fs/cgroup";
  const cgroup = readCgroupMemory(postmasterPid, { procRoot, cgroupRoot }, scratch);
  const overcommitMemory = overcommitFrom(readSmallFile(join(procRoot, "sys/vm/overcommit_memory"), scratch));
  const oomKills = cgroup?.oomKills ?? null;
  if (cgroup !== null && cgroup.limit !== "unlimited") {
    return {
      limitSource: cgroup.version,
      cgroup: cgroup.path,
      limitBytes: cgroup.limit,
      usedBytes: cgroup.used,
      oomKills,
      overcommitMemory,
    };
  }
  const meminfo = readSmallFile(join(procRoot, "meminfo"), scratch);
  const total = meminfoBytes(meminfo, "MemTotal");
  const available = meminfoBytes(meminfo, "MemAvailable");
  return {
    limitSource: "meminfo",
    cgroup: cgroup?.path ?? null,
    limitBytes: total,
    usedBytes: total !== null && available !== null && available <= total ? total - available : null,
    oomKills,
    overcommitMemory,
  };
}
