import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../../../sidecar/cluster/cluster.js";
import type { Queryable } from "../../../sidecar/cluster/queryable.js";
import { HistoryRing, MIN_HISTORY_BYTES } from "../../../sidecar/history/ring.js";
import { Sampler } from "../../../sidecar/history/sampler.js";
import { ReadPool } from "../../../sidecar/rows/read-pool.js";
import { compiledPool } from "../../support/compiled-pool.js";
import { fixture } from "../../support/fixtures.js";

const BOOT_S = 1_700_000_000;
const POSTMASTER = 99;
const START = (BOOT_S + 100) * 1000;

/** A fake cluster connection: pg_backend_pid() and pg_stat_activity, or a failure. */
class FakeDb implements Queryable {
  queries = 0;
  failure: Error | null = null;
  pids = [100, 101, 102];

  async query<R extends Record<string, unknown>>(text: string): Promise<{ rows: R[] }> {
    this.queries++;
    if (this.failure !== null) throw this.failure;
    if (text.includes("AS me")) return { rows: [{ me: 100 }] as unknown as R[] };
    const rows = this.pids.map((pid) => ({
      pid,
      backend_type: "client backend",
      datname: "shop",
      usename: "web",
      application_name: `app-${pid}`,
      backend_start_us: String((START + pid) * 1000),
    }));
    rows.push({
      pid: null as unknown as number,
      backend_type: "postmaster",
      datname: null as unknown as string,
      usename: null as unknown as string,
      application_name: null as unknown as string,
      backend_start_us: String(START * 1000),
      shared_memory_bytes: String(143 * 1024 * 1024),
    } as (typeof rows)[number]);
    return { rows: rows as unknown as R[] };
  }
}

let root: string;
const pools: ReadPool[] = [];
const samplers: Sampler[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "pg-meminfo-sampler-"));
  await writeFile(join(root, "stat"), `cpu  1 2 3\nbtime ${BOOT_S}\n`);
  // The postmaster and two backends, started at tick 10000 (100 s after boot); 102 has exited.
  // 200 to 239: a cluster of several batches.
  for (const pid of [POSTMASTER, 100, 101, ...Array.from({ length: 40 }, (_, i) => 200 + i)]) {
    await mkdir(join(root, String(pid)));
    await writeFile(join(root, String(pid), "smaps_rollup"), fixture("kernel-6.18.smaps_rollup"));
    await writeFile(
      join(root, String(pid), "stat"),
      // Children of the postmaster, as the sampler checks (proc/process-stat.ts).
      `${pid} (postgres) S ${pid === POSTMASTER ? 1 : POSTMASTER} ${pid} ${pid} 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 10000 1000 10\n`,
    );
  }
});

afterEach(async () => {
  for (const s of samplers.splice(0)) await s.stop();
  for (const p of pools.splice(0)) await p.close();
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** What the sampler logged, level and message. */
const logged: string[] = [];
const log = {
  info: (_: object, msg: string) => logged.push(`info ${msg}`),
  warn: (_: object, msg: string) => logged.push(`warn ${msg}`),
  debug: (_: object, msg: string) => logged.push(`debug ${msg}`),
};

function sampler(intervalMs: number, db = new FakeDb(), pool = new ReadPool({ size: 0 })) {
  pools.push(pool);
  const cluster = new Cluster(db, async (pids) => pids.map(() => POSTMASTER), { procRoot: root });
  const ring = new HistoryRing(MIN_HISTORY_BYTES);
  const s = new Sampler({ db, pool, cluster, intervalMs, ring, procRoot: root, log });
  samplers.push(s);
  return { s, db, pool };
}

describe("the sampler", () => {
  it("reads nothing and asks nothing with an interval of 0", async () => {
    const { s, db, pool } = sampler(0);
    s.start();
    await sleep(300);
    expect(pool.tasksStarted).toBe(0);
    expect(db.queries).toBe(0);
    expect(s.health()).toEqual({
      intervalMs: 0,
      latest: null,
      rounds: 0,
      failures: { database: 0, proc: 0, busy: 0 },
      lastFailure: null,
    });
    expect(s.growth(600_000)).toEqual([]);
  });

  it("samples every process of the cluster with its labels and start time, through the read pool", async () => {
    const { s, pool } = sampler(1000);
    const round = await s.round();
    expect(pool.tasksStarted).toBe(1);
    expect(round?.processes.map((p) => p.pid)).toEqual([POSTMASTER, 100, 101]);
    const [postmaster, backend] = round?.processes ?? [];
    expect(postmaster?.labels).toEqual({
      backendType: "postmaster",
      datname: null,
      usename: null,
      applicationName: null,
      backendStart: START,
    });
    expect(backend).toMatchObject({
      pid: 100,
      startTicks: 10000,
      rss: 1772 * 1024,
      pss: 282 * 1024,
      pssAnon: 112 * 1024,
      uss: 160 * 1024,
      labels: { backendType: "client backend", applicationName: "app-100", backendStart: START + 100 },
    });
    expect(s.ring.size).toBe(3);
    expect(s.health()).toMatchObject({ rounds: 1, latest: round, lastFailure: null });
    // shared_memory_size comes with the postmaster's row, for the metrics.
    expect(round?.sharedMemoryBytes).toBe(143 * 1024 * 1024);
  });

  it("leaves out a process whose pid now belongs to one started after the listed one", async () => {
    const db = new FakeDb();
    const { s } = sampler(1000, db);
    // 101 listed as started 50 s after boot: the process at that pid started at 100 s, a later one.
    const query = db.query.bind(db);
    db.query = async <R extends Record<string, unknown>>(text: string) => {
      const result = await query<R>(text);
      for (const row of result.rows as Record<string, unknown>[]) {
        if (row.pid === 101) row.backend_start_us = String((BOOT_S + 50) * 1_000_000);
      }
      return result;
    };
    const round = await s.round();
    expect(round?.processes.map((p) => p.pid)).toEqual([POSTMASTER, 100]);
  });

  it("counts a failed round by reason and goes on: database, /proc, busy", async () => {
    const { s, db } = sampler(1000);
    db.failure = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    logged.length = 0;
    expect(await s.round()).toBeNull();
    expect(s.health()).toMatchObject({
      rounds: 0,
      failures: { database: 1, proc: 0, busy: 0 },
      lastFailure: { reason: "database", message: "could not reach the cluster to find its postmaster" },
    });
    db.failure = null;
    // A rollup that cannot be read for another reason than the process having gone (its stat is there).
    const rollup = join(root, "100", "smaps_rollup");
    await rm(rollup);
    await mkdir(rollup);
    try {
      expect(await s.round()).toBeNull();
      expect(s.health().failures.proc).toBe(1);
      expect(s.health().lastFailure?.message).toMatch(/could not read .*100\/smaps_rollup/);
    } finally {
      await rm(rollup, { recursive: true });
      await writeFile(rollup, fixture("kernel-6.18.smaps_rollup"));
    }
    expect(await s.round()).not.toBeNull();
    expect(s.health()).toMatchObject({
      rounds: 1,
      failures: { database: 1, proc: 1, busy: 0 },
      lastFailure: null,
    });
    // A run of failures is one warning; the way back is said once.
    expect(logged.filter((l) => !l.endsWith("sample round"))).toEqual([
      "warn a sample round failed",
      "debug a sample round failed",
      "info sampling works again",
    ]);

    const busy = sampler(1000, new FakeDb(), new ReadPool({ size: 0, queue: 0 })).s;
    expect(await busy.round()).toBeNull();
    expect(busy.health().failures).toEqual({ database: 0, proc: 0, busy: 1 });
  });

  it("reads one batch at a time: one read thread at most, the others left to queries", async () => {
    const db = new FakeDb();
    db.pids = Array.from({ length: 40 }, (_, i) => 200 + i);
    const { s, pool } = sampler(1000, db, await compiledPool(2));
    const round = await s.round();
    expect(round?.processes).toHaveLength(41);
    expect(pool.tasksStarted).toBe(3);
    expect(pool.threads).toBe(1);
  });

  it("runs a round every interval once started, and none after it stopped", async () => {
    const { s, pool } = sampler(50);
    s.start();
    await sleep(400);
    await s.stop();
    const rounds = s.health().rounds;
    expect(rounds).toBeGreaterThanOrEqual(3);
    expect(rounds).toBeLessThanOrEqual(10);
    const tasks = pool.tasksStarted;
    await sleep(200);
    expect(pool.tasksStarted).toBe(tasks);
    expect(s.health().rounds).toBe(rounds);
  });
});
