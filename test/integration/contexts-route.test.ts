/**
 * GET /v1/contexts through app.inject, against the run's cluster and its log: the parameters it
 * refuses, the COPY text of its rows, and one dump shared by concurrent requests for a pid.
 */
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../../sidecar/http/app.js";
import { ReadPool } from "../../sidecar/rows/read-pool.js";
import { logLinesOf, whileStopped } from "../support/backends.js";
import { backendPid, connect } from "../support/db.js";
import { runClusterLogFile } from "../support/extra-sidecar.js";
import { rowsOf } from "../support/fixtures.js";
import { one, testPool } from "../support/pool.js";
import { signedHeaders, TEST_SECRET } from "../support/signing.js";

let pool: pg.Pool;
let app: FastifyInstance;
let superuser: string;
let idle: pg.Client;
let idlePid: number;

beforeAll(async () => {
  pool = testPool();
  app = await build({ db: pool, secret: TEST_SECRET, pool: new ReadPool({ size: 0 }) });
  superuser = String(await one<number>(pool, "SELECT oid::int FROM pg_roles WHERE rolname = current_user"));
  idle = await connect(undefined, "contexts-route-idle");
  idlePid = await backendPid(idle);
});

afterAll(async () => {
  await idle.end();
  await app.close();
  await pool.end();
});

function get(url: string) {
  return app.inject({
    method: "GET",
    url,
    headers: signedHeaders(TEST_SECRET, url, { "x-pg-meminfo-role": superuser }),
  });
}

describe("GET /v1/contexts", () => {
  it("requires pid, with a hint that says how to name the backends", async () => {
    const res = await get("/v1/contexts?columns=pid,name");
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      code: "BAD_REQUEST",
      sqlstate: "22023",
      message: "memory contexts are read only for the backends named by pid",
      detail: "The request has no pid parameter.",
      hint: "Add WHERE pid = ... or pid = ANY(...); a dump of every backend floods the server log.",
    });
  });

  it("refuses a column it does not have", async () => {
    const res = await get(`/v1/contexts?columns=pid,rss&pid=${idlePid}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: "UNKNOWN_COLUMN", sqlstate: "42703" });
  });

  it("sends the columns asked for, in that order, as COPY text: int[] paths, \\N for NULL", async () => {
    const res = await get(
      `/v1/contexts?columns=name,level,path,parent,summarized_contexts,pid,total_bytes,used_bytes,free_bytes&pid=${idlePid}`,
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    const rows = rowsOf(res.body);
    expect(rows[0]?.slice(0, 6)).toEqual(["TopMemoryContext", "0", "{1}", null, null, String(idlePid)]);
    const cache = rows.find((r) => r[0] === "CacheMemoryContext");
    expect(cache?.slice(1, 4)).toEqual(["1", expect.stringMatching(/^\{1,\d+\}$/), "TopMemoryContext"]);
    for (const row of rows) {
      expect(row).toHaveLength(9);
      expect(BigInt(row[6] ?? "x")).toBe(BigInt(row[7] ?? "x") + BigInt(row[8] ?? "x"));
    }
  });

  it("shares one dump between concurrent requests for the same pid", async () => {
    const log = runClusterLogFile();
    const before = (await readFile(log)).length;
    const url = `/v1/contexts?columns=pid,name&pid=${idlePid}`;
    const [a, b] = await whileStopped(idlePid, async () => {
      // The stopped backend cannot answer yet: the second request comes while the first waits.
      const first = get(url);
      await sleep(200);
      const second = get(url);
      await sleep(200);
      return [first, second];
    });
    const [resA, resB] = await Promise.all([a, b]);
    expect(resA?.statusCode).toBe(200);
    expect(resB?.body).toBe(resA?.body);
    const lines = logLinesOf((await readFile(log)).subarray(before).toString("utf8"), idlePid);
    expect(lines.filter((l) => l.includes(`logging memory contexts of PID ${idlePid}`))).toHaveLength(1);
  });

  it("dumps several pids at once, in ascending pid order", async () => {
    const other = await connect();
    try {
      const otherPid = await backendPid(other);
      const res = await get(`/v1/contexts?columns=pid,level&pid=${otherPid},${idlePid}`);
      expect(res.statusCode).toBe(200);
      const tops = rowsOf(res.body)
        .filter((r) => r[1] === "0")
        .map((r) => Number(r[0]));
      expect(tops).toEqual([idlePid, otherPid].sort((x, y) => x - y));
    } finally {
      await other.end();
    }
  });
});
