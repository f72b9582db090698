/**
 * memory_contexts and backend_memory_contexts_top through the wrapper and the run's sidecar: real
 * backends, the real server log (the cluster's logging collector, stderr with %p).
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { holdVariable, logLinesOf, withoutSubtrees } from "../support/backends.js";
import { backendPid, connect, explainVerbose } from "../support/db.js";
import { runClusterLogFile } from "../support/extra-sidecar.js";
import { failure } from "../support/foreign-server.js";

const BIG = 64 * 1024 * 1024;

let admin: pg.Client;
let holder: pg.Client;
let holderPid: number;
let holding: { done: Promise<unknown> } | undefined;
let idle: pg.Client;
let idlePid: number;

beforeAll(async () => {
  admin = await connect();
  holder = await connect(undefined, "contexts-holder");
  holderPid = await backendPid(holder);
  holding = await holdVariable(holder, admin, holderPid, BIG);
  idle = await connect(undefined, "contexts-idle");
  idlePid = await backendPid(idle);
});

afterAll(async () => {
  await admin.query("SELECT pg_terminate_backend($1)", [holderPid]).catch(() => undefined);
  await holding?.done;
  await holder.end().catch(() => undefined);
  await idle.end();
  await admin.end();
});

type Row = { name: string | null; level: number; parent: string | null; total_bytes: string };

describe("memory_contexts", () => {
  it("of my own backend matches pg_backend_memory_contexts: same names and levels, close sizes", async () => {
    const session = await connect();
    try {
      const ours =
        "SELECT name, level, parent, total_bytes FROM memory_contexts WHERE pid = pg_backend_pid()";
      const view = "SELECT name, level, parent, total_bytes FROM pg_backend_memory_contexts";
      // First runs load the caches both statements need, so that both readings see them.
      await session.query(ours);
      await session.query(view);
      const dumped = (await session.query<Row>(ours)).rows;
      const shown = (await session.query<Row>(view)).rows;
      // The statement running at each moment differs (and the dump runs inside the scan): leave out
      // its contexts and what hangs below them; the rest is the session's.
      const transient = new Set(["TopPortalContext", "PortalContext", "MessageContext", "ExecutorState"]);
      const tree = (rows: Row[]) =>
        withoutSubtrees(rows, transient).map((r) => `${r.level} ${r.parent ?? "-"} > ${r.name}`);
      expect(tree(dumped).sort()).toEqual(tree(shown).sort());
      expect(tree(dumped).length).toBeGreaterThan(50);
      const cache = (rows: Row[]) => Number(rows.find((r) => r.name === "CacheMemoryContext")?.total_bytes);
      expect(cache(dumped)).toBeGreaterThan(0);
      expect(Math.abs(cache(dumped) - cache(shown))).toBeLessThanOrEqual(cache(shown) * 0.25);
      expect(dumped[0]).toMatchObject({ name: "TopMemoryContext", level: 0, parent: null });
    } finally {
      await session.end();
    }
  });

  it("of another backend shows the context that holds its 64 MB variable, at about that size", async () => {
    const { rows } = await admin.query<{ name: string; total_bytes: string; type: string; path: number[] }>(
      "SELECT name, total_bytes, type, path FROM memory_contexts WHERE pid = $1 ORDER BY total_bytes DESC LIMIT 1",
      [holderPid],
    );
    expect(rows[0]?.name).toBe("SPI Proc");
    expect(Number(rows[0]?.total_bytes)).toBeGreaterThan(BIG);
    expect(Number(rows[0]?.total_bytes)).toBeLessThan(BIG * 1.01);
    expect(rows[0]?.path[0]).toBe(1);
  });

  it("gives rows that add up to the Grand total the backend logged", async () => {
    const log = runClusterLogFile();
    const before = (await readFile(log)).length;
    const { rows } = await admin.query<{ total: string; free: string; n: string }>(
      "SELECT sum(total_bytes) AS total, sum(free_bytes) AS free, count(*) AS n FROM memory_contexts WHERE pid = $1",
      [holderPid],
    );
    const lines = logLinesOf((await readFile(log)).subarray(before).toString("utf8"), holderPid);
    const grand = lines
      .map((l) => /Grand total: (\d+) bytes in \d+ blocks; (\d+) free/.exec(l))
      .find(Boolean);
    expect(grand, lines.slice(-3).join("\n")).toBeDefined();
    expect(rows[0]?.total).toBe(grand?.[1]);
    expect(rows[0]?.free).toBe(grand?.[2]);
    // One dump for one query: a header and one line per row before the Grand total.
    expect(lines.filter((l) => l.includes(`logging memory contexts of PID ${holderPid}`))).toHaveLength(1);
    expect(lines.filter((l) => l.includes("LOG:  level: ")).length).toBe(Number(rows[0]?.n));
  });

  it("reads several pids at once with pid = ANY (...)", async () => {
    const { rows } = await admin.query<{ pid: number; top: string; n: string }>(
      "SELECT pid, count(*) AS n, min(name) FILTER (WHERE level = 0) AS top FROM memory_contexts " +
        "WHERE pid = ANY ($1) GROUP BY pid ORDER BY pid",
      [[idlePid, holderPid]],
    );
    expect(rows.map((r) => r.pid)).toEqual([idlePid, holderPid].sort((a, b) => a - b));
    for (const row of rows) {
      expect(row.top).toBe("TopMemoryContext");
      expect(Number(row.n)).toBeGreaterThan(50);
    }
  });

  it("refuses a query without a pid condition, at plan time, with the hint", async () => {
    for (const query of [
      "SELECT * FROM memory_contexts",
      "SELECT * FROM memory_contexts WHERE pid > 0",
      "SELECT * FROM pg_stat_activity a JOIN memory_contexts m USING (pid)",
      "EXPLAIN SELECT * FROM backend_memory_contexts_top",
    ]) {
      const error = await failure(admin, query);
      expect(error.code, query).toBe("0A000");
      expect(error.message).toBe("cannot read the memory contexts of every backend");
      expect(error.hint).toBe(
        "Add WHERE pid = ... or pid = ANY(...); a dump of every backend floods the server log.",
      );
    }
  });
});

describe("backend_memory_contexts_top", () => {
  it("sends WHERE pid = X to both of its sources", async () => {
    const plan = await explainVerbose(
      admin,
      `SELECT * FROM backend_memory_contexts_top WHERE pid = ${idlePid}`,
    );
    const text = plan.join("\n");
    expect(text.match(/Sidecar Request: \S+/g)?.sort()).toEqual([
      "Sidecar Request: /v1/by_kind",
      "Sidecar Request: /v1/contexts",
    ]);
    expect(text.match(/Sidecar Pid Filter: .*/g)).toEqual([
      `Sidecar Pid Filter: (pid = ${idlePid})`,
      `Sidecar Pid Filter: (pid = ${idlePid})`,
    ]);
  });

  type Top = {
    contexts: string;
    total_bytes: string;
    largest_contexts: string[];
    largest_contexts_bytes: string[];
    uss_bytes: string;
    unaccounted_bytes: string;
  };
  const TOP =
    "SELECT contexts, total_bytes, largest_contexts, largest_contexts_bytes, uss_bytes, unaccounted_bytes " +
    "FROM backend_memory_contexts_top WHERE pid = $1";

  it("of a backend holding 64 MB: its contexts account for its own memory", async () => {
    const [top] = (await admin.query<Top>(TOP, [holderPid])).rows;
    expect(top?.largest_contexts[0]).toBe("SPI Proc");
    expect(top?.largest_contexts).toHaveLength(5);
    expect(Number(top?.largest_contexts_bytes[0])).toBeGreaterThan(BIG);
    expect(Number(top?.total_bytes)).toBeGreaterThan(BIG);
    expect(Number(top?.uss_bytes)).toBeGreaterThan(BIG);
    expect(BigInt(top?.unaccounted_bytes ?? "x")).toBe(
      BigInt(top?.uss_bytes ?? 0) - BigInt(top?.total_bytes ?? 0),
    );
    expect(Math.abs(Number(top?.unaccounted_bytes))).toBeLessThan(8 * 1024 * 1024);
  });

  it("of an idle backend: little memory outside its contexts", async () => {
    const [top] = (await admin.query<Top>(TOP, [idlePid])).rows;
    expect(Number(top?.contexts)).toBeGreaterThan(50);
    expect(Number(top?.total_bytes)).toBeGreaterThan(512 * 1024);
    expect(Math.abs(Number(top?.unaccounted_bytes))).toBeLessThan(4 * 1024 * 1024);
  });
});

describe("privileges of memory_contexts", () => {
  const suffix = randomBytes(4).toString("hex");
  const plain = `pgmi_ctx_plain_${suffix}`;
  const stats = `pgmi_ctx_stats_${suffix}`;

  beforeAll(async () => {
    await admin.query(`CREATE ROLE ${plain} LOGIN`);
    await admin.query(`CREATE ROLE ${stats} LOGIN IN ROLE pg_read_all_stats`);
  });

  afterAll(async () => {
    await admin.query(`REVOKE EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) FROM ${stats}`);
    await admin.query(`DROP ROLE IF EXISTS ${plain}`);
    await admin.query(`DROP ROLE IF EXISTS ${stats}`);
  });

  async function as<T>(role: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = await connect(role);
    try {
      return await body(client);
    } finally {
      await client.end();
    }
  }

  it("a role without pg_read_all_stats gets 42501", async () => {
    const error = await as(plain, (c) => failure(c, `SELECT * FROM memory_contexts WHERE pid = ${idlePid}`));
    expect(error.code).toBe("42501");
  });

  it("a member of pg_read_all_stats without EXECUTE on the function gets 42501 and the GRANT", async () => {
    // SELECT on the table itself is granted to pg_read_all_stats: the sidecar refuses.
    const error = await as(stats, (c) => failure(c, `SELECT * FROM memory_contexts WHERE pid = ${idlePid}`));
    expect(error.code).toBe("42501");
    expect(error.message).toBe(
      "permission denied: must have EXECUTE on pg_log_backend_memory_contexts(integer)",
    );
    expect(error.hint).toBe(`GRANT EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) TO ${stats};`);
  });

  it("nor through backend_memory_contexts_top, owned by the superuser who created the extension", async () => {
    const error = await as(stats, (c) =>
      failure(c, `SELECT * FROM backend_memory_contexts_top WHERE pid = ${idlePid}`),
    );
    expect(error.code).toBe("42501");
    expect(error.message).toBe(
      "permission denied: must have EXECUTE on pg_log_backend_memory_contexts(integer)",
    );
  });

  it("with that GRANT, the member reads them", async () => {
    await admin.query(`GRANT EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) TO ${stats}`);
    const { rows } = await as(stats, (c) =>
      c.query(`SELECT count(*)::int AS n FROM memory_contexts WHERE pid = ${idlePid}`),
    );
    expect(rows[0]?.n).toBeGreaterThan(50);
  });
});
