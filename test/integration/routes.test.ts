import { execFileSync } from "node:child_process";
import { constants } from "node:fs";
import { mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { type IncomingMessage, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../../sidecar/http/app.js";
import { readAhead } from "../../sidecar/rows/copy-rows.js";
import { ReadPool } from "../../sidecar/rows/read-pool.js";
import { compiledBuild, compiledPool } from "../support/compiled-pool.js";
import { fixture, rowsOf } from "../support/fixtures.js";
import { deadPool, one, testPool } from "../support/pool.js";
import { signedHeaders, TEST_SECRET } from "../support/signing.js";

let pool: pg.Pool;
let session: pg.PoolClient;
let app: FastifyInstance;
let superuser: string;
let backend: number;

beforeAll(async () => {
  pool = testPool();
  app = await build({ db: pool, secret: TEST_SECRET, pool: new ReadPool({ size: 0 }) });
  superuser = String(await one<number>(pool, "SELECT oid::int FROM pg_roles WHERE rolname = current_user"));
  // A session held open, so its backend is there for every test.
  session = await pool.connect();
  backend = (await session.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid ?? 0;
});

afterAll(async () => {
  session.release();
  await app.close();
  await pool.end();
});

function get(url: string, headers: Record<string, string> = { "x-pg-meminfo-role": superuser }) {
  return app.inject({ method: "GET", url, headers: signedHeaders(TEST_SECRET, url, headers) });
}

describe("methods", () => {
  it("answers a signed HEAD or POST with 405 and Allow: GET, in the protocol's error format", async () => {
    for (const method of ["HEAD", "POST"] as const) {
      const url = "/v1/summary?columns=pid";
      const res = await app.inject({
        method,
        url,
        headers: signedHeaders(TEST_SECRET, url, { "x-pg-meminfo-role": superuser }, { method }),
      });
      expect(res.statusCode, method).toBe(405);
      expect(res.headers.allow).toBe("GET");
      if (method === "POST")
        expect(JSON.parse(res.body)).toMatchObject({ code: "METHOD_NOT_ALLOWED", sqlstate: "0A000" });
    }
  });
});

describe("GET /v1/summary", () => {
  it("streams one COPY row per cluster process, chunked", async () => {
    const res = await get("/v1/summary?columns=pid,rss,mem_size");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    const rows = rowsOf(res.body);
    const pids = rows.map((r) => Number(r[0]));
    expect(pids).toContain(backend);
    expect(new Set(pids).size).toBe(pids.length);
    for (const row of rows) {
      expect(row).toHaveLength(3);
      expect(Number(row[1])).toBeGreaterThan(0);
      expect(Number(row[2])).toBeGreaterThanOrEqual(Number(row[1]));
    }
  });

  it("keeps only the requested pids that belong to the cluster; gone pids have no rows", async () => {
    const gone = 4_194_304; // the kernel's PID_MAX_LIMIT: never a pid
    const res = await get(`/v1/summary?columns=pss,pid&pid=${gone},${backend}`);
    expect(res.statusCode).toBe(200);
    const rows = rowsOf(res.body);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.[1]).toBe(String(backend));
  });

  it("reads nothing of a live process outside the cluster: pid 1, the test runner", async () => {
    for (const pid of [1, process.pid]) {
      const res = await get(`/v1/summary?columns=pid&pid=${backend},${pid}`);
      expect(res.statusCode).toBe(200);
      expect(rowsOf(res.body).map((r) => Number(r[0]))).toEqual([backend]);
    }
  });

  it("answers an empty but complete chunked body when no pid matches", async () => {
    const res = await get(`/v1/summary?columns=pid&pid=${4_194_304}`);
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe("");
    expect(res.headers["transfer-encoding"]).toBe("chunked");
  });
});

describe("GET /v1/smaps", () => {
  it("reads the mappings of a backend, with the postgres binary among them", async () => {
    const res = await get(`/v1/smaps?columns=pid,sys_path,rss,vm_flags&pid=${backend}`);
    expect(res.statusCode).toBe(200);
    const rows = rowsOf(res.body);
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.every((r) => r[0] === String(backend))).toBe(true);
    expect(rows.some((r) => r[1]?.endsWith("/bin/postgres"))).toBe(true);
    expect(rows.every((r) => /^[a-z0-9]+( [a-z0-9]+)*$/.test(r[3] ?? ""))).toBe(true);
  });
});

describe("errors", () => {
  async function error(url: string, headers?: Record<string, string>) {
    const res = await get(url, headers);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    return { status: res.statusCode, body: res.json() as Record<string, string> };
  }

  it("MISSING_ROLE without the role header or with junk in it", async () => {
    expect(await error("/v1/summary?columns=pid", {})).toMatchObject({
      status: 400,
      body: { code: "MISSING_ROLE", sqlstate: "28000", message: "missing role" },
    });
    expect((await error("/v1/summary?columns=pid", { "x-pg-meminfo-role": "postgres" })).body.code).toBe(
      "MISSING_ROLE",
    );
  });

  it("UNKNOWN_COLUMN for a column of the other kind", async () => {
    expect(await error("/v1/summary?columns=pid,vm_flags")).toEqual({
      status: 400,
      body: {
        code: "UNKNOWN_COLUMN",
        sqlstate: "42703",
        message: 'column "vm_flags" does not exist',
        detail: 'The summary source has no column named "vm_flags".',
      },
    });
  });

  it("BAD_REQUEST for an unknown parameter, a missing or repeated one, bad pids and too many", async () => {
    const extra = await error("/v1/smaps?columns=pid&limit=3");
    expect(extra).toMatchObject({ status: 400, body: { code: "BAD_REQUEST", sqlstate: "22023" } });
    expect(extra.body.message).toBe('unknown query parameter "limit"');
    expect((await error("/v1/smaps")).body.message).toBe('missing query parameter "columns"');
    expect((await error("/v1/smaps?columns=pid&columns=rss")).body.code).toBe("BAD_REQUEST");
    expect((await error("/v1/smaps?columns=pid&pid=12a")).body.message).toBe('invalid pid "12a"');
    const many = Array.from({ length: 1001 }, (_, i) => i + 1).join(",");
    expect((await error(`/v1/smaps?columns=pid&pid=${many}`)).body.message).toBe("too many pids");
  });

  it("NOT_FOUND for an unknown path", async () => {
    expect(await error("/v1/maps?columns=pid")).toMatchObject({
      status: 404,
      body: { code: "NOT_FOUND", sqlstate: "22023", message: "not found" },
    });
  });

  it("FORBIDDEN for a role without pg_read_all_stats", async () => {
    const role = `mi_routes_${process.pid}`;
    await pool.query(`CREATE ROLE ${role}`);
    try {
      const oid = String(await one<number>(pool, "SELECT oid::int FROM pg_roles WHERE rolname = $1", [role]));
      expect(await error("/v1/summary?columns=pid", { "x-pg-meminfo-role": oid })).toMatchObject({
        status: 403,
        body: { code: "FORBIDDEN", sqlstate: "42501", hint: `GRANT pg_read_all_stats TO ${role};` },
      });
    } finally {
      await pool.query(`DROP ROLE ${role}`);
    }
  });

  it("DATABASE_UNAVAILABLE when the cluster cannot be reached", async () => {
    const dead = deadPool();
    const offline = await build({ db: dead, secret: TEST_SECRET, pool: new ReadPool({ size: 0 }) });
    try {
      const url = "/v1/summary?columns=pid";
      const res = await offline.inject({
        url,
        headers: signedHeaders(TEST_SECRET, url, { "x-pg-meminfo-role": "10" }),
      });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: "DATABASE_UNAVAILABLE", sqlstate: "08006" });
    } finally {
      await offline.close();
      await dead.end();
    }
  });
});

describe("over a Unix socket with a fixture proc tree", () => {
  let root: string;
  let server: FastifyInstance;
  let socket: string;
  let first: number;
  let second: number;
  /** Processes of the test cluster, in pid order. */
  let pids: number[];
  let reads: ReadPool;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "pg-meminfo-routes-"));
    socket = join(root, "sidecar.sock");
    pids = (await pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity ORDER BY pid")).rows.map(
      (r) => r.pid,
    );
    [first, second] = pids as [number, number];
    // Threads: a FIFO that blocks a read must block a thread, not the test's own event loop.
    reads = await compiledPool(2);
    expect(pids.length).toBeGreaterThan(readAhead(reads) + 1);
    const buildCompiled = await compiledBuild();
    server = await buildCompiled({
      db: pool,
      secret: TEST_SECRET,
      pool: reads,
      procRoot: join(root, "proc"),
    });
    await server.listen({ path: socket });
  });

  afterAll(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  /**
   * Sets what /proc/PID/smaps of the fixture tree is: a file's text, a directory (unreadable) or a
   * FIFO (a read that waits until the test writes).
   */
  async function smaps(pid: number, content: string | "directory" | "fifo"): Promise<string> {
    const dir = join(root, "proc", String(pid));
    const path = join(dir, "smaps");
    await rm(dir, { recursive: true, force: true });
    await mkdir(content === "directory" ? path : dir, { recursive: true });
    if (content === "fifo") execFileSync("mkfifo", [path]);
    else if (content !== "directory") await writeFile(path, content);
    return path;
  }

  /** Starts a request and resolves with the response and its first chunk of body. */
  function firstChunk(url: string): Promise<{ res: IncomingMessage; chunk: string; destroy: () => void }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: socket,
          path: url,
          headers: signedHeaders(TEST_SECRET, url, { "x-pg-meminfo-role": superuser }),
        },
        (res) => {
          res.setEncoding("utf8");
          res.once("data", (chunk: string) => {
            res.pause();
            resolve({ res, chunk, destroy: () => req.destroy() });
          });
        },
      );
      req.on("error", reject);
      req.end();
    });
  }

  function fetch(
    url: string,
  ): Promise<{ status: number; headers: Record<string, unknown>; body: string; complete: boolean }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: socket,
          path: url,
          headers: {
            ...signedHeaders(TEST_SECRET, url, { "x-pg-meminfo-role": superuser }),
            connection: "close",
          },
        },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            body += chunk;
          });
          const done = (complete: boolean) =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, complete });
          res.on("end", () => done(res.complete));
          res.on("error", () => done(false));
          res.on("aborted", () => done(false));
        },
      );
      req.on("error", reject);
      req.end();
    });
  }

  it("sends a complete chunked body when every read succeeds", async () => {
    await smaps(first, fixture("protection-key.smaps").toString());
    await smaps(second, fixture("kernel-4.19.smaps").toString());
    const res = await fetch(`/v1/smaps?columns=pid,sys_path&pid=${first},${second}`);
    expect(res).toMatchObject({ status: 200, complete: true });
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    expect(rowsOf(res.body)).toEqual([
      [String(first), "/usr/lib/postgresql/15/bin/postgres"],
      [String(first), "[stack]"],
      [String(second), "/bin/cat"],
      [String(second), "[heap]"],
      [String(second), null],
    ]);
  });

  it("answers a JSON PROC_UNREADABLE when the first process cannot be read", async () => {
    await smaps(first, "directory");
    const res = await fetch(`/v1/smaps?columns=pid&pid=${first},${second}`);
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body)).toMatchObject({ code: "PROC_UNREADABLE", sqlstate: "58000" });
  });

  it("closes the connection without the terminating chunk when a later read fails", async () => {
    await smaps(first, fixture("protection-key.smaps").toString());
    await smaps(second, "directory");
    const res = await fetch(`/v1/smaps?columns=pid,sys_path&pid=${first},${second}`);
    expect(res.status).toBe(200);
    expect(res.complete).toBe(false);
    expect(res.body).toBe(`${first}\t/usr/lib/postgresql/15/bin/postgres\n${first}\t[stack]\n`);
  });

  it("sends the first process's rows while the next one is still being read", async () => {
    await smaps(first, fixture("protection-key.smaps").toString());
    const fifo = await smaps(second, "fifo");
    const { res, chunk } = await firstChunk(`/v1/smaps?columns=pid,sys_path&pid=${first},${second}`);
    expect(chunk).toBe(`${first}\t/usr/lib/postgresql/15/bin/postgres\n${first}\t[stack]\n`);
    expect(res.complete).toBe(false);
    let rest = "";
    res.on("data", (c: string) => {
      rest += c;
    });
    const ended = new Promise((resolve) => res.on("end", resolve));
    res.resume();
    await writeFile(fifo, fixture("kernel-4.19.smaps"));
    await ended;
    expect(res.complete).toBe(true);
    expect(rowsOf(rest).map((r) => r[1])).toEqual(["/bin/cat", "[heap]", null]);
  });

  it("stops reading processes when the client goes away", async () => {
    // The files in flight when the client leaves are read to their end; none after them is opened.
    const [head, stuck, ...rest] = pids;
    const inFlight = rest.slice(0, readAhead(reads) - 1);
    const after = rest[readAhead(reads) - 1] as number;
    await smaps(head as number, fixture("protection-key.smaps").toString());
    const blocking = await smaps(stuck as number, "fifo");
    for (const pid of inFlight) await smaps(pid, fixture("kernel-4.19.smaps").toString());
    const untouched = await smaps(after, "fifo");
    const list = [head, stuck, ...inFlight, after].join(",");
    const { destroy } = await firstChunk(`/v1/smaps?columns=pid&pid=${list}`);
    destroy();
    await sleep(100);
    await writeFile(blocking, fixture("kernel-4.19.smaps"));
    await sleep(300);
    // Opening a FIFO for writing without blocking fails with ENXIO while nobody has it open for reading.
    const attempt = open(untouched, constants.O_WRONLY | constants.O_NONBLOCK);
    await expect(attempt).rejects.toMatchObject({ code: "ENXIO" });
  });
});

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
    const postmaster = await one<number>(pool, "SELECT pg_meminfo_postmaster_pid()");
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
    const postmaster = await one<number>(pool, "SELECT pg_meminfo_postmaster_pid()");
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
