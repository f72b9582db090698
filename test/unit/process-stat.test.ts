import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../../sidecar/cluster/cluster.js";
import { ScratchBuffer } from "../../sidecar/proc/proc-file.js";
import {
  type Membership,
  memberStart,
  parentPidFromStat,
  startTicksFromStat,
} from "../../sidecar/proc/process-stat.js";
import { BatchReader } from "../../sidecar/rows/batch-reader.js";
import { copyRows } from "../../sidecar/rows/copy-rows.js";
import { ReadPool } from "../../sidecar/rows/read-pool.js";
import { columns, fixture, rowsOf } from "../support/fixtures.js";

// A process whose pid a listed backend had: it started at tick 5000 after boot, 50 s, as a child of
// POSTMASTER (field 4 of its stat).
const PID = 4242;
const POSTMASTER = 1;
const STARTED_TICKS = 5_000;
const BOOT_S = 1_700_000_000;
const stat = (ticks: number) =>
  `${PID} (postgres: a (b) c) S 1 ${PID} ${PID} 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 ${ticks} 1000 10\n`;

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "pg-meminfo-start-"));
  await mkdir(join(root, String(PID)), { recursive: true });
  await mkdir(join(root, String(POSTMASTER)), { recursive: true });
  await writeFile(join(root, "stat"), `cpu  1 2 3\nbtime ${BOOT_S}\n`);
  await writeFile(join(root, String(PID), "stat"), stat(STARTED_TICKS));
  await writeFile(join(root, String(PID), "smaps_rollup"), fixture("kernel-6.18.smaps_rollup"));
  await writeFile(join(root, String(PID), "smaps"), fixture("kernel-6.18.smaps"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * Membership as the cluster computes it for a process listed as started at startedMs, the cluster's
 * postmaster being POSTMASTER and its OS user the one running the tests (who owns the fixture tree).
 */
async function membershipFor(startedMs: number, change: Partial<Membership> = {}): Promise<Membership> {
  const parents = async (pids: number[]) => pids.map(() => POSTMASTER);
  const db = { query: async () => ({ rows: [{ me: PID, started: 1, system_identifier: "7" }] }) };
  const cluster = new Cluster(db as never, parents, { procRoot: root });
  await cluster.identity();
  return { ...(await cluster.membership(new Map([[PID, startedMs]]))), ...change };
}

describe("pid reuse", () => {
  it("reads field 22 of /proc/PID/stat, even when the command name holds spaces and parentheses", () => {
    expect(startTicksFromStat(stat(123456))).toBe(123456);
    expect(startTicksFromStat("garbage")).toBeNull();
  });

  it("keeps the cluster's process listed at a pid and nothing else there", async () => {
    const sameStart = (BOOT_S + STARTED_TICKS / 100) * 1000;
    const member = (membership: Membership) => memberStart(PID, membership, new ScratchBuffer(64));
    expect(member(await membershipFor(sameStart))).toBe(STARTED_TICKS);
    // The listed backend started a minute before the process now at its pid.
    expect(member(await membershipFor(sameStart - 60_000))).toBeNull();
    // Not a child of the postmaster (a shell of the cluster's OS user, say).
    expect(member(await membershipFor(sameStart, { postmaster: 77 }))).toBeNull();
    // The postmaster itself may have any parent.
    expect(
      memberStart(
        PID,
        { postmaster: PID, uid: 0, latestStart: new Map([[PID, STARTED_TICKS]]), procRoot: root },
        new ScratchBuffer(64),
      ),
    ).toBe(STARTED_TICKS);
    // Another OS user's process.
    expect(member(await membershipFor(sameStart, { uid: 12345 }))).toBeNull();
    // A pid the cluster did not list.
    expect(member(await membershipFor(sameStart, { latestStart: new Map() }))).toBeNull();
  });

  it("drops the rows of a reused pid in the reader and on the streaming path", async () => {
    const cols = columns("summary", "pid,rss");
    const listedEarlier = await membershipFor((BOOT_S + STARTED_TICKS / 100) * 1000 - 60_000);
    const listedNow = await membershipFor((BOOT_S + STARTED_TICKS / 100) * 1000);
    const reader = new BatchReader();
    const read = (membership: Membership) =>
      rowsOf(reader.read("summary", [PID], cols, { procRoot: root, pageSize: 4096, membership }));
    expect(read(listedNow)).toHaveLength(1);
    expect(read(listedEarlier)).toEqual([]);

    const collect = async (membership: Membership) => {
      const out: string[] = [];
      for await (const chunk of copyRows(
        "smaps",
        [PID],
        columns("smaps", "pid"),
        { procRoot: root, pool: new ReadPool({ size: 0 }) },
        membership,
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
