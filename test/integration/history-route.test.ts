/**
 * GET /v1/history and the sampler of an in-process sidecar app: with sampling off the read pool never
 * runs a task; with it on, rounds read the cluster's processes and the route serves them, checked like
 * every other source.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../../sidecar/http/app.js";
import { ReadPool } from "../../sidecar/rows/read-pool.js";
import { rowsOf } from "../support/fixtures.js";
import { one, testPool } from "../support/pool.js";
import { signedHeaders, TEST_SECRET } from "../support/signing.js";

let db: pg.Pool;
let session: pg.PoolClient;
let backend: number;
let superuser: string;
let plain: string;
const role = `pgmi_hist_route_${randomBytes(4).toString("hex")}`;

beforeAll(async () => {
  db = testPool();
  superuser = String(await one<number>(db, "SELECT oid::int FROM pg_roles WHERE rolname = current_user"));
  await db.query(`CREATE ROLE ${role}`);
  plain = String(await one<number>(db, "SELECT oid::int FROM pg_roles WHERE rolname = $1", [role]));
  session = await db.connect();
  backend = (await session.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid ?? 0;
});

afterAll(async () => {
  session?.release();
  await db.query(`DROP ROLE IF EXISTS ${role}`);
  await db.end();
});

async function app(intervalMs: number): Promise<{ app: FastifyInstance; reads: ReadPool }> {
  const reads = new ReadPool({ size: 0 });
  return { app: await build({ db, secret: TEST_SECRET, pool: reads, history: { intervalMs } }), reads };
}

function get(app: FastifyInstance, url: string, as = superuser) {
  return app.inject({
    method: "GET",
    url,
    headers: signedHeaders(TEST_SECRET, url, { "x-pg-meminfo-role": as }),
  });
}

describe("sampling off", () => {
  it("runs no task of the read pool and no round, and the history is empty", async () => {
    const { app: off, reads } = await app(0);
    try {
      off.sampler.start();
      await sleep(1_500);
      expect(reads.tasksStarted).toBe(0);
      expect(off.sampler.health()).toMatchObject({ intervalMs: 0, rounds: 0, latest: null });
      const res = await get(off, "/v1/history?columns=pid");
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe("");
      // The request itself reads one stat file (which postmaster its cluster has), and nothing more
      // is read afterwards.
      expect(reads.tasksStarted).toBe(1);
      await sleep(1_500);
      expect(reads.tasksStarted).toBe(1);
    } finally {
      await off.close();
    }
  });
});

describe("sampling on", () => {
  let on: FastifyInstance;
  let reads: ReadPool;

  beforeAll(async () => {
    ({ app: on, reads } = await app(200));
    on.sampler.start();
    await sleep(1_200);
  });

  afterAll(async () => {
    await on?.close();
  });

  it("reads every process of the cluster each round, through the read pool", async () => {
    const health = on.sampler.health();
    expect(health.rounds).toBeGreaterThanOrEqual(3);
    expect(reads.tasksStarted).toBeGreaterThanOrEqual(health.rounds);
    // Every process already there when the latest round started.
    const { rows } = await db.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE backend_start < to_timestamp($1::float8 / 1000)",
      [health.latest?.startedAt],
    );
    expect(rows.length).toBeGreaterThan(3);
    const sampled = new Set(health.latest?.processes.map((p) => p.pid));
    for (const { pid } of rows) expect(sampled.has(pid), `pid ${pid}`).toBe(true);
    const mine = health.latest?.processes.find((p) => p.pid === backend);
    expect(mine?.labels.backendType).toBe("client backend");
    expect(mine?.pssAnon).toBeGreaterThan(0);
    expect(mine?.rss).toBeGreaterThan(mine?.pssAnon ?? 0);
    expect(on.sampler.growth(60_000).find((g) => g.pid === backend)?.samples).toBeGreaterThanOrEqual(3);
  });

  it("serves the samples of the pids asked for, as COPY rows", async () => {
    const res = await get(on, `/v1/history?columns=pid,backend_type,pss_anon_bytes&pid=${backend}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    const rows = rowsOf(res.body);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const row of rows) {
      expect(row[0]).toBe(String(backend));
      expect(row[1]).toBe("client backend");
      expect(Number(row[2]) % 1024).toBe(0);
    }
  });

  it("refuses a role without the privileges of pg_read_all_stats with 403 and 42501", async () => {
    const res = await get(on, "/v1/history?columns=pid", plain);
    expect(res.statusCode).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ code: "FORBIDDEN", sqlstate: "42501" });
  });

  it("refuses unsigned requests and bad parameters", async () => {
    const unsigned = await on.inject({ method: "GET", url: "/v1/history?columns=pid" });
    expect(unsigned.statusCode).toBe(401);
    for (const [query, sqlstate] of [
      ["columns=pid,start_ticks", "42703"],
      ["columns=pid&after=yesterday", "22023"],
      ["columns=pid&after=1&from=2", "22023"],
      ["columns=pid&until=1&before=2", "22023"],
      ["columns=pid&since=1", "22023"],
      ["columns=pid&after=1&after=2", "22023"],
      ["columns=pid&pid=-1", "22023"],
      ["columns=", "22023"],
    ] as const) {
      const res = await get(on, `/v1/history?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(JSON.parse(res.body).sqlstate, query).toBe(sqlstate);
    }
  });

  it("stops sampling when the app closes", async () => {
    const { app: short, reads: its } = await app(100);
    short.sampler.start();
    await sleep(400);
    await short.close();
    const tasks = its.tasksStarted;
    expect(tasks).toBeGreaterThan(0);
    await sleep(400);
    expect(its.tasksStarted).toBe(tasks);
  });
});
