import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../../sidecar/cluster/cluster.js";
import { ScratchBuffer } from "../../sidecar/proc/proc-file.js";
import { isReused, parentPidFromStat, startTicksFromStat } from "../../sidecar/proc/process-stat.js";
import { BatchReader } from "../../sidecar/rows/batch-reader.js";
import { copyRows } from "../../sidecar/rows/copy-rows.js";
import { ReadPool } from "../../sidecar/rows/read-pool.js";
import { columns, fixture, rowsOf } from "../support/fixtures.js";

// A process whose pid a listed backend had: it started at tick 5000 after boot, 50 s.
const PID = 4242;
const STARTED_TICKS = 5_000;
const BOOT_S = 1_700_000_000;
const stat = (ticks: number) =>
  `${PID} (postgres: a (b) c) S 1 ${PID} ${PID} 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 ${ticks} 1000 10\n`;

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "pg-meminfo-start-"));
  await mkdir(join(root, String(PID)), { recursive: true });
  await writeFile(join(root, "stat"), `cpu  1 2 3\nbtime ${BOOT_S}\n`);
  await writeFile(join(root, String(PID), "stat"), stat(STARTED_TICKS));
  await writeFile(join(root, String(PID), "smaps_rollup"), fixture("kernel-6.18.smaps_rollup"));
  await writeFile(join(root, String(PID), "smaps"), fixture("kernel-6.18.smaps"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Limits as the cluster computes them for a process listed as started at startedMs. */
async function limitsFor(startedMs: number) {
  const noParents = async (pids: number[]) => pids.map(() => null);
  const cluster = new Cluster({ query: async () => ({ rows: [] }) } as never, noParents, { procRoot: root });
  return cluster.startLimits(new Map([[PID, startedMs]]));
}

describe("pid reuse", () => {
  it("reads field 22 of /proc/PID/stat, even when the command name holds spaces and parentheses", () => {
    expect(startTicksFromStat(stat(123456))).toBe(123456);
    expect(startTicksFromStat("garbage")).toBeNull();
  });

  it("keeps a process that started when the cluster says, and drops one that started later", async () => {
    const sameStart = (BOOT_S + STARTED_TICKS / 100) * 1000;
    expect(isReused(PID, await limitsFor(sameStart), new ScratchBuffer(64), { procRoot: root })).toBe(false);
    // The listed backend started a minute before the process now at its pid.
    expect(
      isReused(PID, await limitsFor(sameStart - 60_000), new ScratchBuffer(64), { procRoot: root }),
    ).toBe(true);
    // Without a limit (a pid the cluster did not list a start for) nothing is dropped.
    expect(isReused(PID, new Map(), new ScratchBuffer(64), { procRoot: root })).toBe(false);
  });

  it("drops the rows of a reused pid in the reader and on the streaming path", async () => {
    const cols = columns("summary", "pid,rss");
    const listedEarlier = await limitsFor((BOOT_S + STARTED_TICKS / 100) * 1000 - 60_000);
    const listedNow = await limitsFor((BOOT_S + STARTED_TICKS / 100) * 1000);
    const reader = new BatchReader();
    const read = (startLimits: Map<number, number> | ReadonlyMap<number, number>) =>
      rowsOf(reader.read("summary", [PID], cols, { procRoot: root, pageSize: 4096, startLimits }));
    expect(read(listedNow)).toHaveLength(1);
    expect(read(listedEarlier)).toEqual([]);

    const collect = async (limits: ReadonlyMap<number, number>) => {
      const out: string[] = [];
      for await (const chunk of copyRows(
        "smaps",
        [PID],
        columns("smaps", "pid"),
        { procRoot: root, pool: new ReadPool({ size: 0 }) },
        limits,
      )) {
        out.push(chunk.toString());
      }
      return out.join("");
    };
    expect(rowsOf(await collect(listedNow)).length).toBeGreaterThan(10);
    expect(await collect(listedEarlier)).toBe("");
  });
});

describe("parentPidFromStat", () => {
  it("reads the parent pid of a stat line whose command has spaces and parentheses", () => {
    expect(parentPidFromStat("123 (postgres: a (b) c) S 77 123 123 0")).toBe(77);
    expect(parentPidFromStat("garbage")).toBeNull();
  });
});
