/**
 * Who keeps growing, live: a sidecar sampling every second, a session that grows its own memory
 * steadily, one that did one big sort and holds it, an idle one. memory_growth flags the first only,
 * and computes what the sidecar's growth.ts computes from the same samples.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fitGrowth, ownBytes } from "../../sidecar/history/growth.js";
import { backendPid } from "../support/db.js";
import { type HistorySidecar, startHistorySidecar } from "../support/history-sidecar.js";

interface GrowthRow {
  pid: number;
  backend_type: string | null;
  application_name: string | null;
  backend_start: Date;
  samples: number;
  first_sampled_at: Date;
  last_sampled_at: Date;
  first_bytes: string;
  last_bytes: string;
  bytes_per_minute: number;
  r2: number | null;
  growing: boolean;
}

const MB = 1024 * 1024;

let history: HistorySidecar;
let observer: pg.Client;
const sessions: pg.Client[] = [];
let growerPid: number;
let idlePid: number;
let sorterPid: number;
let grower: Promise<unknown>;

async function session(name: string): Promise<[pg.Client, number]> {
  const client = await history.connect(name);
  client.on("error", () => {});
  sessions.push(client);
  return [client, await backendPid(client)];
}

async function growth(window = "10 minutes"): Promise<Map<number, GrowthRow>> {
  const { rows } = await observer.query<GrowthRow>("SELECT * FROM memory_growth($1::interval)", [window]);
  return new Map(rows.map((r) => [r.pid, r]));
}

beforeAll(async () => {
  history = await startHistorySidecar("history_growth", ["--sample-interval", "1"]);
  observer = await history.connect("history-observer");
  let client: pg.Client;
  [client, growerPid] = await session("history-grower");
  // 200 kB more every second, for up to 100 s: a leak of 12 MB a minute.
  grower = client
    .query(
      "DO $$ DECLARE s text := ''; BEGIN FOR i IN 1..100 LOOP s := s || repeat('x', 200000); " +
        "PERFORM pg_sleep(1); END LOOP; END $$",
    )
    .catch(() => undefined);
  [, idlePid] = await session("history-idle");
  [, sorterPid] = await session("history-sorter");
});

afterAll(async () => {
  await observer?.query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", [
    [growerPid, idlePid, sorterPid].filter(Boolean),
  ]);
  await grower;
  for (const s of sessions) await s.end().catch(() => undefined);
  await observer?.end();
  await history?.stop();
});

describe("memory_growth", () => {
  it("flags a steadily growing session within 60 s, and neither an idle one nor one big sort", async () => {
    const started = Date.now();
    const sorter = sessions[2] as pg.Client;
    // The sort comes after a few seconds of idling, so its step is inside the series, not at its start.
    await sleep(8_000);
    await sorter.query("SET work_mem = '512MB'");
    await sorter.query("BEGIN");
    await sorter.query(
      "DECLARE big CURSOR FOR SELECT g, md5(g::text) FROM generate_series(1, 1000000) g ORDER BY 2",
    );
    await sorter.query("FETCH 1 FROM big");
    const sortedAt = Date.now();
    let flaggedAt: number | null = null;
    let sorterLooked = 0;
    while (Date.now() - started < 75_000) {
      const rows = await growth();
      const g = rows.get(growerPid);
      const idle = rows.get(idlePid);
      const sort = rows.get(sorterPid);
      expect(idle?.growing, JSON.stringify(idle)).toBe(false);
      expect(sort?.growing, JSON.stringify(sort)).toBe(false);
      if (g?.growing && flaggedAt === null) {
        flaggedAt = Date.now();
        expect(g.backend_type).toBe("client backend");
        expect(g.application_name).toBe("history-grower");
        expect(g.r2).toBeGreaterThan(0.8);
        // 200 kB a second, give or take what the allocator rounds.
        expect(g.bytes_per_minute).toBeGreaterThan(6 * MB);
        expect(g.bytes_per_minute).toBeLessThan(24 * MB);
        // Growing first: nothing else of the cluster grows.
        const { rows: ordered } = await observer.query<GrowthRow>(
          "SELECT * FROM memory_growth ORDER BY growing DESC, bytes_per_minute DESC",
        );
        expect(ordered[0]?.pid).toBe(growerPid);
        expect(ordered.filter((r) => r.growing).map((r) => r.pid)).toEqual([growerPid]);
      }
      if (sort !== undefined && Date.parse(String(sort.first_sampled_at)) < sortedAt - 5_000) sorterLooked++;
      // Done once the grower is flagged and the sort has been looked at for 20 s after it happened.
      if (flaggedAt !== null && Date.now() - sortedAt > 20_000) break;
      await sleep(1_000);
    }
    expect(flaggedAt, "the growing session was never flagged").not.toBeNull();
    expect((flaggedAt as number) - started).toBeLessThan(60_000);
    expect(sorterLooked).toBeGreaterThan(10);
    // The sort really took memory, in one step: flagging it would have been possible by slope alone.
    const sort = (await growth()).get(sorterPid) as GrowthRow;
    expect(Number(sort.last_bytes) - Number(sort.first_bytes)).toBeGreaterThan(50 * MB);
    expect(sort.bytes_per_minute).toBeGreaterThan(1 * MB);
    expect(sort.growing).toBe(false);
    const idle = (await growth()).get(idlePid) as GrowthRow;
    expect(idle.samples).toBeGreaterThan(20);
    expect(Math.abs(idle.bytes_per_minute)).toBeLessThan(64 * 1024);
  });

  it("computes what the sidecar's growth.ts computes from the same samples", async () => {
    await observer.query("BEGIN");
    try {
      // A round under way at now() adds its samples when it ends: wait for it, then read twice.
      await observer.query("SELECT now()");
      await sleep(500);
      const sql = await growth("2 minutes");
      const { rows } = await observer.query<{
        pid: number;
        backend_start: Date;
        t: string;
        pss_anon_bytes: string | null;
        anon_bytes: string | null;
      }>(
        "SELECT pid, backend_start, (extract(epoch FROM sampled_at) * 1000)::int8 AS t, pss_anon_bytes, anon_bytes " +
          "FROM memory_history WHERE sampled_at > now() - interval '2 minutes' AND sampled_at <= now() ORDER BY t",
      );
      const series = new Map<string, { at: number[]; bytes: number[] }>();
      for (const r of rows) {
        const own = ownBytes(
          r.pss_anon_bytes === null ? null : Number(r.pss_anon_bytes),
          r.anon_bytes === null ? null : Number(r.anon_bytes),
        );
        if (own === null) continue;
        const key = `${r.pid}@${r.backend_start?.toISOString()}`;
        const s = series.get(key) ?? { at: [], bytes: [] };
        s.at.push(Number(r.t));
        s.bytes.push(own);
        series.set(key, s);
      }
      expect(sql.size).toBeGreaterThan(5);
      const close = (a: number, b: number) =>
        Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b)) + 1e-9;
      for (const row of sql.values()) {
        const s = series.get(`${row.pid}@${row.backend_start.toISOString()}`);
        expect(s, `samples of ${row.pid}`).toBeDefined();
        const ts = fitGrowth(s?.at ?? [], s?.bytes ?? []);
        const what = `${row.pid} (${row.application_name}): ${JSON.stringify(row)} vs ${JSON.stringify(ts)}`;
        expect(row.samples, what).toBe(ts.samples);
        expect(Number(row.first_bytes), what).toBe(ts.firstBytes);
        expect(Number(row.last_bytes), what).toBe(ts.lastBytes);
        expect(row.first_sampled_at.getTime(), what).toBe(ts.firstSampledAt);
        expect(row.last_sampled_at.getTime(), what).toBe(ts.lastSampledAt);
        expect(close(row.bytes_per_minute, ts.bytesPerMinute), what).toBe(true);
        if (ts.r2 === null) expect(row.r2, what).toBeNull();
        else expect(close(row.r2 as number, ts.r2), what).toBe(true);
        expect(row.growing, what).toBe(ts.growing);
      }
      // The same growing set, and not an empty one.
      const growing = [...sql.values()].filter((r) => r.growing).map((r) => r.pid);
      expect(growing).toEqual([growerPid]);
    } finally {
      await observer.query("COMMIT");
    }
  });

  it("sends the window of memory_growth(window) and of the view to the sidecar", async () => {
    for (const query of ["SELECT * FROM memory_growth('5 minutes')", "SELECT * FROM memory_growth"]) {
      const { rows } = await observer.query<{ "QUERY PLAN": string }>(`EXPLAIN VERBOSE ${query}`);
      const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
      const window = query.includes("5 minutes") ? "00:05:00" : "00:10:00";
      expect(plan, plan).toContain(
        `Sidecar Time Filter: (sampled_at > (now() - '${window}'::interval)) AND (sampled_at <= now())`,
      );
    }
  });
});
