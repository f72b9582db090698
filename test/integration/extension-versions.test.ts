import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendPid, clientAndIdleBackend, explainVerbose } from "../support/db.js";
import { dropDatabase, scratchDatabase } from "../support/scratch-database.js";

/**
 * Everything of the extension that a user could tell apart: members, columns (NOT NULL too), options,
 * grants, bodies (with their SET search_path), partition keys, indexes, and the tables pg_dump dumps the
 * rows of (pg_extension_config_dump).
 */
const DESCRIBE = `
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS object,
       CASE d.classid
         WHEN 'pg_class'::regclass THEN (
           SELECT concat_ws(' | ', c.relkind, c.relacl::text, c.reloptions::text,
                    (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ||
                                       CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||
                                       coalesce(' ' || a.attacl::text, ''), ', ' ORDER BY a.attnum)
                       FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                    (SELECT array_to_string(ft.ftoptions, ',') FROM pg_foreign_table ft WHERE ft.ftrelid = c.oid),
                    CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END,
                    CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
                    (SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY 1)
                       FROM pg_index i WHERE i.indrelid = c.oid))
             FROM pg_class c WHERE c.oid = d.objid)
         WHEN 'pg_proc'::regclass THEN (
           SELECT concat_ws(' | ', pg_get_functiondef(p.oid), p.proacl::text) FROM pg_proc p WHERE p.oid = d.objid)
         ELSE ''
       END AS definition
  FROM pg_depend d
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
 WHERE e.extname = 'pg_meminfo' AND d.deptype = 'e'
UNION ALL
SELECT 'rows dumped by pg_dump', concat_ws(' | ', e.extconfig::regclass[]::text, e.extcondition::text)
  FROM pg_extension e WHERE e.extname = 'pg_meminfo'
 ORDER BY 1`;

describe("extension versions", () => {
  let fresh: pg.Client;
  let updated: pg.Client;

  beforeAll(async () => {
    fresh = await scratchDatabase("regress_fresh");
    updated = await scratchDatabase("regress_updated");
  });

  afterAll(async () => {
    await fresh.end();
    await updated.end();
    await dropDatabase("regress_fresh");
    await dropDatabase("regress_updated");
  });

  it("installs 1.1 by default, and ALTER EXTENSION UPDATE from 1.0 gives the same objects", async () => {
    await fresh.query("CREATE EXTENSION pg_meminfo");
    await updated.query("CREATE EXTENSION pg_meminfo VERSION '1.0'");
    const before = (await updated.query(DESCRIBE)).rows;
    await updated.query("ALTER EXTENSION pg_meminfo UPDATE");
    for (const client of [fresh, updated]) {
      const { rows } = await client.query("SELECT extversion FROM pg_extension WHERE extname = 'pg_meminfo'");
      expect(rows[0]?.extversion).toBe("1.1");
    }
    const freshObjects = (await fresh.query(DESCRIBE)).rows;
    expect((await updated.query(DESCRIBE)).rows).toEqual(freshObjects);
    // The update changed something: the comparison is not of two 1.0 installs.
    expect(before).not.toEqual(freshObjects);
    expect(freshObjects.map((r) => r.object)).toContain("function pg_meminfo_postmaster_pid()");
    // The snapshots: a partitioned table whose rows pg_dump dumps, and functions that pin search_path.
    const described = new Map(freshObjects.map((r) => [r.object, r.definition]));
    expect(described.get("table memory_snapshots")).toMatch(/^p \| .*RANGE \(sampled_at\)/);
    expect(described.get("rows dumped by pg_dump")).toBe('{memory_snapshots} | {""}');
    for (const fn of [
      "function memory_context_growth(integer,interval)",
      "function pg_meminfo_snapshot(timestamp with time zone)",
      "function pg_meminfo_drop_snapshots(interval)",
    ]) {
      expect(described.get(fn), fn).toContain("SET search_path TO 'pg_catalog', 'pg_temp'");
      expect(described.get(fn), fn).not.toContain("SECURITY DEFINER");
    }
  });

  it("reads the same rows from tables made by the 1.0 script and the updated ones", async () => {
    const session = await scratchDatabase("regress_old");
    try {
      await session.query("CREATE EXTENSION pg_meminfo VERSION '1.0'");
      const me = await backendPid(session);
      const old = await session.query(
        "SELECT count(*)::int AS n FROM backend_memory_by_kind WHERE pid = pg_backend_pid()",
      );
      expect(old.rows[0]?.n).toBeGreaterThan(3);
      const view = await session.query(
        "SELECT pid, uss_bytes > 0 AS own FROM backend_memory WHERE pid = $1",
        [me],
      );
      expect(view.rows).toEqual([{ pid: me, own: true }]);
    } finally {
      await session.end();
      await dropDatabase("regress_old");
    }
  });
});

describe("backend_memory", () => {
  let client: pg.Client;
  let idle: pg.Client;
  let idlePid: number;

  beforeAll(async () => {
    ({ client, idle, idlePid } = await clientAndIdleBackend());
  });

  afterAll(async () => {
    await client.end();
    await idle.end();
  });

  it("reads one source, once per process, and sends WHERE pid to the sidecar", async () => {
    const plan = (await explainVerbose(client, `SELECT * FROM backend_memory WHERE pid = ${idlePid}`)).join(
      "\n",
    );
    const requests = plan.match(/Sidecar Request: \S+/g) ?? [];
    expect(requests).toEqual(["Sidecar Request: /v1/by_kind"]);
    expect(plan).toMatch(new RegExp(`Sidecar Pid Filter: \\(pid = ${idlePid}\\)`));
    const { rows } = await client.query("SELECT pid, backend_type FROM backend_memory WHERE pid = $1", [
      idlePid,
    ]);
    expect(rows).toEqual([{ pid: idlePid, backend_type: "client backend" }]);
  });

  it("gives the figures of smap_summary for the same process, within what moved between the reads", async () => {
    const { rows } = await client.query(
      `SELECT m.rss_bytes, m.pss_bytes, m.anon_bytes, m.swap_bytes,
              s.rss * 1024 AS rss, s.pss * 1024 AS pss, s.anonymous * 1024 AS anon, s.swap * 1024 AS swap
         FROM backend_memory m JOIN smap_summary s USING (pid) WHERE pid = $1`,
      [idlePid],
    );
    const [row] = rows;
    expect(row).toBeDefined();
    // An idle backend: a few kB move at most; Pss is rounded per mapping in smaps, once in the rollup.
    const close = (a: string, b: string) => Math.abs(Number(a) - Number(b)) <= 512 * 1024;
    expect(close(row.rss_bytes, row.rss), JSON.stringify(row)).toBe(true);
    expect(close(row.pss_bytes, row.pss), JSON.stringify(row)).toBe(true);
    expect(close(row.anon_bytes, row.anon), JSON.stringify(row)).toBe(true);
    expect(row.swap_bytes).toBe(row.swap);
  });
});
