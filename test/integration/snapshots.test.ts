// memory_snapshots: a partition per UTC day made by pg_meminfo_snapshot(), whole days dropped by
// pg_meminfo_drop_snapshots(), and what pg_dump and DROP EXTENSION do with the partitions.
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runChecked } from "../../harness/run-as.js";
import { findBinDir } from "../../harness/throwaway-cluster.js";
import { backendPid, queryError } from "../support/db.js";
import { connectTo, dropDatabase, scratchDatabase } from "../support/scratch-database.js";

const DB = "regress_snapshots";
const RESTORED = "regress_snapshots_restored";

let db: pg.Client;

/** The partitions of memory_snapshots, their bounds and rows. */
async function partitions(client: pg.Client): Promise<{ name: string; bound: string; rows: string }[]> {
  const { rows } = await client.query(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
            (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass),
                                                 false, true, '')))[1]::text AS rows
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'memory_snapshots'::regclass
      ORDER BY 1`,
  );
  return rows;
}

/** Resolves once the session's backend waits for a lock. */
async function waitingOnLock(pid: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const { rows } = await db.query("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", [pid]);
    if (rows[0]?.wait_event_type === "Lock") return;
    await sleep(25);
  }
  throw new Error(`backend ${pid} never waited for a lock`);
}

beforeAll(async () => {
  db = await scratchDatabase(DB);
  await db.query("SET TimeZone = 'UTC'");
  await db.query("CREATE EXTENSION pg_meminfo");
});

afterAll(async () => {
  await db?.end();
  await dropDatabase(DB);
  await dropDatabase(RESTORED);
});

describe("pg_meminfo_snapshot", () => {
  it("inserts the rows of backend_memory in one statement, one sampled_at for all", async () => {
    const me = await backendPid(db);
    const { rows } = await db.query<{ n: string }>("SELECT pg_meminfo_snapshot() AS n");
    const inserted = Number(rows[0]?.n);
    expect(inserted).toBeGreaterThan(3);
    const { rows: kept } = await db.query(
      `SELECT count(*)::int AS n, count(DISTINCT sampled_at)::int AS times, count(DISTINCT pid)::int AS pids,
              bool_or(pid = $1 AND backend_type = 'client backend' AND uss_bytes > 0) AS mine,
              bool_or(backend_type = 'postmaster') AS postmaster,
              bool_and(sampled_at BETWEEN now() - interval '1 minute' AND now()) AS just_now
         FROM memory_snapshots`,
      [me],
    );
    expect(kept[0]).toEqual({
      n: inserted,
      times: 1,
      pids: inserted,
      mine: true,
      postmaster: true,
      just_now: true,
    });
    await db.query("TRUNCATE memory_snapshots");
  });

  it("lands two runs across a day boundary in two partitions, made as needed, each with its index", async () => {
    const before = await db.query<{ n: string }>(
      "SELECT pg_meminfo_snapshot('2001-01-01 23:59:59.9+00') AS n",
    );
    const after = await db.query<{ n: string }>(
      "SELECT pg_meminfo_snapshot('2001-01-02 00:00:00.1+00') AS n",
    );
    // The time zone of the caller does not move the day: the partitions are UTC days.
    await db.query("SET TimeZone = 'Pacific/Kiritimati'");
    const third = await db.query<{ n: string }>("SELECT pg_meminfo_snapshot('2001-01-02 12:00:00+00') AS n");
    await db.query("SET TimeZone = 'UTC'");
    const of2001 = (await partitions(db)).filter((p) => p.name.startsWith("memory_snapshots_2001"));
    expect(of2001).toEqual([
      {
        name: "memory_snapshots_20010101",
        bound: "FOR VALUES FROM ('2001-01-01 00:00:00+00') TO ('2001-01-02 00:00:00+00')",
        rows: before.rows[0]?.n,
      },
      {
        name: "memory_snapshots_20010102",
        bound: "FOR VALUES FROM ('2001-01-02 00:00:00+00') TO ('2001-01-03 00:00:00+00')",
        rows: String(Number(after.rows[0]?.n) + Number(third.rows[0]?.n)),
      },
    ]);
    const { rows: indexes } = await db.query(
      `SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS def FROM pg_index
        WHERE indrelid IN ('memory_snapshots_20010101'::regclass, 'memory_snapshots_20010102'::regclass)
        ORDER BY 1`,
    );
    expect(indexes).toEqual([
      {
        name: "memory_snapshots_20010101_pid_sampled_at",
        def: "CREATE INDEX memory_snapshots_20010101_pid_sampled_at ON public.memory_snapshots_20010101 USING btree (pid, sampled_at)",
      },
      {
        name: "memory_snapshots_20010102_pid_sampled_at",
        def: "CREATE INDEX memory_snapshots_20010102_pid_sampled_at ON public.memory_snapshots_20010102 USING btree (pid, sampled_at)",
      },
    ]);
    // A query of one pid over a time range reads one partition, by its index.
    await db.query("SET enable_seqscan = off");
    const plan = (
      await db.query(
        `EXPLAIN (COSTS OFF) SELECT * FROM memory_snapshots
          WHERE pid = 1 AND sampled_at >= '2001-01-01 12:00+00' AND sampled_at < '2001-01-01 13:00+00'`,
      )
    ).rows
      .map((r) => r["QUERY PLAN"])
      .join("\n");
    await db.query("RESET enable_seqscan");
    expect(plan).toMatch(/Index Scan using memory_snapshots_20010101_pid_sampled_at/);
    expect(plan).not.toMatch(/20010102/);
  });

  it("refuses a NULL or infinite time, with the SQLSTATE and a hint", async () => {
    for (const [arg, code] of [
      ["NULL", "22004"],
      ["'infinity'", "22023"],
      ["'-infinity'", "22023"],
    ]) {
      const error = await queryError(db, `SELECT pg_meminfo_snapshot(${arg})`);
      expect(error.code, error.message).toBe(code);
      expect(error.hint).toMatch(/without an argument/);
    }
  });
});

describe("pg_meminfo_drop_snapshots", () => {
  it("drops the days entirely older than now() - older_than and says what it dropped", async () => {
    const today = Number((await db.query("SELECT pg_meminfo_snapshot() AS n")).rows[0]?.n);
    const yesterday = Number(
      (await db.query("SELECT pg_meminfo_snapshot(now() - interval '1 day') AS n")).rows[0]?.n,
    );
    const held = await partitions(db);
    const old = held.filter((p) => p.name.startsWith("memory_snapshots_2001"));
    expect(old).toHaveLength(2);
    const { rows: dropped } = await db.query(
      `SELECT partition_name, sampled_from::text, sampled_until::text, snapshot_rows
         FROM pg_meminfo_drop_snapshots('1 day')`,
    );
    expect(dropped).toEqual([
      {
        partition_name: "memory_snapshots_20010101",
        sampled_from: "2001-01-01 00:00:00+00",
        sampled_until: "2001-01-02 00:00:00+00",
        snapshot_rows: old[0]?.rows,
      },
      {
        partition_name: "memory_snapshots_20010102",
        sampled_from: "2001-01-02 00:00:00+00",
        sampled_until: "2001-01-03 00:00:00+00",
        snapshot_rows: old[1]?.rows,
      },
    ]);
    // Yesterday's partition ends today at 00:00, later than now() - 1 day: it stays, and so does today's.
    const left = await partitions(db);
    expect(left.map((p) => Number(p.rows)).sort()).toEqual([today, yesterday].sort());
    expect(
      (await db.query("SELECT count(*)::int AS n FROM pg_meminfo_drop_snapshots('1 day')")).rows[0]?.n,
    ).toBe(0);
    // With 0, every day that has ended goes; today's stays.
    const { rows: ended } = await db.query("SELECT partition_name FROM pg_meminfo_drop_snapshots('0')");
    expect(ended).toHaveLength(1);
    expect((await partitions(db)).map((p) => Number(p.rows))).toEqual([today]);
  });

  it("and a snapshot that makes a partition, both held up by a reader of the old day, both complete", async () => {
    await db.query("SELECT pg_meminfo_snapshot('2005-01-01 12:00+00')");
    const reader = await connectTo(DB);
    const maker = await connectTo(DB);
    const dropper = await connectTo(DB);
    const [makerPid, dropperPid] = [await backendPid(maker), await backendPid(dropper)];
    try {
      // Someone holds the old day: the drop has to wait for it once it has begun.
      await reader.query("BEGIN");
      await reader.query("LOCK TABLE memory_snapshots_20050101 IN ACCESS EXCLUSIVE MODE");
      const dropping = dropper.query("SELECT partition_name FROM pg_meminfo_drop_snapshots('0')");
      dropping.catch(() => undefined);
      await waitingOnLock(dropperPid);
      // A snapshot of a new day comes in meanwhile and must make its partition.
      const making = maker.query("SELECT pg_meminfo_snapshot('2006-01-01 12:00+00') AS n");
      making.catch(() => undefined);
      await waitingOnLock(makerPid);
      await reader.query("COMMIT");
      const [dropped, made] = await Promise.all([dropping, making]);
      expect(dropped.rows).toEqual([{ partition_name: "memory_snapshots_20050101" }]);
      expect(Number(made.rows[0]?.n)).toBeGreaterThan(3);
    } finally {
      await reader.end();
      await maker.end();
      await dropper.end();
    }
    await db.query("SELECT pg_meminfo_drop_snapshots('0')");
  });

  it("leaves alone a partition without a plain range", async () => {
    await db.query("CREATE TABLE regress_snapshots_default PARTITION OF memory_snapshots DEFAULT");
    try {
      const { rows } = await db.query("SELECT partition_name FROM pg_meminfo_drop_snapshots('0')");
      expect(rows).toEqual([]);
      expect((await partitions(db)).map((p) => p.name)).toContain("regress_snapshots_default");
    } finally {
      await db.query("DROP TABLE regress_snapshots_default");
    }
  });

  it("refuses a NULL or negative interval, with the SQLSTATE and a hint", async () => {
    for (const [arg, code] of [
      ["NULL", "22004"],
      ["'-1 day'", "22023"],
      ["'-1 microsecond'", "22023"],
    ]) {
      const error = await queryError(db, `SELECT * FROM pg_meminfo_drop_snapshots(${arg})`);
      expect(error.code, error.message).toBe(code);
      expect(error.hint).toBe("SELECT * FROM pg_meminfo_drop_snapshots('7 days');");
    }
  });
});

describe("pg_dump and DROP EXTENSION", () => {
  it("pg_dump keeps the partitions and their rows, and the dump restores without an error", async () => {
    await db.query("SELECT pg_meminfo_snapshot('2002-02-02 02:02:02+00')");
    const held = await partitions(db);
    expect(held.length).toBeGreaterThanOrEqual(2);
    const bin = await findBinDir();
    const host = inject("pgHost");
    const port = String(inject("pgPort"));
    const user = inject("pgUser");
    const file = join(inject("dataDir"), "..", "regress-snapshots.sql");
    await runChecked(join(bin, "pg_dump"), ["-h", host, "-p", port, "-U", user, "-d", DB, "-f", file]);
    const restored = await scratchDatabase(RESTORED);
    try {
      await runChecked(join(bin, "psql"), [
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        host,
        "-p",
        port,
        "-U",
        user,
        "-d",
        RESTORED,
        "-f",
        file,
      ]);
      expect(await partitions(restored)).toEqual(held);
      const { rows } = await restored.query(
        `SELECT count(*)::int AS n FROM pg_index WHERE indrelid = 'memory_snapshots_20020202'::regclass`,
      );
      expect(rows[0]?.n).toBe(1);
    } finally {
      await restored.end();
    }
  });

  it("DROP EXTENSION drops memory_snapshots and every partition with it", async () => {
    expect((await partitions(db)).length).toBeGreaterThan(0);
    await db.query("DROP EXTENSION pg_meminfo");
    const { rows } = await db.query("SELECT relname FROM pg_class WHERE relname LIKE 'memory\\_snapshots%'");
    expect(rows).toEqual([]);
    await db.query("CREATE EXTENSION pg_meminfo");
  });
});
