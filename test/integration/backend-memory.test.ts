import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SidecarProcess } from "../../harness/sidecar-process.js";
import { ThrowawayCluster } from "../../harness/throwaway-cluster.js";
import { backendPid, connect } from "../support/db.js";

/** Opens a session on the cluster under test, with an application_name. */
type Connect = (applicationName: string) => Promise<pg.Client>;

type Totals = { rss: number; pss: number; private: number; uss: number; mappings: number };

const TABLE = "backend_memory_scan";

async function one<T>(client: pg.Client, text: string, params: unknown[] = []): Promise<T> {
  const result = await client.query(text, params);
  const row = result.rows[0];
  if (row === undefined) throw new Error(`no row from: ${text}`);
  return row as T;
}

/** backend_memory of one process, numbers as numbers. */
async function memoryOf(observer: pg.Client, pid: number) {
  const row = await one<Record<string, string | null>>(
    observer,
    "SELECT uss_bytes, rss_bytes, pss_bytes, shared_buffers_bytes FROM backend_memory WHERE pid = $1",
    [pid],
  );
  return {
    uss: Number(row.uss_bytes),
    rss: Number(row.rss_bytes),
    pss: Number(row.pss_bytes),
    sharedBuffers: Number(row.shared_buffers_bytes),
  };
}

/** backend_memory_by_kind of one process, per kind. */
async function kindsOf(observer: pg.Client, pid: number): Promise<Record<string, Totals>> {
  const result = await observer.query<Record<string, string>>(
    "SELECT kind, rss_bytes, pss_bytes, private_bytes, uss_bytes, mappings FROM backend_memory_by_kind WHERE pid = $1",
    [pid],
  );
  return Object.fromEntries(
    result.rows.map((r) => [
      r.kind,
      {
        rss: Number(r.rss_bytes),
        pss: Number(r.pss_bytes),
        private: Number(r.private_bytes),
        uss: Number(r.uss_bytes),
        mappings: Number(r.mappings),
      },
    ]),
  );
}

function kindTotal(kinds: Record<string, Totals>, names: string[], total: keyof Totals): number {
  return names.reduce((acc, name) => acc + (kinds[name]?.[total] ?? 0), 0);
}

/** The tests, for a cluster with the given shared_memory_type. */
function memoryScenarios(sharedMemoryType: string, connectTo: () => Connect) {
  let observer: pg.Client;
  const sessions: pg.Client[] = [];

  async function session(name: string): Promise<pg.Client> {
    const client = await connectTo()(name);
    sessions.push(client);
    return client;
  }

  beforeAll(async () => {
    observer = await session("backend-memory-observer");
    // Scanned through an index, so it is read into shared_buffers rather than through the small ring
    // buffer a sequential scan of a table larger than a quarter of shared_buffers uses.
    await observer.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await observer.query(
      `CREATE TABLE ${TABLE} AS SELECT g AS id, repeat(md5(g::text), 4) AS payload FROM generate_series(1, 400000) g`,
    );
    await observer.query(`CREATE INDEX ON ${TABLE} (id)`);
    await observer.query(`VACUUM ANALYZE ${TABLE}`);
  });

  afterAll(async () => {
    await observer?.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => undefined);
    for (const client of sessions) await client.end().catch(() => undefined);
  });

  it("runs with the expected shared_memory_type and without huge pages in use", async () => {
    const row = await one<{ type: string; huge: string }>(
      observer,
      "SELECT current_setting('shared_memory_type') AS type, current_setting('huge_pages') AS huge",
    );
    expect(row.type).toBe(sharedMemoryType);
    expect(row.huge).not.toBe("on");
  });

  it("finds the main shared memory segment in every process, sized as shared_memory_size", async () => {
    // Mappings of the main segment as the kernel names them: /dev/zero (deleted) for mmap, plus the
    // small SysV interlock segment; /SYSV<key> (deleted) for sysv.
    const segment =
      sharedMemoryType === "sysv"
        ? "sys_path LIKE '/SYSV%'"
        : "((sys_path = '/dev/zero (deleted)' AND permissions LIKE '___s') OR sys_path LIKE '/SYSV%')";
    const rows = await observer.query<{ pid: number; segment: string; largest: string; classified: string }>(
      `SELECT m.pid, m.segment, m.largest, k.mappings AS classified
         FROM (SELECT pid, count(*) FILTER (WHERE ${segment}) AS segment,
                      max(mem_size) FILTER (WHERE ${segment}) AS largest
                 FROM get_all_smaps GROUP BY pid) m
         JOIN backend_memory_by_kind k ON k.pid = m.pid AND k.kind = 'shared_buffers'`,
    );
    expect(rows.rows.length).toBeGreaterThan(3);
    const size = await one<{ bytes: string }>(
      observer,
      "SELECT shared_memory_size_bytes AS bytes FROM cluster_memory",
    );
    for (const row of rows.rows) {
      expect(Number(row.classified), `shared_buffers mappings of ${row.pid}`).toBe(Number(row.segment));
      // shared_memory_size is the segment's size rounded up to a megabyte
      const bytes = Number(row.largest) * 1024;
      expect(Number(size.bytes) - bytes, `segment of ${row.pid}: ${bytes} bytes`).toBeGreaterThanOrEqual(0);
      expect(Number(size.bytes) - bytes).toBeLessThan(1024 * 1024);
    }
  });

  it("sums the kinds of an idle backend to the totals of its mappings, USS by its definition", async () => {
    const idle = await session("backend-memory-idle");
    const pid = await backendPid(idle);
    const query = `SELECT sum(rss_bytes) AS rss, sum(pss_bytes) AS pss, sum(private_bytes) AS private,
                          sum(uss_bytes) AS uss, sum(mappings) AS mappings
                     FROM backend_memory_by_kind WHERE pid = $1`;
    // The same figures computed in SQL from get_all_smaps: USS counts private mappings only, all
    // their private pages for anonymous memory, the copy-on-write pages for files.
    const mappingsQuery = `
      SELECT sum(rss + shared_huge_tlb + private_huge_tlb) * 1024 AS rss, sum(pss) * 1024 AS pss,
             sum(private_clean + private_dirty + private_huge_tlb) * 1024 AS private,
             sum(CASE WHEN permissions NOT LIKE '___p' THEN 0
                      WHEN sys_path IS NULL OR sys_path ~ '^\\[(heap|stack|anon)'
                        THEN private_clean + private_dirty + private_huge_tlb
                      WHEN sys_path LIKE '[%' THEN 0
                      ELSE private_dirty END) * 1024 AS uss,
             count(*) AS mappings
        FROM get_all_smaps WHERE pid = $1`;
    const toNumbers = (row: Record<string, string>) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
    for (let i = 0; i < 3; i++) await observer.query(query, [pid]);
    const attempts: string[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      const before = toNumbers(await one(observer, query, [pid]));
      const mappings = toNumbers(await one(observer, mappingsQuery, [pid]));
      const after = toNumbers(await one(observer, query, [pid]));
      attempts.push(`${JSON.stringify(before)} ${JSON.stringify(mappings)} ${JSON.stringify(after)}`);
      if (JSON.stringify(before) !== JSON.stringify(after)) continue;
      expect(after, attempts.join("\n")).toEqual(mappings);
      expect(after.uss).toBeGreaterThan(0);
      expect(after.uss).toBeLessThan(after.rss ?? 0);
      return;
    }
    throw new Error(`the idle backend's memory never held still:\n${attempts.join("\n")}`);
  });

  it("shows a big sort held in a transaction in uss_bytes, as heap or anonymous memory", async () => {
    const sort = await session("backend-memory-sort");
    const pid = await backendPid(sort);
    const query = "SELECT g, md5(g::text) AS h FROM generate_series(1, 1000000) g ORDER BY h";
    await sort.query("SET work_mem = '1GB'");
    await observer.query("SET work_mem = '1GB'");
    const plan = await observer.query<{ "QUERY PLAN": string }>(`EXPLAIN (ANALYZE, TIMING OFF) ${query}`);
    await observer.query("RESET work_mem");
    const method = plan.rows.map((r) => r["QUERY PLAN"]).find((line) => line.includes("Sort Method"));
    const sortKb = Number(/Memory: (\d+)kB/.exec(method ?? "")?.[1]);
    expect(sortKb, `${method}`).toBeGreaterThan(0);
    const sortBytes = sortKb * 1024;

    const before = await memoryOf(observer, pid);
    const kindsBefore = await kindsOf(observer, pid);
    await sort.query("BEGIN");
    await sort.query(`DECLARE big_sort CURSOR FOR ${query}`);
    await sort.query("FETCH 1 FROM big_sort");
    const during = await memoryOf(observer, pid);
    const kindsDuring = await kindsOf(observer, pid);
    const top = await one<{ top_pid: number; top_uss_bytes: string; total_pss_bytes: string }>(
      observer,
      "SELECT top_pid, top_uss_bytes, total_pss_bytes FROM cluster_memory",
    );
    await sort.query("COMMIT");

    const grown = (kinds: Record<string, Totals>) => kindTotal(kinds, ["heap", "anonymous"], "uss");
    const detail = JSON.stringify({ sortBytes, before, during, kindsBefore, kindsDuring });
    expect(during.uss - before.uss, detail).toBeGreaterThanOrEqual(sortBytes * 0.9);
    expect(grown(kindsDuring) - grown(kindsBefore), detail).toBeGreaterThanOrEqual(sortBytes * 0.9);
    // Its own memory is not shared_buffers.
    expect(during.sharedBuffers - before.sharedBuffers, detail).toBeLessThan(sortBytes * 0.1);
    expect(top.top_pid, JSON.stringify(top)).toBe(pid);
    expect(Number(top.top_uss_bytes)).toBeGreaterThanOrEqual(during.uss * 0.9);
    expect(Number(top.total_pss_bytes)).toBeGreaterThanOrEqual(sortBytes);
  });

  it("shows a table scan in shared_buffers_bytes, not in uss_bytes", async () => {
    const scan = await session("backend-memory-scan");
    const pid = await backendPid(scan);
    const tableBytes = Number(
      (await one<{ bytes: string }>(observer, `SELECT pg_relation_size('${TABLE}') AS bytes`)).bytes,
    );
    await scan.query("SET enable_seqscan = off");
    await scan.query("SET enable_bitmapscan = off");
    await scan.query("SET max_parallel_workers_per_gather = 0"); // every page read by this backend
    await scan.query("SELECT 1"); // catalog caches, so what follows is the scan alone

    const before = await memoryOf(observer, pid);
    const kindsBefore = await kindsOf(observer, pid);
    const result = await scan.query<{ n: string }>(
      `SELECT count(*) AS n, sum(length(payload)) FROM ${TABLE} WHERE id > 0`,
    );
    expect(Number(result.rows[0]?.n)).toBe(400000);
    const after = await memoryOf(observer, pid);
    const kindsAfter = await kindsOf(observer, pid);

    const detail = JSON.stringify({ tableBytes, before, after, kindsBefore, kindsAfter });
    expect(after.sharedBuffers - before.sharedBuffers, detail).toBeGreaterThanOrEqual(tableBytes * 0.8);
    expect(after.uss - before.uss, detail).toBeLessThan(tableBytes * 0.1);
    // The trap USS tools fall in: pages only this backend touched are Private_* to the kernel.
    const privateShared = (kinds: Record<string, Totals>) => kindTotal(kinds, ["shared_buffers"], "private");
    expect(privateShared(kindsAfter) - privateShared(kindsBefore), detail).toBeGreaterThan(0);
    expect(kindsAfter.shared_buffers?.uss, detail).toBe(0);
  });

  it("lists exactly the processes both sources have, the postmaster as postmaster", async () => {
    const attempts: string[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      const row = await one<{ view: number[]; summary: number[]; kinds: number[]; postmaster: number[] }>(
        observer,
        `SELECT (SELECT array_agg(pid ORDER BY pid) FROM backend_memory) AS view,
                (SELECT array_agg(pid ORDER BY pid) FROM smap_summary) AS summary,
                (SELECT array_agg(DISTINCT pid ORDER BY pid) FROM backend_memory_by_kind) AS kinds,
                (SELECT array_agg(pid) FROM backend_memory WHERE backend_type = 'postmaster') AS postmaster`,
      );
      attempts.push(JSON.stringify(row));
      // A process that started or exited between the reads is in one source only: read again.
      if (JSON.stringify(row.summary) !== JSON.stringify(row.kinds)) continue;
      expect(row.view, attempts.join("\n")).toEqual(row.summary);
      expect(row.postmaster).toHaveLength(1);
      const untyped = await observer.query(
        "SELECT pid FROM backend_memory WHERE backend_type IS NULL OR uss_bytes IS NULL OR shared_buffers_bytes IS NULL",
      );
      expect(untyped.rows).toEqual([]);
      return;
    }
    throw new Error(`the processes of the cluster never held still:\n${attempts.join("\n")}`);
  });
}

describe("backend_memory, shared_memory_type = mmap (the test cluster)", () => {
  memoryScenarios("mmap", () => (name) => connect(undefined, name));
});

describe("backend_memory, shared_memory_type = sysv", () => {
  let cluster: ThrowawayCluster | undefined;
  let sidecar: SidecarProcess | undefined;

  beforeAll(async () => {
    cluster = await ThrowawayCluster.create({
      prefix: "pg-meminfo-sysv-",
      settings: { shared_memory_type: "sysv", huge_pages: "off" },
    });
    await cluster.start();
    await cluster.sql("CREATE EXTENSION pg_meminfo");
    sidecar = await SidecarProcess.start(cluster);
  });

  afterAll(async () => {
    await sidecar?.stop();
    await cluster?.destroy();
  });

  memoryScenarios("sysv", () => {
    const target = cluster;
    if (target === undefined) throw new Error("the sysv cluster did not start");
    return (name) => target.connect("postgres", target.user, name);
  });
});
