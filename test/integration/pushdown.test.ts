import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendPid, connect, explainVerbose, pushedLinesMentioning } from "../support/db.js";

describe("pid conditions are sent to the sidecar", () => {
  let client: pg.Client;
  const others: pg.Client[] = [];
  let own: number;
  let a: number;
  let b: number;

  beforeAll(async () => {
    client = await connect();
    for (let i = 0; i < 3; i++) others.push(await connect(undefined, `pg-meminfo-tests-other-${i}`));
    own = await backendPid(client);
    const first = others[0];
    const second = others[1];
    if (!first || !second) throw new Error("connections missing");
    a = await backendPid(first);
    b = await backendPid(second);
  });

  afterAll(async () => {
    for (const other of others) await other.end();
    await client?.end();
  });

  for (const table of ["smap_summary", "get_all_smaps"]) {
    it(`${table}: WHERE pid = X returns only X and the plan carries X`, async () => {
      const query = `SELECT pid, rss FROM ${table} WHERE pid = ${a}`;
      const result = await client.query<{ pid: number }>(query);
      expect(result.rows.length).toBeGreaterThan(0);
      expect(new Set(result.rows.map((r) => r.pid))).toEqual(new Set([a]));
      const plan = await explainVerbose(client, query);
      expect(pushedLinesMentioning(plan, a), plan.join("\n")).not.toEqual([]);
    });

    it(`${table}: pid = ANY(ARRAY[...]) returns exactly those pids and the plan carries them`, async () => {
      const query = `SELECT pid FROM ${table} WHERE pid = ANY(ARRAY[${a}, ${b}])`;
      const result = await client.query<{ pid: number }>(query);
      expect(new Set(result.rows.map((r) => r.pid))).toEqual(new Set([a, b]));
      const plan = await explainVerbose(client, query);
      expect(pushedLinesMentioning(plan, a), plan.join("\n")).not.toEqual([]);
      expect(pushedLinesMentioning(plan, b), plan.join("\n")).not.toEqual([]);
    });

    it(`${table}: pid IN (...) returns exactly those pids and the plan carries them`, async () => {
      const query = `SELECT pid FROM ${table} WHERE pid IN (${a}, ${b}, ${own})`;
      const result = await client.query<{ pid: number }>(query);
      expect(new Set(result.rows.map((r) => r.pid))).toEqual(new Set([a, b, own]));
      const plan = await explainVerbose(client, query);
      for (const pid of [a, b, own]) {
        expect(pushedLinesMentioning(plan, pid), plan.join("\n")).not.toEqual([]);
      }
    });

    it(`${table}: a pid that no process has gives no rows`, async () => {
      // 4194304 is the kernel's PID_MAX_LIMIT: no process ever has it.
      const result = await client.query(`SELECT pid FROM ${table} WHERE pid = 4194304`);
      expect(result.rows).toEqual([]);
    });

    it(`${table}: a pid that is not a cluster process gives no rows, pushed down or not`, async () => {
      // pid 1, the test runner, negative pids and zero, alone or beside a backend's pid.
      for (const where of [
        "pid = 1",
        `pid = ${process.pid}`,
        "pid = -1",
        "pid = 0",
        `pid IN (-5, 1, ${b})`,
        `pid = ANY(ARRAY[-2147483648, ${b}])`,
      ]) {
        const pushed = await client.query<{ pid: number }>(
          `SELECT DISTINCT pid FROM ${table} WHERE ${where}`,
        );
        // The same condition evaluated locally (OFFSET 0 keeps it out of the scan).
        const local = await client.query<{ pid: number }>(
          `SELECT DISTINCT pid FROM (SELECT * FROM ${table} OFFSET 0) t WHERE ${where}`,
        );
        const expected = where.includes(String(b)) ? [b] : [];
        expect(
          pushed.rows.map((r) => r.pid),
          where,
        ).toEqual(expected);
        expect(
          local.rows.map((r) => r.pid),
          where,
        ).toEqual(expected);
      }
    });
  }

  it("a parameter bound at execution time is honoured", async () => {
    const result = await client.query<{ pid: number }>("SELECT pid FROM smap_summary WHERE pid = $1", [b]);
    expect(result.rows.map((r) => r.pid)).toEqual([b]);
  });

  it("a join on pid with pg_stat_activity returns one summary row per backend", async () => {
    const result = await client.query<{ pid: number; application_name: string }>(
      "SELECT a.pid, a.application_name FROM pg_stat_activity a JOIN smap_summary s USING (pid) " +
        "WHERE a.application_name LIKE 'pg-meminfo-tests-other-%'",
    );
    expect(result.rows.length).toBe(others.length);
  });
});
