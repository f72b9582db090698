import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ProcUnreadableError } from "../../sidecar/errors.js";
import { pageSize } from "../../sidecar/proc/page-size.js";
import {
  memSizeKbFromStatm,
  type ProcOptions,
  readProcFileSync,
  ScratchBuffer,
} from "../../sidecar/proc/proc-file.js";
import { copyRows } from "../../sidecar/rows/copy-rows.js";
import { ReadPool } from "../../sidecar/rows/read-pool.js";
import { columns as cols, PROC_ROOT, rowsOf } from "../support/fixtures.js";

const pool = new ReadPool({ size: 0 });
const fixtures = { procRoot: PROC_ROOT, pool };

function readProcFile(pid: number, file: string, options: ProcOptions): Buffer | null {
  return readProcFileSync(pid, file, new ScratchBuffer(4096), options);
}

/** VmSize in kB as the summary's mem_size is read: statm's first field times the page size. */
function readMemSizeKb(pid: number, options: ProcOptions & { pageSize?: number }): string | null {
  const statm = readProcFile(pid, "statm", options);
  return statm === null ? null : memSizeKbFromStatm(statm, pid, options.pageSize ?? 4096, options);
}

async function collect(gen: AsyncGenerator<Buffer>): Promise<string> {
  let text = "";
  for await (const chunk of gen) text += chunk.toString();
  return text;
}

describe("proc-file on a fixture tree", () => {
  it("reads a process's smaps and smaps_rollup", async () => {
    expect(readProcFile(4242, "smaps", fixtures)?.toString()).toContain(
      "/usr/lib/postgresql/15/bin/postgres",
    );
    expect(readProcFile(4242, "smaps_rollup", fixtures)?.toString()).toContain("[rollup]");
  });

  it("grows a small read buffer to the whole file, for one-record files too", async () => {
    const whole = readFileSync(join(PROC_ROOT, "4242", "smaps"));
    const smaps = readProcFileSync(4242, "smaps", new ScratchBuffer(16), fixtures);
    expect(smaps?.equals(whole)).toBe(true);
    const rollup = readFileSync(join(PROC_ROOT, "4242", "smaps_rollup"));
    const small = readProcFileSync(4242, "smaps_rollup", new ScratchBuffer(16), fixtures);
    expect(small?.equals(rollup)).toBe(true);
  });

  it("reads this process's real stat, statm and smaps_rollup whole", async () => {
    const scratch = new ScratchBuffer(4096);
    for (const file of ["stat", "statm", "smaps_rollup"]) {
      const text = readProcFileSync(process.pid, file, scratch, {})?.toString();
      expect(text?.endsWith("\n")).toBe(true);
      expect(text?.split("\n").length).toBe(readFileSync(`/proc/self/${file}`, "utf8").split("\n").length);
    }
  });

  it("treats a missing process and an empty file as exited", async () => {
    expect(readProcFile(999999, "smaps", fixtures)).toBeNull();
    expect(readProcFile(4243, "smaps", fixtures)).toBeNull();
    expect(readMemSizeKb(4243, fixtures)).toBeNull();
  });

  it("computes mem_size from statm pages and the page size", async () => {
    expect(readMemSizeKb(4242, fixtures)).toBe("21612");
    expect(readMemSizeKb(4242, { procRoot: PROC_ROOT, pageSize: 65536 })).toBe("345792");
  });

  it("raises PROC_UNREADABLE for other errors and a malformed statm", async () => {
    expect(() => readProcFile(4244, "smaps", fixtures)).toThrow(
      expect.objectContaining({ code: "PROC_UNREADABLE", sqlstate: "58000" }),
    );
    expect(() => readMemSizeKb(4244, fixtures)).toThrow(ProcUnreadableError);
  });

  it("keeps 64-bit statm sizes exact", async () => {
    const root = await mkdtemp(join(tmpdir(), "pg-meminfo-proc-"));
    try {
      const dir = join(root, "7");
      await mkdir(dir);
      await writeFile(join(dir, "statm"), "9007199254740993 1 1 1 0 1 0\n");
      expect(readMemSizeKb(7, { procRoot: root, pageSize: 4096 })).toBe("36028797018963972");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("copyRows", () => {
  it("yields the smaps rows of each process and skips exited ones", async () => {
    const text = await collect(
      copyRows("smaps", [4243, 4242, 5000], cols("smaps", "pid,sys_path,pss"), fixtures),
    );
    expect(rowsOf(text)).toEqual([
      ["4242", "/usr/lib/postgresql/15/bin/postgres", "93"],
      ["4242", "[stack]", "36"],
    ]);
  });

  it("yields one summary row per process, with mem_size from statm", async () => {
    const text = await collect(
      copyRows("summary", [4242, 4243], cols("summary", "pid,mem_size,rss"), fixtures),
    );
    expect(rowsOf(text)).toEqual([["4242", "21612", "1000"]]);
  });

  it("does not read statm when mem_size is not requested", async () => {
    // 4244's statm is malformed: reading it would throw.
    const text = await collect(copyRows("summary", [4244], cols("summary", "pid,pss"), fixtures));
    expect(rowsOf(text)).toEqual([["4244", "400"]]);
  });

  it("throws PROC_UNREADABLE after the rows already yielded", async () => {
    const gen = copyRows("smaps", [4242, 4244], cols("smaps", "pid"), fixtures);
    expect((await gen.next()).value?.toString()).toBe("4242\n4242\n");
    await expect(gen.next()).rejects.toMatchObject({ code: "PROC_UNREADABLE" });
  });

  it("reads this process's real /proc files by default", async () => {
    const text = await collect(
      copyRows("summary", [process.pid], cols("summary", "pid,mem_size,rss"), { pool }),
    );
    const [row] = rowsOf(text);
    expect(row?.[0]).toBe(String(process.pid));
    const statmPages = Number(readFileSync("/proc/self/statm", "utf8").split(" ")[0]);
    // VmSize moves a little while the test runs; same order of magnitude is what can be asserted.
    expect(Number(row?.[1])).toBeGreaterThan(((statmPages * (await pageSize())) / 1024) * 0.5);
    expect(Number(row?.[2])).toBeGreaterThan(1000);
  });
});
