/**
 * The memory cgroup a process lives in, from /proc/PID/cgroup, and what that cgroup's files say: its
 * limit, its usage and the number of OOM kills in it. cgroup v1 (a `N:memory:/path` line, the memory
 * hierarchy mounted at <cgroup root>/memory) is taken when the process has one, since the memory
 * controller can be attached to one hierarchy only; otherwise cgroup v2 (`0::/path` under the cgroup
 * root).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ScratchBuffer } from "../proc/proc-file.js";
import { bigintFrom, keyedValue, readSmallFile } from "./small-files.js";

export type CgroupVersion = "cgroup v1" | "cgroup v2";

export interface CgroupMemory {
  version: CgroupVersion;
  /** The path /proc/PID/cgroup gives (relative to the hierarchy's root). */
  path: string;
  /** The limit in bytes; "unlimited" when the cgroup sets none; null when the file cannot be read. */
  limit: bigint | "unlimited" | null;
  /** Bytes charged to the cgroup, or null. */
  used: bigint | null;
  /** Processes of the cgroup the OOM killer took, or null where the kernel does not count them. */
  oomKills: bigint | null;
}

/**
 * cgroup v1 writes "no limit" as the largest multiple of the page size below 2^63
 * (9223372036854771712 with 4 kB pages); any value within 64 kB (the largest page) of 2^63 is that.
 */
const V1_UNLIMITED = 2n ** 63n - 65536n;

interface Membership {
  version: CgroupVersion;
  path: string;
}

/** The memory cgroup named by the text of /proc/PID/cgroup, or null when it names none. */
export function memoryCgroupOf(text: string): Membership | null {
  let v2: Membership | null = null;
  for (const line of text.split("\n")) {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const id = line.slice(0, first);
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (!path.startsWith("/")) continue;
    if (controllers.split(",").includes("memory")) return { version: "cgroup v1", path };
    if (id === "0" && controllers === "") v2 = { version: "cgroup v2", path };
  }
  return v2;
}

function trimmed(text: string | null): string | null {
  return text === null ? null : text.trim();
}

/**
 * The memory figures of the cgroup of process `pid`, read under `procRoot` and `cgroupRoot`; null
 * when the process names no memory cgroup. A cgroup without the limit file (v2 without the memory
 * controller, the root cgroup) sets no limit; one whose limit file cannot be read has a null limit.
 */
export function readCgroupMemory(
  pid: number,
  roots: { procRoot: string; cgroupRoot: string },
  scratch: ScratchBuffer,
): CgroupMemory | null {
  const membership = memoryCgroupOf(
    readSmallFile(join(roots.procRoot, String(pid), "cgroup"), scratch) ?? "",
  );
  if (membership === null) return null;
  const { version, path } = membership;
  const dir = version === "cgroup v1" ? join(roots.cgroupRoot, "memory", path) : join(roots.cgroupRoot, path);
  const file = (name: string) => readSmallFile(join(dir, name), scratch);
  const limitFile = version === "cgroup v2" ? "memory.max" : "memory.limit_in_bytes";
  if (!existsSync(join(dir, limitFile)))
    return { version, path, limit: "unlimited", used: null, oomKills: null };
  if (version === "cgroup v2") {
    const max = trimmed(file("memory.max"));
    return {
      version,
      path,
      limit: max === "max" ? "unlimited" : bigintFrom(max),
      used: bigintFrom(trimmed(file("memory.current"))),
      oomKills: keyedValue(file("memory.events"), "oom_kill"),
    };
  }
  const limit = bigintFrom(trimmed(file("memory.limit_in_bytes")));
  return {
    version,
    path,
    limit: limit !== null && limit >= V1_UNLIMITED ? "unlimited" : limit,
    used: bigintFrom(trimmed(file("memory.usage_in_bytes"))),
    oomKills: keyedValue(file("memory.oom_control"), "oom_kill"),
  };
}
