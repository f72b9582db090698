import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { memoryCgroupOf } from "../../sidecar/limits/cgroup-memory.js";
import { LIMIT_COLUMNS, limitsCopyText } from "../../sidecar/limits/limit-columns.js";
import { meminfoBytes, readMemoryLimits } from "../../sidecar/limits/memory-limits.js";

const TREES = fileURLToPath(new URL("../fixtures/limits/", import.meta.url));

/** The limits of "postmaster" 100 in a fixture tree of /proc and /sys/fs/cgroup. */
function limitsIn(tree: string) {
  return readMemoryLimits(100, { procRoot: `${TREES}${tree}/proc`, cgroupRoot: `${TREES}${tree}/cgroup` });
}

const MEM_TOTAL = 16337620n * 1024n;
const MEM_AVAILABLE = 10487304n * 1024n;

describe("readMemoryLimits", () => {
  it("cgroup v2 with a limit: memory.max, memory.current and the oom_kill of memory.events", () => {
    expect(limitsIn("v2-limited")).toEqual({
      limitSource: "cgroup v2",
      cgroup: "/system.slice/postgresql@15-main.service",
      limitBytes: 4294967296n,
      usedBytes: 3221225472n,
      oomKills: 2n,
      overcommitMemory: 2,
    });
  });

  it("cgroup v2 with memory.max \"max\": the machine's MemTotal and MemTotal - MemAvailable, the cgroup's kills", () => {
    expect(limitsIn("v2-max")).toEqual({
      limitSource: "meminfo",
      cgroup: "/docker/4f1c",
      limitBytes: MEM_TOTAL,
      usedBytes: MEM_TOTAL - MEM_AVAILABLE,
      oomKills: 0n,
      overcommitMemory: 0,
    });
  });

  it("cgroup v1: the memory hierarchy's limit_in_bytes, usage_in_bytes and the oom_kill of oom_control", () => {
    expect(limitsIn("v1")).toEqual({
      limitSource: "cgroup v1",
      cgroup: "/process_api/18f2d1cd",
      limitBytes: 2147483648n,
      usedBytes: 232845312n,
      oomKills: 5n,
      overcommitMemory: 1,
    });
  });

  it("cgroup v1 without a limit (the page-rounded 2^63) is the machine's memory; no oom_kill line is NULL", () => {
    expect(limitsIn("v1-unlimited")).toEqual({
      limitSource: "meminfo",
      cgroup: "/user.slice",
      limitBytes: MEM_TOTAL,
      usedBytes: MEM_TOTAL - MEM_AVAILABLE,
      oomKills: null,
      overcommitMemory: 0,
    });
  });

  it("no memory cgroup at all, or one without the memory controller: MemTotal figures", () => {
    for (const tree of ["none", "v2-no-controller"]) {
      expect(limitsIn(tree), tree).toMatchObject({
        limitSource: "meminfo",
        limitBytes: MEM_TOTAL,
        usedBytes: MEM_TOTAL - MEM_AVAILABLE,
        oomKills: null,
      });
    }
    expect(limitsIn("none").cgroup).toBeNull();
    expect(limitsIn("v2-no-controller").cgroup).toBe("/init.scope");
  });

  it("garbage values are NULL, never a guess", () => {
    expect(limitsIn("hostile")).toEqual({
      limitSource: "cgroup v2",
      cgroup: "/pg",
      limitBytes: null,
      usedBytes: null,
      oomKills: null,
      overcommitMemory: null,
    });
    expect(limitsIn("hostile-v1")).toEqual({
      limitSource: "cgroup v1",
      cgroup: "/pg",
      limitBytes: null,
      usedBytes: null,
      oomKills: null,
      overcommitMemory: null,
    });
  });

  it("a process that does not exist has no cgroup; the machine's figures remain", () => {
    const limits = readMemoryLimits(999, { procRoot: `${TREES}v1/proc`, cgroupRoot: `${TREES}v1/cgroup` });
    expect(limits).toMatchObject({ limitSource: "meminfo", cgroup: null, limitBytes: MEM_TOTAL });
  });
});

describe("memoryCgroupOf", () => {
  it("prefers the v1 memory line over the v2 line of a hybrid layout, and skips broken lines", () => {
    expect(memoryCgroupOf("4:memory:/a\n0::/b\n")).toEqual({ version: "cgroup v1", path: "/a" });
    expect(memoryCgroupOf("0::/b\n5:cpu,memory:/c\n")).toEqual({ version: "cgroup v1", path: "/c" });
    expect(memoryCgroupOf("0::/b\n")).toEqual({ version: "cgroup v2", path: "/b" });
    expect(memoryCgroupOf("garbage\n4:memory:relative\n1:cpu:/x\n")).toBeNull();
  });
});

describe("meminfoBytes", () => {
  it("reads kB lines as bytes; a missing or malformed line is NULL", () => {
    expect(meminfoBytes("MemTotal:  10 kB\n", "MemTotal")).toBe(10240n);
    expect(meminfoBytes("MemTotal:  10\n", "MemTotal")).toBeNull();
    expect(meminfoBytes("MemTotalX:  10 kB\n", "MemTotal")).toBeNull();
    expect(meminfoBytes(null, "MemTotal")).toBeNull();
  });
});

describe("limitsCopyText", () => {
  it("writes the one row in the requested order, NULL as \\N, the cgroup path escaped", () => {
    const limits = { ...limitsIn("v1"), cgroup: "/a\tb\\c", oomKills: null };
    const order = ["oom_kills", "cgroup", "memory_limit_bytes", "limit_source"].map(
      (name) => LIMIT_COLUMNS.find((c) => c.name === name) as (typeof LIMIT_COLUMNS)[number],
    );
    expect(limitsCopyText(limits, order)).toBe("\\N\t/a\\tb\\\\c\t2147483648\tcgroup v1\n");
  });
});
