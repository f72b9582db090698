import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../../sidecar/http/app.js";
import { ReadPool } from "../../sidecar/rows/read-pool.js";
import { compiledPool } from "../support/compiled-pool.js";
import { rowsOf } from "../support/fixtures.js";
import { one, testPool } from "../support/pool.js";
import { signedHeaders, TEST_SECRET } from "../support/signing.js";

let pool: pg.Pool;
let app: FastifyInstance;
let superuser: string;
let postmaster: number;

beforeAll(async () => {
  pool = testPool();
  app = await build({ db: pool, secret: TEST_SECRET, pool: new ReadPool({ size: 0 }) });
  superuser = String(await one<number>(pool, "SELECT oid::int FROM pg_roles WHERE rolname = current_user"));
  postmaster = await one<number>(pool, "SELECT pg_meminfo_postmaster_pid()");
});

afterAll(async () => {
  await app.close();
  await pool.end();
});

function get(url: string, headers: Record<string, string> = { "x-pg-meminfo-role": superuser }) {
  return app.inject({ method: "GET", url, headers: signedHeaders(TEST_SECRET, url, headers) });
}

describe("GET /v1/limits", () => {
  it("answers one chunked COPY row with the columns in request order", async () => {
    const res = await get("/v1/limits?columns=overcommit_memory,memory_limit_bytes,limit_source");
    expect(res.statusCode).toBe(200);
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    const rows = rowsOf(res.body);
    expect(rows).toHaveLength(1);
    const [overcommit, limit, source] = rows[0] ?? [];
    expect(["0", "1", "2"]).toContain(overcommit);
    expect(Number(limit)).toBeGreaterThan(0);
    expect(["cgroup v1", "cgroup v2", "meminfo"]).toContain(source);
  });

  it("refuses a pid (it has one row, the cluster's) and columns it does not have", async () => {
    const withPid = await get(`/v1/limits?columns=limit_source&pid=${postmaster}`);
    expect(withPid.statusCode).toBe(400);
    expect(withPid.json()).toMatchObject({ code: "BAD_REQUEST", sqlstate: "22023" });
    const unknown = await get("/v1/limits?columns=pid");
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({ code: "UNKNOWN_COLUMN", sqlstate: "42703" });
  });

  it("checks the role like every other source", async () => {
    const role = `mi_limits_${process.pid}`;
    await pool.query(`CREATE ROLE ${role}`);
    try {
      const oid = String(await one<number>(pool, "SELECT oid::int FROM pg_roles WHERE rolname = $1", [role]));
      const res = await get("/v1/limits?columns=limit_source", { "x-pg-meminfo-role": oid });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: "FORBIDDEN", sqlstate: "42501" });
    } finally {
      await pool.query(`DROP ROLE ${role}`);
    }
  });

  it("reads the same row on a thread of the read pool as in the main thread", async () => {
    const threads = await compiledPool(1);
    const inline = new ReadPool({ size: 0 });
    try {
      const task = {
        type: "limits" as const,
        postmasterPid: postmaster,
        columns: ["limit_source", "cgroup", "overcommit_memory"],
      };
      const onThread = (await threads.run(task)).toString();
      expect(rowsOf(onThread)).toHaveLength(1);
      expect(onThread).toBe((await inline.run(task)).toString());
    } finally {
      await threads.close();
      await inline.close();
    }
  });
});
