import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { readProcFileSync, ScratchBuffer } from "../../sidecar/proc/proc-file.js";
import { BatchReader } from "../../sidecar/rows/batch-reader.js";
import { type CopyOptions, copyRows } from "../../sidecar/rows/copy-rows.js";
import { ReadPool } from "../../sidecar/rows/read-pool.js";
import { ALL_SMAPS, ALL_SUMMARY, columns as cols, PROC_ROOT, rowsOf } from "../support/fixtures.js";

/** One process of the fixture tree, summarized. */
const SUMMARY_OF_4242 = {
  kind: "summary" as const,
  pids: [4242],
  columns: ALL_SUMMARY,
  procRoot: PROC_ROOT,
  pageSize: 4096,
};

const fixtures = { procRoot: PROC_ROOT, pageSize: 4096 };

// The threads run the compiled worker: `npm test` builds before vitest (or run `npm run build`).
const WORKER = new URL("../../dist/sidecar/rows/read-worker.js", import.meta.url);

async function collect(gen: AsyncGenerator<Buffer>): Promise<string> {
  let text = "";
  for await (const chunk of gen) text += chunk.toString();
  return text;
}

describe("readProcFileSync", () => {
  it("reads a file larger than the scratch buffer, growing it", () => {
    const scratch = new ScratchBuffer(64);
    const buf = readProcFileSync(4242, "smaps", scratch, fixtures);
    expect(buf?.toString()).toContain("/usr/lib/postgresql/15/bin/postgres");
    expect(scratch.buf.length).toBeGreaterThanOrEqual(buf?.length ?? 0);
  });

  it("reads a missing process and an empty file as exited", () => {
    const scratch = new ScratchBuffer();
    expect(readProcFileSync(999999, "smaps", scratch, fixtures)).toBeNull();
    expect(readProcFileSync(4243, "smaps", scratch, fixtures)).toBeNull();
  });

  it("raises PROC_UNREADABLE for other errors", () => {
    expect(() => readProcFileSync(4244, "smaps", new ScratchBuffer(), fixtures)).toThrow(
      expect.objectContaining({ code: "PROC_UNREADABLE" }),
    );
  });
});

describe("BatchReader", () => {
  it("gives the same rows as the in-process reader, in the order of the pids", async () => {
    const reader = new BatchReader();
    for (const [kind, columns] of [
      ["smaps", ALL_SMAPS],
      ["summary", ALL_SUMMARY],
    ] as const) {
      const pids = [4243, 4242, 5000, 4242];
      const expected = await collect(copyRows(kind, pids, columns, fixtures));
      const rows = reader.read(kind, pids, columns, fixtures);
      expect(rows.toString()).toBe(expected);
      expect(rowsOf(rows).length).toBeGreaterThan(0);
      // Its own memory, not a slice of a pool: it can be transferred to another thread.
      expect(rows.byteOffset).toBe(0);
      expect(rows.buffer.byteLength).toBe(rows.length);
    }
  });

  it("reuses its buffers between batches without mixing their rows", () => {
    const reader = new BatchReader();
    const first = reader.read("smaps", [4242], cols("smaps", "pid,pss"), fixtures);
    const copy = Buffer.from(first);
    reader.read("summary", [4242], cols("summary", "pid,rss"), fixtures);
    expect(first.equals(copy)).toBe(true);
  });
});

describe("ReadPool", () => {
  const pools: ReadPool[] = [];
  const pool = (size: number, workerUrl: URL = WORKER) => {
    const p = new ReadPool({ size, workerUrl });
    pools.push(p);
    return p;
  };
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it("has the compiled worker to run", () => {
    expect(existsSync(WORKER), "run `npm run build` first").toBe(true);
  });

  it("gives the same rows as the in-process reader, in pid order, each process contiguous", async () => {
    const threads = pool(2);
    expect(threads.threaded).toBe(true);
    const pids = Array.from({ length: 60 }, (_, i) => [4242, 4243, 5000][i % 3] as number);
    for (const [kind, columns] of [
      ["smaps", ALL_SMAPS],
      ["summary", ALL_SUMMARY],
    ] as const) {
      const options: CopyOptions = { ...fixtures, pool: threads };
      expect(await collect(copyRows(kind, pids, columns, options))).toBe(
        await collect(copyRows(kind, pids, columns, fixtures)),
      );
    }
    // Never more threads than its size, however many batches were queued.
    expect(threads.threads).toBeLessThanOrEqual(2);
  });

  it("reads the real /proc of this process", async () => {
    const text = await collect(
      copyRows("smaps", [process.pid], cols("smaps", "pid,sys_path"), { pool: pool(1) }),
    );
    expect(rowsOf(text).some((row) => row[1]?.includes("node"))).toBe(true);
  });

  it("throws PROC_UNREADABLE after the rows of the processes before", async () => {
    const gen = copyRows("smaps", [4242, 4244, 4242, 4242, 4242], cols("smaps", "pid"), {
      ...fixtures,
      pool: pool(2),
    });
    expect((await gen.next()).value?.toString()).toBe("4242\n4242\n");
    await expect(gen.next()).rejects.toMatchObject({ code: "PROC_UNREADABLE", sqlstate: "58000" });
  });

  it("reads in-process when its size is 0 or no compiled worker exists", async () => {
    expect(pool(0).threaded).toBe(false);
    expect(pool(2, new URL("file:///nonexistent/read-worker.js")).threaded).toBe(false);
    const text = await collect(
      copyRows("summary", [4242], cols("summary", "pid,rss"), { ...fixtures, pool: pool(0) }),
    );
    expect(rowsOf(text)).toEqual([["4242", "1000"]]);
  });

  it("fails the batch of a thread that dies, and starts another for the next", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pg-meminfo-pool-"));
    const script = join(dir, "dying-worker.mjs");
    await writeFile(
      script,
      'import { parentPort } from "node:worker_threads";\nparentPort.on("message", () => process.exit(3));\n',
    );
    const dying = pool(1, pathToFileURL(script));
    try {
      await expect(dying.run(SUMMARY_OF_4242)).rejects.toMatchObject({ code: "INTERNAL" });
      await expect(dying.run(SUMMARY_OF_4242)).rejects.toMatchObject({ code: "INTERNAL" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses work once closed", async () => {
    const closed = pool(1);
    await closed.close();
    expect(closed.threaded).toBe(false);
    await expect(closed.run(SUMMARY_OF_4242)).rejects.toMatchObject({ code: "INTERNAL" });
  });
});
