import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScratchBuffer } from "../../../sidecar/proc/proc-file.js";
import {
  FIGURES,
  R_FIGURES,
  R_SAMPLED_AT,
  R_START_TICKS,
  RECORD,
  readRollupRecords,
  rollupFigures,
} from "../../../sidecar/proc/rollup-figures.js";
import { fixture } from "../../support/fixtures.js";

function figuresOf(text: Buffer | string): Record<string, number> {
  const out = new Float64Array(FIGURES.length);
  rollupFigures(Buffer.from(text), out, 0);
  return Object.fromEntries(FIGURES.map((f, i) => [f, out[i] as number]));
}

describe("rollupFigures", () => {
  it("reads the figures of a kernel 6.18 smaps_rollup, in kB", () => {
    expect(figuresOf(fixture("kernel-6.18.smaps_rollup"))).toEqual({
      rss: 1772,
      pss: 282,
      pssAnon: 112,
      pssShmem: 0,
      uss: 48 + 112,
      anonymous: 112,
      swap: 0,
    });
  });

  it("has no pss_anon nor pss_shmem on a kernel without them (4.19)", () => {
    const f = figuresOf(fixture("kernel-4.19.smaps_rollup"));
    expect(f.pssAnon).toBeNaN();
    expect(f.pssShmem).toBeNaN();
    expect(f).toMatchObject({ rss: 1000, pss: 400, uss: 100, anonymous: 1000 });
  });

  it("takes the first of a repeated field, and leaves out what is not a number or cut short", () => {
    const f = figuresOf(
      "00400000-7ffd0000 ---p 00000000 00:00 0   [rollup]\n" +
        "Rss:  10 kB\nRss:  99 kB\nPss: lots kB\nPrivate_Clean: 1 kB\nPrivate_Dirty: 2 kB\n" +
        "Anonymous: 4\nSwap:   7 k",
    );
    expect(f.rss).toBe(10);
    expect(f.pss).toBeNaN();
    expect(f.uss).toBe(3);
    expect(f.anonymous).toBe(4);
    // The last line has no newline: cut by the kernel or a short read, so unknown.
    expect(f.swap).toBeNaN();
  });

  it("reads nothing from an empty or foreign buffer", () => {
    for (const text of ["", "\n\n", "not a rollup at all\n\u0000\u00ff\n"]) {
      expect(Object.values(figuresOf(text)).every(Number.isNaN)).toBe(true);
    }
  });
});

describe("readRollupRecords", () => {
  let root: string;
  const stat = (pid: number, ticks: number) =>
    `${pid} (postgres) S 1 ${pid} ${pid} 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 ${ticks} 1000 10\n`;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "pg-meminfo-rollups-"));
    for (const [pid, ticks] of [
      [100, 5000],
      [101, 9000],
      [102, 5000],
    ] as const) {
      await mkdir(join(root, String(pid)));
      await writeFile(join(root, String(pid), "smaps_rollup"), fixture("kernel-6.18.smaps_rollup"));
      await writeFile(join(root, String(pid), "stat"), stat(pid, ticks));
    }
    // 103 has exited between the listing and the read; 102's stat is gone (exited after its rollup).
    await rm(join(root, "102", "stat"));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("reads each process's figures and start time; leaves out exited ones and pids now another's", () => {
    const before = Date.now();
    // 101 was listed as started by tick 6000: the process at its pid now started at 9000, a later one.
    const listed = new Map([
      [100, 6000],
      [101, 6000],
      [102, 6000],
      [103, 6000],
    ]);
    const records = readRollupRecords(
      [100, 101, 102, 103],
      { postmaster: 1, uid: process.getuid?.() ?? 0, latestStart: listed, procRoot: root },
      new ScratchBuffer(64),
      new ScratchBuffer(64),
      { procRoot: root },
    );
    expect(records).toHaveLength(4 * RECORD);
    expect(records[R_START_TICKS]).toBe(5000);
    expect(records[R_SAMPLED_AT]).toBeGreaterThanOrEqual(before);
    expect(records[R_FIGURES]).toBe(1772);
    for (const skipped of [1, 2, 3]) expect(records[skipped * RECORD + R_START_TICKS]).toBe(-1);
  });
});
