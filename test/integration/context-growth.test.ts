// memory_context_growth(pid, during): two dumps of a live backend's memory contexts, joined by path.
// The sessions below grow between the two dumps, and only then: each waits on an advisory lock that
// the test lets go of once the function sleeps between its dumps (its first round is over).
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendPid, connect, queryError } from "../support/db.js";

interface GrowthRow {
  path: (string | null)[] | null;
  name: string | null;
  level: number | null;
  contexts_before: string | null;
  contexts_after: string | null;
  bytes_before: string;
  bytes_after: string;
  growth_bytes: string;
  tree_growth_bytes: string | null;
}

const LOCK = 7_340_013;
const MB = 1024 * 1024;

let admin: pg.Client;
let gate: pg.Client;
const sessions: { client: pg.Client; pid: number }[] = [];

beforeAll(async () => {
  admin = await connect();
  gate = await connect(undefined, "pg-meminfo-tests-gate");
  // Stack frames until the server refuses more (max_stack_depth): memory of the process's own, in
  // no memory context, that stays resident after the call.
  await admin.query(`CREATE OR REPLACE FUNCTION regress_growth_deep(n integer) RETURNS integer
                     LANGUAGE plpgsql AS $$ BEGIN RETURN regress_growth_deep(n + 1); END $$`);
});

afterAll(async () => {
  for (const { client, pid } of sessions) {
    await admin.query("SELECT pg_terminate_backend($1)", [pid]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
  await admin.query("DROP FUNCTION IF EXISTS regress_growth_deep(integer)");
  await gate.end();
  await admin.end();
});

async function session(name: string): Promise<{ client: pg.Client; pid: number }> {
  const client = await connect(undefined, name);
  client.on("error", () => {});
  const opened = { client, pid: await backendPid(client) };
  sessions.push(opened);
  return opened;
}

async function waitFor(pid: number, waitEvent: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const { rows } = await admin.query("SELECT wait_event FROM pg_stat_activity WHERE pid = $1", [pid]);
    if (rows[0]?.wait_event === waitEvent) return;
    await sleep(25);
  }
  throw new Error(`backend ${pid} never waited on ${waitEvent}`);
}

/**
 * Runs memory_context_growth on `pid` over `seconds`, letting the session (blocked on the gate's
 * advisory lock) go on only once the function's first dump and read are done.
 */
async function growthAcrossTheGate(pid: number, seconds: number): Promise<GrowthRow[]> {
  const caller = await connect(undefined, "pg-meminfo-tests-growth");
  try {
    const callerPid = await backendPid(caller);
    const result = caller.query<GrowthRow>(
      "SELECT * FROM memory_context_growth($1, make_interval(secs => $2))",
      [pid, seconds],
    );
    result.catch(() => undefined);
    await waitFor(callerPid, "PgSleep");
    await gate.query("SELECT pg_advisory_unlock($1)", [LOCK]);
    return (await result).rows;
  } finally {
    await caller.end();
  }
}

describe("memory_context_growth", () => {
  it("names the context a session allocates in, biggest growth first", async () => {
    await gate.query("SELECT pg_advisory_lock($1)", [LOCK]);
    const { client, pid } = await session("pg-meminfo-tests-grows");
    // 4000 elements of 1 kB appended to an array: an "expanded array" context of 4 MB and more.
    const growing = client
      .query(`DO $$ DECLARE a text[] := '{}'; BEGIN
                PERFORM pg_advisory_lock(${LOCK});
                FOR i IN 1..4000 LOOP a := a || repeat('x', 1000); END LOOP;
                PERFORM pg_sleep(60);
              END $$`)
      .catch(() => undefined);
    await waitFor(pid, "advisory");
    const rows = await growthAcrossTheGate(pid, 3);
    const [top] = rows;
    expect(top?.name, JSON.stringify(rows.slice(0, 3))).toBe("expanded array");
    expect(top?.path?.[0]).toBe("TopMemoryContext");
    expect(top?.path?.at(-1)).toBe("expanded array");
    expect(Number(top?.growth_bytes)).toBeGreaterThan(4000 * 1000);
    expect(Number(top?.bytes_after) - Number(top?.bytes_before)).toBe(Number(top?.growth_bytes));
    expect(top?.contexts_after).toBe("1");
    // Ordered by growth, with exactly one row outside the contexts.
    const growths = rows.map((r) => Number(r.growth_bytes));
    expect(growths).toEqual([...growths].sort((a, b) => b - a));
    expect(rows.filter((r) => r.path === null).map((r) => r.name)).toEqual(["outside contexts"]);
    // The growth of a path and of every path below it: TopMemoryContext's holds the array's.
    const contexts = rows.filter((r) => r.path !== null);
    for (const row of contexts) {
      const prefix = JSON.stringify(row.path).slice(0, -1);
      const below = contexts.filter((r) =>
        `${JSON.stringify(r.path).slice(0, -1)},`.startsWith(`${prefix},`),
      );
      const sum = below.reduce((acc, r) => acc + Number(r.growth_bytes), 0);
      expect(Number(row.tree_growth_bytes), JSON.stringify(row.path)).toBe(sum);
    }
    const root = contexts.find((r) => JSON.stringify(r.path) === '["TopMemoryContext"]');
    expect(Number(root?.tree_growth_bytes)).toBeGreaterThanOrEqual(Number(root?.growth_bytes) + 4000 * 1000);
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
    await growing;
  });

  it("reports the memory that grows outside every context", async () => {
    await gate.query("SELECT pg_advisory_lock($1)", [LOCK]);
    const { client, pid } = await session("pg-meminfo-tests-stack");
    const growing = client
      .query(`DO $$ BEGIN
                PERFORM pg_advisory_lock(${LOCK});
                BEGIN PERFORM regress_growth_deep(0); EXCEPTION WHEN statement_too_complex THEN NULL; END;
                PERFORM pg_sleep(60);
              END $$`)
      .catch(() => undefined);
    await waitFor(pid, "advisory");
    const rows = await growthAcrossTheGate(pid, 3);
    const outside = rows.find((r) => r.path === null);
    expect(outside, JSON.stringify(rows.slice(0, 3))).toMatchObject({
      name: "outside contexts",
      level: null,
      tree_growth_bytes: null,
      contexts_before: null,
      contexts_after: null,
    });
    // The stack it filled up to max_stack_depth (2 MB by default) stays resident, in no context.
    expect(Number(outside?.growth_bytes)).toBeGreaterThan(MB);
    expect(rows[0]).toEqual(outside);
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
    await growing;
  });

  it("sums contexts that share a path before joining: one row each, no counts multiplied", async () => {
    const { client, pid } = await session("pg-meminfo-tests-prepared");
    // 30 CachedPlanSource contexts (each with a CachedPlanQuery) under CacheMemoryContext, idle.
    for (let i = 0; i < 30; i++) await client.query(`PREPARE regress_p${i} AS SELECT ${i} + $1::int`);
    const rows = (
      await admin.query<GrowthRow>("SELECT * FROM memory_context_growth($1, '200 milliseconds')", [pid])
    ).rows;
    const paths = rows.filter((r) => r.path !== null).map((r) => JSON.stringify(r.path));
    expect(new Set(paths).size).toBe(paths.length);
    const source = rows.find(
      (r) =>
        JSON.stringify(r.path) ===
        JSON.stringify(["TopMemoryContext", "CacheMemoryContext", "CachedPlanSource"]),
    );
    expect(source).toMatchObject({ name: "CachedPlanSource", contexts_before: "30", contexts_after: "30" });
    // The bytes of the 30 contexts once, as a dump of its own counts them.
    const { rows: dump } = await admin.query(
      `SELECT count(*) AS contexts, sum(total_bytes) AS bytes FROM memory_contexts
        WHERE pid = $1 AND name = 'CachedPlanSource' AND parent = 'CacheMemoryContext'`,
      [pid],
    );
    expect(dump[0]).toEqual({ contexts: "30", bytes: source?.bytes_after });
    expect(source?.growth_bytes).toBe("0");
  });

  it("refuses what is not a backend or not a sane interval, with the SQLSTATE and a hint", async () => {
    const me = await backendPid(admin);
    const cases: [string, unknown[], string, RegExp][] = [
      [
        "SELECT * FROM memory_context_growth($1, '1 s')",
        [1],
        "22023",
        /PID 1 is not a PostgreSQL server process/,
      ],
      [
        "SELECT * FROM memory_context_growth(pg_meminfo_postmaster_pid(), '1 s')",
        [],
        "22023",
        /is the postmaster/,
      ],
      ["SELECT * FROM memory_context_growth($1, '-1 s')", [me], "22023", /out of range: from 0 to 1 hour/],
      ["SELECT * FROM memory_context_growth($1, '1 hour 1 second')", [me], "22023", /out of range/],
      ["SELECT * FROM memory_context_growth($1, '1 month')", [me], "22023", /out of range/],
      ["SELECT * FROM memory_context_growth($1, NULL)", [me], "22004", /needs a pid and an interval/],
      ["SELECT * FROM memory_context_growth(NULL, '1 s')", [], "22004", /needs a pid and an interval/],
    ];
    for (const [query, params, code, message] of cases) {
      const error = await queryError(admin, query, params);
      expect(error.code, `${query}: ${error.message}`).toBe(code);
      expect(error.message).toMatch(message);
      expect(error.hint, query).toBeTruthy();
    }
  });

  it("runs with the caller's rights: a reader without EXECUTE on the dump is refused by the sidecar", async () => {
    const suffix = randomBytes(4).toString("hex");
    const plain = `pgmi_growth_plain_${suffix}`;
    const reader = `pgmi_growth_reader_${suffix}`;
    await admin.query(`CREATE ROLE ${plain} LOGIN`);
    await admin.query(`CREATE ROLE ${reader} LOGIN IN ROLE pg_read_all_stats`);
    try {
      const me = await backendPid(admin);
      const asPlain = await connect(plain);
      const asReader = await connect(reader);
      try {
        const refused = await queryError(asPlain, "SELECT * FROM memory_context_growth($1, '0')", [me]);
        expect(refused.code).toBe("42501");
        expect(refused.message).toMatch(/permission denied for function memory_context_growth/);
        const noDump = await queryError(asReader, "SELECT * FROM memory_context_growth($1, '0')", [me]);
        expect(noDump.code).toBe("42501");
        expect(noDump.hint).toBe(
          `GRANT EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) TO ${reader};`,
        );
        await admin.query(`GRANT EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) TO ${reader}`);
        const { rows } = await asReader.query("SELECT count(*) AS n FROM memory_context_growth($1, '0')", [
          me,
        ]);
        expect(Number(rows[0]?.n)).toBeGreaterThan(20);
      } finally {
        await asPlain.end();
        await asReader.end();
      }
    } finally {
      await admin.query(`REVOKE EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) FROM ${reader}`);
      await admin.query(`DROP ROLE ${plain}`);
      await admin.query(`DROP ROLE ${reader}`);
    }
  });
});
