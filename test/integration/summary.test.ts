import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { backendPid, clientAndIdleBackend } from "../support/db.js";
import { parentPid, processExists, readRollup } from "../support/proc.js";

async function postmasterPid(): Promise<number> {
  const text = await readFile(join(inject("dataDir"), "postmaster.pid"), "utf8");
  return Number.parseInt(text.split("\n")[0] ?? "", 10);
}

describe("smap_summary", () => {
  let client: pg.Client;
  let idle: pg.Client;
  let idlePid: number;

  beforeAll(async () => {
    ({ client, idle, idlePid } = await clientAndIdleBackend());
  });

  afterAll(async () => {
    await idle?.end();
    await client?.end();
  });

  it("has a row for every process of pg_stat_activity and for the postmaster, and for no other process", async () => {
    const postmaster = await postmasterPid();
    await client.query("BEGIN");
    const activity = await client.query<{ pid: number }>("SELECT pid FROM pg_stat_activity");
    const summary = await client.query<{ pid: number }>("SELECT pid FROM smap_summary");
    await client.query("COMMIT");

    const expected = new Set([postmaster, ...activity.rows.map((row) => row.pid)]);
    const got = new Set(summary.rows.map((row) => row.pid));
    expect(summary.rows.length, "one row per process").toBe(got.size);
    expect(got.has(postmaster), "postmaster present").toBe(true);
    expect(got.has(await backendPid(client)), "own backend present").toBe(true);
    // A process that exited between the two reads is legitimately missing; any other is a bug.
    const missing = [...expected].filter((pid) => !got.has(pid) && processExists(pid));
    expect(missing, "processes of pg_stat_activity without a row").toEqual([]);
    const strangers = [...got].filter((pid) => {
      if (pid === postmaster) return false;
      const parent = parentPid(pid);
      return parent !== undefined && parent !== postmaster;
    });
    expect(strangers, "rows for processes that are not the postmaster's children").toEqual([]);
  });

  it("never reports pss above rss, and reports memory for every process", async () => {
    const rows = await client.query<{ pid: number; rss: string | null; pss: string | null }>(
      "SELECT pid, rss, pss FROM smap_summary",
    );
    expect(rows.rows.length).toBeGreaterThan(1);
    for (const row of rows.rows) {
      expect(row.rss, `rss of ${row.pid}`).not.toBeNull();
      expect(row.pss, `pss of ${row.pid}`).not.toBeNull();
      expect(Number(row.rss), `rss of ${row.pid}`).toBeGreaterThan(0);
      expect(Number(row.pss), `pss of ${row.pid} <= rss`).toBeLessThanOrEqual(Number(row.rss));
    }
  });

  it("agrees with /proc/PID/smaps_rollup of an idle backend read in the same moment", async () => {
    const query = "SELECT rss, pss, private_dirty, anonymous FROM smap_summary WHERE pid = $1";
    // Warm up: the first requests touch shared pages for the first time, which changes every
    // process's share of them (and so its Pss) until they settle.
    for (let i = 0; i < 3; i++) await client.query(query, [idlePid]);

    const attempts: string[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      const before = readRollup(idlePid);
      const result = await client.query<Record<string, string>>(query, [idlePid]);
      const after = readRollup(idlePid);
      const row = result.rows[0];
      expect(result.rows.length).toBe(1);
      if (!row) continue;
      const sql = {
        rss: Number(row.rss),
        pss: Number(row.pss),
        private_dirty: Number(row.private_dirty),
        anonymous: Number(row.anonymous),
      };
      const stable =
        before.Rss === after.Rss &&
        before.Pss === after.Pss &&
        before.Private_Dirty === after.Private_Dirty &&
        before.Anonymous === after.Anonymous;
      attempts.push(
        `before ${JSON.stringify(before)} sql ${JSON.stringify(sql)} after ${JSON.stringify(after)}`,
      );
      if (!stable) continue;
      expect(sql, attempts.join("\n")).toEqual({
        rss: after.Rss,
        pss: after.Pss,
        private_dirty: after.Private_Dirty,
        anonymous: after.Anonymous,
      });
      return;
    }
    throw new Error(`the idle backend's /proc figures never held still:\n${attempts.join("\n")}`);
  });
});
