import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendPid, clientAndIdleBackend } from "../support/db.js";
import { type Mapping, readRollup, readSmaps } from "../support/proc.js";

interface SmapRow {
  start_address: string;
  end_address: string;
  permissions: string;
  inode: string;
  sys_path: string | null;
  rss: string | null;
  pss: string | null;
}

const COLUMNS = "start_address, end_address, permissions, inode, sys_path, rss, pss";

/** Read /proc and the table around each other until /proc holds still (an idle backend does). */
async function readBoth(
  client: pg.Client,
  pid: number,
): Promise<{ rows: SmapRow[]; proc: Mapping[]; rollupRss: number }> {
  const tries: string[] = [];
  for (let attempt = 0; attempt < 10; attempt++) {
    const rollupBefore = readRollup(pid).Rss;
    const before = readSmaps(pid);
    const result = await client.query<SmapRow>(
      `SELECT ${COLUMNS} FROM get_all_smaps WHERE pid = $1 ORDER BY start_address`,
      [pid],
    );
    const after = readSmaps(pid);
    const rollupAfter = readRollup(pid).Rss;
    const key = (m: Mapping[]) => m.map((x) => `${x.start}-${x.end}:${x.fields.Rss}`).join(",");
    if (key(before) === key(after) && rollupBefore !== undefined && rollupBefore === rollupAfter) {
      return { rows: result.rows, proc: after, rollupRss: rollupAfter };
    }
    tries.push(`${before.length} mappings before, ${after.length} after`);
  }
  throw new Error(`the mappings of ${pid} never held still: ${tries.join("; ")}`);
}

describe("get_all_smaps", () => {
  let client: pg.Client;
  let idle: pg.Client;
  let idlePid: number;

  beforeAll(async () => {
    ({ client, idle, idlePid } = await clientAndIdleBackend());
    // Warm up the request path (first touches of shared pages).
    await client.query("SELECT count(*) FROM get_all_smaps WHERE pid = $1", [idlePid]);
  });

  afterAll(async () => {
    await idle?.end();
    await client?.end();
  });

  it("has one row per mapping of /proc/PID/smaps, with the same address ranges", async () => {
    const { rows, proc } = await readBoth(client, idlePid);
    expect(proc.length).toBeGreaterThan(10);
    expect(rows.length).toBe(proc.length);
    const fromSql = rows.map((r) => `${r.start_address}-${r.end_address} ${r.permissions} ${r.inode}`).sort();
    const fromProc = proc.map((m) => `${m.start}-${m.end} ${m.permissions} ${m.inode}`).sort();
    expect(fromSql).toEqual(fromProc);
  });

  it("sums rss to the rollup's Rss", async () => {
    const { rows, proc, rollupRss } = await readBoth(client, idlePid);
    const sqlRss = rows.reduce((sum, r) => sum + Number(r.rss ?? 0), 0);
    const procRss = proc.reduce((sum, m) => sum + (m.fields.Rss ?? 0), 0);
    expect(sqlRss).toBeGreaterThan(0);
    // Rss counts whole pages, so the sum of the mappings equals the rollup exactly while the
    // process holds still (readBoth waits for that): no tolerance is needed.
    expect(sqlRss).toBe(procRss);
    expect(sqlRss).toBe(rollupRss);
  });

  it("writes NULL, never an empty string, as sys_path of anonymous mappings", async () => {
    const { rows, proc } = await readBoth(client, idlePid);
    const anonymous = proc.filter((m) => m.path === "");
    expect(anonymous.length, "an idle backend has anonymous mappings").toBeGreaterThan(0);
    const byStart = new Map(rows.map((r) => [r.start_address, r]));
    for (const m of anonymous) {
      const row = byStart.get(m.start);
      expect(row, `row for ${m.start}`).toBeDefined();
      expect(row?.sys_path, `sys_path of ${m.start}`).toBeNull();
    }
    expect(rows.filter((r) => r.sys_path === "")).toEqual([]);
    expect(rows.filter((r) => r.sys_path === null).length).toBe(anonymous.length);
    for (const m of proc.filter((x) => x.path !== "")) {
      expect(byStart.get(m.start)?.sys_path, `sys_path of ${m.start}`).toBe(m.path);
    }
  });

  it("never reports pss above rss in any mapping of any process", async () => {
    const result = await client.query<{ total: string; bad: string; pids: string }>(
      "SELECT count(*) AS total, count(*) FILTER (WHERE pss > rss) AS bad, count(DISTINCT pid) AS pids " +
        "FROM get_all_smaps",
    );
    const row = result.rows[0];
    expect(Number(row?.pids)).toBeGreaterThan(1);
    expect(Number(row?.total)).toBeGreaterThan(0);
    expect(Number(row?.bad)).toBe(0);
  });

  it("is also a set-returning function get_all_smaps() with the table's columns", async () => {
    const pid = await backendPid(client);
    const fn = await client.query("SELECT * FROM get_all_smaps() WHERE pid = $1", [pid]);
    expect(fn.rows.length).toBeGreaterThan(10);
    const table = await client.query("SELECT * FROM get_all_smaps WHERE false");
    expect(fn.fields.map((f) => f.name)).toEqual(table.fields.map((f) => f.name));
    const pids = await client.query<{ n: string }>("SELECT count(DISTINCT pid) AS n FROM get_all_smaps()");
    expect(Number(pids.rows[0]?.n)).toBeGreaterThan(1);
  });
});
