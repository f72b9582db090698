/**
 * memory_history through the wrapper: time and pid conditions sent to the sidecar give the rows a local
 * filter gives, a pid reused by a new backend starts a new series, only superusers and members of
 * pg_read_all_stats read it, and with sampling off the sidecar reads nothing at all.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRoot } from "../../harness/run-as.js";
import { backendPid, connect, queryError } from "../support/db.js";
import { type HistorySidecar, startHistorySidecar } from "../support/history-sidecar.js";

const MB = 1024 * 1024;

let history: HistorySidecar;
let client: pg.Client;

beforeAll(async () => {
  history = await startHistorySidecar("history_table", ["--sample-interval", "0.5"]);
  client = await history.connect();
  // A few rounds, so every condition below has rows on both sides of it.
  await sleep(6_000);
});

afterAll(async () => {
  await client?.end();
  await history?.stop();
});

describe("conditions sent to the sidecar", () => {
  type Row = { pid: number; at: string; pss_anon_bytes: string; settled: boolean };

  /** The rows of `where`, sent to the sidecar, and the same filtered by PostgreSQL alone. */
  async function both(
    where: string,
    params: unknown[] = [],
  ): Promise<{ pushed: string[]; local: string[]; plan: string }> {
    const select = "SELECT pid, sampled_at::text AS at, pss_anon_bytes, sampled_at <= now() AS settled";
    const pushed = await client.query<Row>(`${select} FROM memory_history WHERE ${where}`, params);
    // OFFSET 0 keeps the conditions out of the scan: the sidecar sends everything.
    const local = await client.query<Row>(
      `${select} FROM (SELECT * FROM memory_history OFFSET 0) h WHERE ${where}`,
      params,
    );
    const plan = await client.query<{ "QUERY PLAN": string }>(
      `EXPLAIN VERBOSE ${select} FROM memory_history WHERE ${where}`,
      params,
    );
    // Samples taken after the transaction's now() may differ between the two scans: left out.
    const rows = (r: pg.QueryResult<Row>) =>
      r.rows
        .filter((x) => x.settled)
        .map((x) => `${x.pid} ${x.at} ${x.pss_anon_bytes}`)
        .sort();
    return {
      pushed: rows(pushed),
      local: rows(local),
      plan: plan.rows.map((r) => r["QUERY PLAN"]).join("\n"),
    };
  }

  it("gives the same rows as a local filter, for every comparison, its reverse, NULL and infinity", async () => {
    await client.query("BEGIN");
    try {
      // A round under way at now() adds its samples when it ends.
      await client.query("SELECT now()");
      await sleep(300);
      const me = await backendPid(client);
      const { rows } = await client.query<{ at: string }>(
        "SELECT sampled_at::text AS at FROM memory_history WHERE sampled_at < now() - interval '2 seconds' LIMIT 1",
      );
      const exact = rows[0]?.at;
      expect(exact).toBeDefined();
      const cases: [string, unknown[], "pushed" | "local", "some" | "none"][] = [
        ["sampled_at > now() - interval '3 seconds'", [], "pushed", "some"],
        ["sampled_at >= now() - interval '3 seconds'", [], "pushed", "some"],
        ["sampled_at < now() - interval '3 seconds'", [], "pushed", "some"],
        ["sampled_at <= now() - interval '3 seconds'", [], "pushed", "some"],
        ["sampled_at = $1::timestamptz", [exact], "pushed", "some"],
        ["now() - interval '3 seconds' < sampled_at", [], "pushed", "some"],
        ["$1::timestamptz >= sampled_at", [exact], "pushed", "some"],
        [
          "sampled_at BETWEEN now() - interval '4 seconds' AND now() - interval '2 seconds'",
          [],
          "pushed",
          "some",
        ],
        ["sampled_at > now() - interval '3 seconds' AND pid = pg_backend_pid()", [], "pushed", "some"],
        ["pid = ANY($1) AND sampled_at >= $2::timestamptz", [[me, 1], exact], "pushed", "some"],
        ["sampled_at > now() AND sampled_at < now() - interval '1 second'", [], "pushed", "none"],
        ["sampled_at > $1::timestamptz AND sampled_at <= $1::timestamptz", [exact], "pushed", "none"],
        // NULL known only when the scan starts (a constant NULL the planner folds away itself).
        ["sampled_at > nullif(now(), now())", [], "pushed", "none"],
        ["sampled_at > '-infinity'", [], "pushed", "some"],
        ["sampled_at < 'infinity'", [], "pushed", "some"],
        ["sampled_at >= 'infinity'", [], "pushed", "none"],
        ["sampled_at <= '-infinity'", [], "pushed", "none"],
        ["sampled_at > '1900-01-01 00:00:00+00'", [], "pushed", "some"],
        ["sampled_at < '294276-12-31 23:59:59+00'", [], "pushed", "some"],
        // Not the built-in timestamptz comparison: filtered by PostgreSQL alone, still right.
        ["sampled_at > (now() - interval '3 seconds')::timestamp", [], "local", "some"],
        ["sampled_at + interval '1 second' > now()", [], "local", "some"],
      ];
      for (const [where, params, how, expected] of cases) {
        const { pushed, local, plan } = await both(where, params);
        expect(pushed, where).toEqual(local);
        if (expected === "some") expect(pushed.length, where).toBeGreaterThan(0);
        else expect(pushed, where).toEqual([]);
        if (how === "pushed") expect(plan, `${where}\n${plan}`).toContain("Sidecar Time Filter: ");
        else expect(plan, `${where}\n${plan}`).not.toContain("Sidecar Time Filter");
        // The sidecar itself filtered: PostgreSQL's recheck removes nothing.
        const analyzed = await client.query<{ "QUERY PLAN": string }>(
          `EXPLAIN (ANALYZE, VERBOSE) SELECT pid FROM memory_history WHERE ${where}`,
          params,
        );
        const removed = analyzed.rows
          .map((r) => r["QUERY PLAN"])
          .find((l) => l.includes("Rows Removed by Filter"));
        if (how === "pushed") expect(removed, where).toBeUndefined();
        else expect(removed, where).toBeDefined();
      }
      // The pid and the time are both shown; the sidecar got them as parameters.
      const { plan } = await both("pid = pg_backend_pid() AND sampled_at > now() - interval '3 seconds'");
      expect(plan).toContain("Sidecar Pid Filter: (pid = pg_backend_pid())");
      expect(plan).toContain("Sidecar Time Filter: (sampled_at > (now() - '00:00:03'::interval))");
    } finally {
      await client.query("COMMIT");
    }
  });

  it("reads the labels of each sample from pg_stat_activity: the postmaster, background and client processes", async () => {
    const { rows } = await client.query<{ backend_type: string; n: number; starts: number }>(
      `SELECT backend_type, count(*)::int AS n, count(DISTINCT backend_start)::int AS starts
         FROM memory_history WHERE sampled_at > now() - interval '3 seconds' GROUP BY backend_type`,
    );
    const types = new Map(rows.map((r) => [r.backend_type, r]));
    for (const type of ["postmaster", "checkpointer", "client backend"])
      expect(types.get(type), type).toBeDefined();
    expect(types.get("postmaster")?.starts).toBe(1);
    const me = await client.query<{ ok: boolean }>(
      `SELECT bool_and(h.application_name = a.application_name AND h.backend_start = a.backend_start
                       AND h.usename = a.usename::text AND h.datname = a.datname::text) AS ok
         FROM memory_history h JOIN pg_stat_activity a USING (pid)
        WHERE h.pid = pg_backend_pid() AND h.sampled_at > now() - interval '3 seconds'`,
    );
    expect(me.rows[0]?.ok).toBe(true);
    // Own memory and shared memory apart: pss_anon and pss_shmem add up to at most pss.
    const sums = await client.query<{ bad: number }>(
      `SELECT count(*) FILTER (WHERE pss_anon_bytes + pss_shmem_bytes > pss_bytes OR pss_bytes > rss_bytes
                                  OR rss_bytes <= 0 OR anon_bytes < pss_anon_bytes)::int AS bad
         FROM memory_history`,
    );
    expect(sums.rows[0]?.bad).toBe(0);
  });
});

const NS_LAST_PID = "/proc/sys/kernel/ns_last_pid";

describe.skipIf(!(isRoot() && existsSync(NS_LAST_PID)))("a pid the kernel gives to a new backend", () => {
  it("starts a new series: no growth across the two processes", async () => {
    // The first process holds 64 MB of its own, is sampled, and exits.
    const old = await history.connect("history-reuse-old");
    const pid = await backendPid(old);
    await old.query(
      "DO $$ DECLARE s text := repeat('x', 64 * 1024 * 1024); BEGIN PERFORM pg_sleep(2.5); END $$",
    );
    await old.end();
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await sleep(20);
    let reborn: pg.Client | undefined;
    for (let attempt = 0; attempt < 20 && reborn === undefined; attempt++) {
      writeFileSync(NS_LAST_PID, String(pid - 1));
      const candidate = await history.connect("history-reuse-new");
      if ((await backendPid(candidate)) === pid) reborn = candidate;
      else await candidate.end();
    }
    if (reborn === undefined) throw new Error(`no new backend got pid ${pid}`);
    try {
      await sleep(4_000);
      const { rows: starts } = await client.query<{ application_name: string; n: number; max: string }>(
        `SELECT application_name, count(*)::int AS n, max(pss_anon_bytes) AS max
           FROM memory_history WHERE pid = $1 GROUP BY application_name, backend_start ORDER BY min(sampled_at)`,
        [pid],
      );
      expect(starts.map((s) => s.application_name)).toEqual(["history-reuse-old", "history-reuse-new"]);
      expect(Number(starts[0]?.max)).toBeGreaterThan(64 * MB);
      const { rows } = await client.query<{
        samples: number;
        first_bytes: string;
        bytes_per_minute: number;
        application_name: string;
      }>(
        "SELECT samples, first_bytes, bytes_per_minute, application_name FROM memory_growth WHERE pid = $1",
        [pid],
      );
      expect(rows).toHaveLength(1);
      const [g] = rows;
      expect(g?.application_name).toBe("history-reuse-new");
      expect(g?.samples).toBe(starts[1]?.n);
      expect(Number(g?.first_bytes)).toBeLessThan(16 * MB);
      // Across the two processes the slope would fall by tens of MB a minute.
      expect(Math.abs(g?.bytes_per_minute ?? Number.NaN)).toBeLessThan(4 * MB);
    } finally {
      await reborn.end();
    }
  });
});

describe("who may read the history", () => {
  const suffix = randomBytes(4).toString("hex");
  const plain = `pgmi_hist_plain_${suffix}`;
  const stats = `pgmi_hist_stats_${suffix}`;
  const opened: pg.Client[] = [];

  beforeAll(async () => {
    const admin = await connect();
    try {
      await admin.query(`CREATE ROLE ${plain} LOGIN`);
      await admin.query(`CREATE ROLE ${stats} LOGIN IN ROLE pg_read_all_stats`);
    } finally {
      await admin.end();
    }
    // Granted the table itself: the wrapper still asks for the privileges of pg_read_all_stats.
    await client.query(`GRANT SELECT ON memory_history TO ${plain}`);
  });

  afterAll(async () => {
    for (const c of opened) await c.end().catch(() => undefined);
    await client.query(`REVOKE ALL ON memory_history FROM ${plain}`);
    const admin = await connect();
    try {
      await admin.query(`DROP ROLE IF EXISTS ${plain}`);
      await admin.query(`DROP ROLE IF EXISTS ${stats}`);
    } finally {
      await admin.end();
    }
  });

  async function as(role: string): Promise<pg.Client> {
    const c = await history.connect("history-role", role);
    opened.push(c);
    return c;
  }

  for (const query of [
    "SELECT count(*) FROM memory_history",
    "SELECT count(*) FROM memory_growth",
    "SELECT count(*) FROM memory_growth('1 minute')",
  ]) {
    it(`a role without pg_read_all_stats gets 42501, also after SET ROLE: ${query}`, async () => {
      expect((await queryError(await as(plain), query)).code).toBe("42501");
      const su = await as("postgres");
      await su.query(`SET ROLE ${plain}`);
      expect((await queryError(su, query)).code).toBe("42501");
    });

    it(`a member of pg_read_all_stats reads it: ${query}`, async () => {
      const { rows } = await (await as(stats)).query<{ count: string }>(query);
      expect(Number(rows[0]?.count)).toBeGreaterThan(0);
    });
  }
});

describe("sampling off", () => {
  let off: HistorySidecar;

  afterAll(async () => {
    await off?.stop();
  });

  /** read(2) calls of a process so far, from /proc/PID/io (root reads any process's). */
  function reads(pid: number): number {
    return Number(/^syscr: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "latin1"))?.[1]);
  }

  it.skipIf(!isRoot())("reads nothing at all, and the history stays empty", async () => {
    off = await startHistorySidecar("history_off", ["--sample-interval", "0"]);
    const pid = off.sidecar.pid as number;
    const sampling = history.sidecar.pid as number;
    await sleep(1_000);
    const before = [reads(pid), reads(sampling)];
    await sleep(3_000);
    const after = [reads(pid), reads(sampling)];
    // The sampling sidecar reads two files of each of about ten processes, twice a second.
    expect((after[1] as number) - (before[1] as number)).toBeGreaterThan(50);
    expect((after[0] as number) - (before[0] as number)).toBeLessThan(5);
    const session = await off.connect();
    try {
      const { rows } = await session.query<{ n: number }>("SELECT count(*)::int AS n FROM memory_history");
      expect(rows[0]?.n).toBe(0);
      const growth = await session.query("SELECT * FROM memory_growth");
      expect(growth.rows).toEqual([]);
    } finally {
      await session.end();
    }
    expect(off.sidecar.log).toContain("sampling is off");
  });
});
