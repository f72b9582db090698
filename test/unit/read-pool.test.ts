import { existsSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { BY_KIND_COLUMNS } from "../../sidecar/proc/columns.js";
import { readProcFileSync, ScratchBuffer } from "../../sidecar/proc/proc-file.js";
import { BatchReader } from "../../sidecar/rows/batch-reader.js";
import { copyRows } from "../../sidecar/rows/copy-rows.js";
import { ReadPool } from "../../sidecar/rows/read-pool.js";
import { parentsFrom } from "../../sidecar/rows/read-task.js";
import { COMPILED_WORKER, compiledPool } from "../support/compiled-pool.js";
import { ALL_SMAPS, ALL_SUMMARY, columns as cols, PROC_ROOT, rowsOf } from "../support/fixtures.js";

/** One process of the fixture tree, summarized. */
const SUMMARY_OF_4242 = {
  type: "rows" as const,
  source: "summary" as const,
  pids: [4242],
  columns: ALL_SUMMARY,
  procRoot: PROC_ROOT,
  pageSize: 4096,
};

const fixtures = { procRoot: PROC_ROOT, pageSize: 4096 };

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
  it("gives the rows of the streaming path, in the order of the pids, for every source", async () => {
    const reader = new BatchReader();
    const inline = new ReadPool({ size: 0 });
    for (const [source, columns] of [
      ["smaps", ALL_SMAPS],
      ["summary", ALL_SUMMARY],
      ["by_kind", BY_KIND_COLUMNS],
    ] as const) {
      const pids = [4243, 4242, 5000, 4242];
      const expected = await collect(copyRows(source, pids, columns, { ...fixtures, pool: inline }));
      const rows = reader.read(source, pids, columns, fixtures);
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
  /** A pool of the compiled sidecar: its threads run the compiled worker beside it. */
  const pool = async (size: number, queue?: number): Promise<ReadPool> => {
    const p = await compiledPool(size, queue);
    pools.push(p);
    return p;
  };
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it("has the compiled worker to run", () => {
    expect(existsSync(COMPILED_WORKER), "run `npm run build` first").toBe(true);
  });

  it("gives the same rows on threads as in the main thread, in pid order, each process contiguous", async () => {
    const threads = await pool(2);
    expect(threads.description).toBe("2 worker threads");
    const inline = new ReadPool({ size: 0 });
    expect(inline.description).toBe("the main thread");
    const pids = Array.from({ length: 60 }, (_, i) => [4242, 4243, 5000][i % 3] as number);
    for (const [source, columns] of [
      ["smaps", ALL_SMAPS],
      ["summary", ALL_SUMMARY],
      ["by_kind", BY_KIND_COLUMNS],
    ] as const) {
      const onThreads = await collect(copyRows(source, pids, columns, { ...fixtures, pool: threads }));
      expect(onThreads).toBe(await collect(copyRows(source, pids, columns, { ...fixtures, pool: inline })));
      expect(rowsOf(onThreads).length).toBeGreaterThan(0);
    }
    // Never more threads than its size, however many batches were queued.
    expect(threads.threads).toBeLessThanOrEqual(2);
  });

  it("reads the real /proc of this process", async () => {
    const text = await collect(
      copyRows("smaps", [process.pid], cols("smaps", "pid,sys_path"), { pool: await pool(1) }),
    );
    expect(rowsOf(text).some((row) => row[1]?.includes("node"))).toBe(true);
  });

  it("throws PROC_UNREADABLE after the rows of the processes before", async () => {
    for (const size of [0, 2]) {
      const gen = copyRows("smaps", [4242, 4244, 4242, 4242, 4242], cols("smaps", "pid"), {
        ...fixtures,
        pool: size === 0 ? new ReadPool({ size: 0 }) : await pool(size),
      });
      expect((await gen.next()).value?.toString()).toBe("4242\n4242\n");
      await expect(gen.next()).rejects.toMatchObject({ code: "PROC_UNREADABLE", sqlstate: "58000" });
    }
  });

  it("refuses to start threads without the compiled worker, and says how to build it", () => {
    // Run from the TypeScript sources there is no read-worker.js beside read-pool.ts.
    expect(() => new ReadPool({ size: 2 })).toThrow(
      expect.objectContaining({ code: "INTERNAL", hint: expect.stringContaining("npm run build") }),
    );
  });

  it("never runs more tasks at once than its size, across requests", async () => {
    const one = await pool(1);
    const order: number[] = [];
    const runs = [1, 2, 3].map((n) =>
      one.run({ type: "parents", pids: [process.pid], procRoot: undefined }).then(() => order.push(n)),
    );
    expect(one.waiting).toBe(2);
    await Promise.all(runs);
    expect(order).toEqual([1, 2, 3]);
  });

  it("refuses a request's first task with BUSY (503, 53300) once the queue is full, never a later one", async () => {
    const one = await pool(1, 1);
    const task = { type: "parents" as const, pids: [process.pid], procRoot: undefined };
    const running = one.run(task, { admit: true });
    const queued = one.run(task, { admit: true });
    await expect(one.run(task, { admit: true })).rejects.toMatchObject({
      code: "BUSY",
      statusCode: 503,
      sqlstate: "53300",
    });
    // A request already being served always waits its turn.
    const later = one.run(task);
    await Promise.all([running, queued, later]);
  });

  it("drops a queued task whose signal aborts, and rejects at once for an aborted signal", async () => {
    const one = await pool(1);
    const task = { type: "parents" as const, pids: [process.pid], procRoot: undefined };
    const running = one.run(task);
    const leaving = new AbortController();
    const dropped = one.run(task, { signal: leaving.signal });
    expect(one.waiting).toBe(1);
    leaving.abort(new Error("gone"));
    await expect(dropped).rejects.toThrow("gone");
    expect(one.waiting).toBe(0);
    await expect(one.run(task, { signal: leaving.signal })).rejects.toThrow("gone");
    await running;
  });

  it("reads the parents of pids, null for one that has gone", async () => {
    const parents = parentsFrom(
      await (await pool(1)).run({ type: "parents", pids: [process.pid, 999999999], procRoot: undefined }),
    );
    expect(parents).toEqual([process.ppid, null]);
  });

  it("refuses work once closed", async () => {
    const closed = await pool(1);
    await closed.close();
    await expect(closed.run({ ...SUMMARY_OF_4242 })).rejects.toMatchObject({ code: "INTERNAL" });
  });
});
